// MockSysApi: gmock SysApi whose calls, unless a test expects otherwise, go to a FakeVfio
// (a healthy machine). Tests assert call arguments and script single failures:
//
//   FakeVfio fake;  MockSysApi sys(fake);
//   EXPECT_CALL(sys, open(StrEq("/dev/vfio/7"), _)).WillOnce(SetErrnoAndReturn(EACCES, -1));
//   auto dev = VfioDevice::open(bdf, {.sys = &sys});
//
// By default any other call is allowed (and goes to the fake), so that an expectation on one
// call does not make the others unexpected. Pass strict = true (with StrictMock) to have every
// call expected, as the test of the whole open sequence does.
#pragma once

#include <gmock/gmock.h>

#include "support/vfio/fake_vfio.h"

namespace pbx::vfio::test {

class MockSysApi : public SysApi {
 public:
  explicit MockSysApi(FakeVfio& fake, bool strict = false) {
    using ::testing::_;
    using ::testing::AnyNumber;
    using ::testing::Invoke;
    ON_CALL(*this, open(_, _)).WillByDefault(Invoke(&fake, &FakeVfio::open));
    ON_CALL(*this, close(_)).WillByDefault(Invoke(&fake, &FakeVfio::close));
    ON_CALL(*this, ioctl(_, _, _)).WillByDefault(Invoke(&fake, &FakeVfio::ioctl));
    ON_CALL(*this, ioctl_value(_, _, _)).WillByDefault(Invoke(&fake, &FakeVfio::ioctl_value));
    ON_CALL(*this, mmap(_, _, _, _, _, _)).WillByDefault(Invoke(&fake, &FakeVfio::mmap));
    ON_CALL(*this, munmap(_, _)).WillByDefault(Invoke(&fake, &FakeVfio::munmap));
    ON_CALL(*this, pread(_, _, _, _)).WillByDefault(Invoke(&fake, &FakeVfio::pread));
    ON_CALL(*this, pwrite(_, _, _, _)).WillByDefault(Invoke(&fake, &FakeVfio::pwrite));
    ON_CALL(*this, eventfd(_, _)).WillByDefault(Invoke(&fake, &FakeVfio::eventfd));
    ON_CALL(*this, read(_, _, _)).WillByDefault(Invoke(&fake, &FakeVfio::read));
    ON_CALL(*this, poll(_, _, _)).WillByDefault(Invoke(&fake, &FakeVfio::poll));
    ON_CALL(*this, readlink(_, _, _)).WillByDefault(Invoke(&fake, &FakeVfio::readlink));
    ON_CALL(*this, list_dir(_, _)).WillByDefault(Invoke(&fake, &FakeVfio::list_dir));
    if (strict) return;
    EXPECT_CALL(*this, open(_, _)).Times(AnyNumber());
    EXPECT_CALL(*this, close(_)).Times(AnyNumber());
    EXPECT_CALL(*this, ioctl(_, _, _)).Times(AnyNumber());
    EXPECT_CALL(*this, ioctl_value(_, _, _)).Times(AnyNumber());
    EXPECT_CALL(*this, mmap(_, _, _, _, _, _)).Times(AnyNumber());
    EXPECT_CALL(*this, munmap(_, _)).Times(AnyNumber());
    EXPECT_CALL(*this, pread(_, _, _, _)).Times(AnyNumber());
    EXPECT_CALL(*this, pwrite(_, _, _, _)).Times(AnyNumber());
    EXPECT_CALL(*this, eventfd(_, _)).Times(AnyNumber());
    EXPECT_CALL(*this, read(_, _, _)).Times(AnyNumber());
    EXPECT_CALL(*this, poll(_, _, _)).Times(AnyNumber());
    EXPECT_CALL(*this, readlink(_, _, _)).Times(AnyNumber());
    EXPECT_CALL(*this, list_dir(_, _)).Times(AnyNumber());
  }

  MOCK_METHOD(int, open, (const char* path, int flags), (override));
  MOCK_METHOD(int, close, (int fd), (override));
  MOCK_METHOD(int, ioctl, (int fd, unsigned long request, void* arg), (override));
  MOCK_METHOD(int, ioctl_value, (int fd, unsigned long request, unsigned long value), (override));
  MOCK_METHOD(void*, mmap, (void* addr, size_t len, int prot, int flags, int fd, off_t off), (override));
  MOCK_METHOD(int, munmap, (void* addr, size_t len), (override));
  MOCK_METHOD(ssize_t, pread, (int fd, void* buf, size_t n, off_t off), (override));
  MOCK_METHOD(ssize_t, pwrite, (int fd, const void* buf, size_t n, off_t off), (override));
  MOCK_METHOD(int, eventfd, (unsigned initval, int flags), (override));
  MOCK_METHOD(ssize_t, read, (int fd, void* buf, size_t n), (override));
  MOCK_METHOD(int, poll, (pollfd * fds, nfds_t nfds, int64_t timeout_ns), (override));
  MOCK_METHOD(ssize_t, readlink, (const char* path, char* buf, size_t size), (override));
  MOCK_METHOD(int, list_dir, (const char* path, std::vector<std::string>* names), (override));
};

}  // namespace pbx::vfio::test
