// The ivshmem driver over VFIO: what open() maps and enables, the doorbell register encoding,
// interrupts through the eventfds, and refusing devices that are not ivshmem.
#include "pbx/ivshmem/ivshmem.h"

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/vfio/pci.h"
#include "support/vfio/fake_ivshmem.h"
#include "support/vfio/mock_sys_api.h"

namespace pbx::ivshmem {
namespace {

using vfio::test::doorbell_register;
using vfio::test::FakeVfio;
using vfio::test::make_ivshmem;
using ::testing::HasSubstr;

const vfio::Bdf kBdf = *vfio::Bdf::parse("0000:00:04.0");
constexpr uint64_t kShm = 4u << 20;

Options with(FakeVfio& fake) {
  Options o;
  o.vfio.sys = &fake;
  return o;
}

TEST(Ivshmem, OpenMapsRegistersAndSharedMemoryEnablesBusMasterAndEveryVector) {
  FakeVfio fake;
  make_ivshmem(fake, /*iv_position=*/3, kShm, /*vectors=*/4);
  auto dev = Ivshmem::open(kBdf, with(fake));
  ASSERT_TRUE(dev) << dev.error().message();
  EXPECT_EQ(dev->peer_id(), 3);
  EXPECT_EQ(dev->revision(), 1);
  EXPECT_EQ(dev->shared_memory().data(), fake.bar_memory(2));
  EXPECT_EQ(dev->shared_memory().size(), kShm);
  EXPECT_EQ(dev->vector_count(), 4u);
  EXPECT_EQ(fake.get16(vfio::pci::kCommand) & vfio::pci::kCommandBusMaster, vfio::pci::kCommandBusMaster);
  ASSERT_EQ(fake.irq_sets.size(), 1u);
  EXPECT_EQ(fake.irq_sets[0].size(), 4u);
}

TEST(Ivshmem, SharedMemoryIsWriteCombiningWhereSysfsOffersIt) {
  FakeVfio fake;
  make_ivshmem(fake, 0, kShm);
  fake.wc_file = true;
  auto dev = Ivshmem::open(kBdf, with(fake));
  ASSERT_TRUE(dev) << dev.error().message();
  EXPECT_EQ(dev->shared_memory_data().mem_type, vfio::MemType::kWriteCombining);
  EXPECT_EQ(dev->shared_memory_data().mem.size(), kShm);
  EXPECT_EQ(dev->shared_memory().size(), kShm);  // the uncached view stays, for atomics

  FakeVfio no_wc;
  make_ivshmem(no_wc, 0, kShm);
  auto dev2 = Ivshmem::open(kBdf, with(no_wc));
  ASSERT_TRUE(dev2);
  EXPECT_EQ(dev2->shared_memory_data().mem_type, vfio::MemType::kUncached);
  EXPECT_EQ(dev2->shared_memory_data().mem.data(), dev2->shared_memory().data());
  EXPECT_THAT(dev2->shared_memory_data().note, HasSubstr("resource2_wc does not exist"));
}

TEST(Ivshmem, RingWritesPeerIdAndVectorToTheDoorbellRegister) {
  FakeVfio fake;
  make_ivshmem(fake, 0, kShm);
  auto dev = Ivshmem::open(kBdf, with(fake));
  ASSERT_TRUE(dev);
  dev->ring(5, 1);
  EXPECT_EQ(doorbell_register(fake), 0x0005'0001u);
  dev->ring(0xffff, 0);
  EXPECT_EQ(doorbell_register(fake), 0xffff'0000u);
  static_assert(doorbell_value(2, 3) == 0x0002'0003u);
}

TEST(Ivshmem, WaitReturnsWhenOurVectorFires) {
  FakeVfio fake;
  make_ivshmem(fake, 1, kShm, 2);
  auto dev = Ivshmem::open(kBdf, with(fake));
  ASSERT_TRUE(dev);
  const uint64_t one = 1;
  ASSERT_EQ(::write(dev->vector_fd(1), &one, sizeof one), 8);  // the kernel signalling vector 1
  EXPECT_EQ(*dev->wait(0, 0), false);
  EXPECT_EQ(*dev->wait(1, 0), true);
  EXPECT_EQ(*dev->wait(1, 0), false);
}

TEST(Ivshmem, PlainDeviceHasNoVectorsAndSaysSoWhenAskedToWait) {
  FakeVfio fake;
  make_ivshmem(fake, 0, kShm, /*vectors=*/0);
  auto dev = Ivshmem::open(kBdf, with(fake));
  ASSERT_TRUE(dev) << dev.error().message();
  EXPECT_EQ(dev->vector_count(), 0u);
  EXPECT_EQ(dev->vector_fd(0), -1);
  auto w = dev->wait(0, 0);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), Errc::kNotSupported);
  EXPECT_THAT(w.error().message(), HasSubstr("ivshmem-plain"));
}

TEST(Ivshmem, OtherDevicesAreRefusedWithTheirIds) {
  FakeVfio fake;
  make_ivshmem(fake, 0, kShm);
  fake.set16(0x00, 0x8086);
  fake.set16(0x02, 0x201c);
  auto dev = Ivshmem::open(kBdf, with(fake));
  ASSERT_FALSE(dev);
  EXPECT_EQ(dev.error().code(), Errc::kNoDevice);
  EXPECT_THAT(dev.error().message(), HasSubstr("0000:00:04.0: open ivshmem: not an ivshmem device (vendor:device "
                                               "8086:201c, expected 1af4:1110)"));
  EXPECT_THAT(dev.error().message(), HasSubstr("lspci -D -d 1af4:1110"));
}

TEST(Ivshmem, MoreVectorsThanTheDeviceHasIsAnError) {
  FakeVfio fake;
  make_ivshmem(fake, 0, kShm, 2);
  Options o = with(fake);
  o.vectors = 3;
  auto dev = Ivshmem::open(kBdf, o);
  ASSERT_FALSE(dev);
  EXPECT_EQ(dev.error().code(), Errc::kInvalidArgument);
  EXPECT_THAT(dev.error().message(), HasSubstr("vectors=N"));
}

TEST(Ivshmem, MissingSharedMemoryBarIsAnError) {
  FakeVfio fake;
  make_ivshmem(fake, 0, kShm);
  fake.regions[2] = {};
  auto dev = Ivshmem::open(kBdf, with(fake));
  ASSERT_FALSE(dev);
  EXPECT_THAT(dev.error().message(), HasSubstr("ivshmem shared memory (BAR2): 0000:00:04.0: map BAR2"));
}

}  // namespace
}  // namespace pbx::ivshmem
