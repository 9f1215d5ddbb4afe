// MSI-X as eventfds: SET_IRQS contents, bus mastering first, waits that report and drain, the
// disable on destruction before the eventfds close, and the device's whole release order.
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

#include "pbx/vfio/device.h"
#include "pbx/vfio/pci.h"
#include "support/vfio/mock_sys_api.h"

namespace pbx::vfio {
namespace {

using test::FakeVfio;
using test::kContainerFd;
using test::kDeviceFd;
using test::kFakeFdBase;
using test::kGroupFd;
using test::MockSysApi;
using ::testing::_;
using ::testing::AllOf;
using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::InSequence;
using ::testing::Lt;
using ::testing::NiceMock;

const Bdf kBdf = *Bdf::parse("0000:00:04.0");

MATCHER_P(IrqSetDisables, index, "a SET_IRQS that disables index " + std::to_string(index)) {
  vfio_irq_set s;
  std::memcpy(&s, arg, sizeof s);
  return s.argsz == sizeof s && s.flags == (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER) &&
         s.index == static_cast<uint32_t>(index) && s.start == 0 && s.count == 0;
}

// The enabled vectors; a test that finds none fails (gtest reports the exception).
MsixVectors& vectors(VfioDevice& dev) {
  MsixVectors* v = dev.msix();
  if (v == nullptr) throw std::runtime_error("MSI-X is not enabled");
  return *v;
}

// The kernel's side of an interrupt: it signals the eventfd bound to the vector.
void fire(int efd) {
  const uint64_t one = 1;
  ASSERT_EQ(::write(efd, &one, sizeof one), static_cast<ssize_t>(sizeof one));
}

TEST(Msix, EnableBindsOneEventfdPerVectorAfterSettingBusMaster) {
  FakeVfio fake;
  fake.msix_count = 4;
  NiceMock<MockSysApi> sys(fake);
  auto dev = VfioDevice::open(kBdf, {.sys = &sys});
  ASSERT_TRUE(dev);
  EXPECT_EQ(*dev->msix_capacity(), 4u);
  std::vector<unsigned char> seen;
  EXPECT_CALL(sys, eventfd(0u, EFD_NONBLOCK | EFD_CLOEXEC)).Times(2);
  EXPECT_CALL(sys, ioctl(kDeviceFd, VFIO_DEVICE_SET_IRQS, _))
      .WillOnce([&](int fd, unsigned long req, void* arg) {
        EXPECT_EQ(fake.get16(pci::kCommand), 0x107) << "bus master is on before MSI-X is enabled";
        vfio_irq_set s;
        std::memcpy(&s, arg, sizeof s);
        seen.assign(static_cast<unsigned char*>(arg), static_cast<unsigned char*>(arg) + s.argsz);
        return fake.ioctl(fd, req, arg);
      })
      .WillRepeatedly([&](int fd, unsigned long req, void* arg) { return fake.ioctl(fd, req, arg); });
  ASSERT_TRUE(dev->enable_msix(2));
  ASSERT_EQ(vectors(*dev).count(), 2u);

  vfio_irq_set s;
  ASSERT_EQ(seen.size(), sizeof s + 2 * sizeof(int32_t));
  std::memcpy(&s, seen.data(), sizeof s);
  EXPECT_EQ(s.argsz, sizeof s + 8);
  EXPECT_EQ(s.flags, static_cast<uint32_t>(VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER));
  EXPECT_EQ(s.index, static_cast<uint32_t>(VFIO_PCI_MSIX_IRQ_INDEX));
  EXPECT_EQ(s.start, 0u);
  EXPECT_EQ(s.count, 2u);
  int32_t fds[2];
  std::memcpy(fds, seen.data() + sizeof s, sizeof fds);
  EXPECT_EQ(fds[0], vectors(*dev).fd(0));
  EXPECT_EQ(fds[1], vectors(*dev).fd(1));
  EXPECT_NE(fds[0], fds[1]);
}

TEST(Msix, WaitReportsAFiredVectorOnceAndDrainsIt) {
  FakeVfio fake;
  auto dev = VfioDevice::open(kBdf, {.sys = &fake});
  ASSERT_TRUE(dev);
  ASSERT_TRUE(dev->enable_msix(2));
  MsixVectors& v = vectors(*dev);
  fire(v.fd(1));
  fire(v.fd(1));  // two interrupts before the wait: one wake-up consumes both
  EXPECT_EQ(*v.wait(0, 0), false) << "vector 0 did not fire";
  EXPECT_EQ(*v.wait(1, 0), true);
  EXPECT_EQ(*v.wait(1, 0), false) << "the counter was drained";
  EXPECT_EQ(*v.wait(1, 1'000'000), false) << "times out when nothing fires";
}

TEST(Msix, WaitBlocksUntilTheVectorFires) {
  FakeVfio fake;
  auto dev = VfioDevice::open(kBdf, {.sys = &fake});
  ASSERT_TRUE(dev);
  ASSERT_TRUE(dev->enable_msix(1));
  const int efd = vectors(*dev).fd(0);
  std::thread kernel([efd] { fire(efd); });
  auto fired = vectors(*dev).wait(0, -1);  // no timeout: returns only because the vector fired
  kernel.join();
  ASSERT_TRUE(fired) << fired.error().message();
  EXPECT_TRUE(*fired);
}

TEST(Msix, BadRequestsAreRefused) {
  FakeVfio fake;
  fake.msix_count = 2;
  auto dev = VfioDevice::open(kBdf, {.sys = &fake});
  ASSERT_TRUE(dev);
  auto too_many = dev->enable_msix(3);
  ASSERT_FALSE(too_many);
  EXPECT_THAT(too_many.error().message(), HasSubstr("3 vectors asked for; the device has 2"));
  ASSERT_TRUE(dev->enable_msix(1));
  auto bad_vector = vectors(*dev).wait(1, 0);
  ASSERT_FALSE(bad_vector);
  EXPECT_THAT(bad_vector.error().message(), HasSubstr("vector 1 does not exist (1 enabled)"));

  FakeVfio plain;
  plain.msix_count = 0;
  auto dev2 = VfioDevice::open(kBdf, {.sys = &plain});
  ASSERT_TRUE(dev2);
  EXPECT_EQ(*dev2->msix_capacity(), 0u);
  auto none = dev2->enable_msix(1);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), Errc::kNotSupported);
  EXPECT_THAT(none.error().message(), HasSubstr("0000:00:04.0: enable MSI-X: the device has no MSI-X"));
}

TEST(Msix, DisableOnDestructionComesBeforeTheEventfdsClose) {
  FakeVfio fake;
  NiceMock<MockSysApi> sys(fake);
  auto dev = VfioDevice::open(kBdf, {.sys = &sys});
  ASSERT_TRUE(dev);
  ASSERT_TRUE(dev->enable_msix(2));
  {
    InSequence seq;
    EXPECT_CALL(sys, ioctl(kDeviceFd, VFIO_DEVICE_SET_IRQS, IrqSetDisables(VFIO_PCI_MSIX_IRQ_INDEX)));
    EXPECT_CALL(sys, close(AllOf(Ge(0), Lt(kFakeFdBase)))).Times(2);
  }
  dev->disable_msix();
  EXPECT_EQ(dev->msix(), nullptr);
  ASSERT_EQ(fake.irq_sets.size(), 2u);
  EXPECT_TRUE(fake.irq_sets[1].empty());
}

TEST(VfioDeviceRelease, ReleasesEverythingInReverseAcquisitionOrder) {
  FakeVfio fake;
  fake.add_bar(2, 1u << 16, false);
  NiceMock<MockSysApi> sys(fake);
  void* buf = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  {
    auto dev = VfioDevice::open(kBdf, {.sys = &sys});
    ASSERT_TRUE(dev);
    ASSERT_TRUE(dev->map_bar(2));
    ASSERT_TRUE(dev->map_dma({static_cast<std::byte*>(buf), 4096}, 0x1000));
    ASSERT_TRUE(dev->enable_msix(1));
    InSequence seq;
    EXPECT_CALL(sys, ioctl(kDeviceFd, VFIO_DEVICE_SET_IRQS, IrqSetDisables(VFIO_PCI_MSIX_IRQ_INDEX)));
    EXPECT_CALL(sys, close(AllOf(Ge(0), Lt(kFakeFdBase))));  // the eventfd
    EXPECT_CALL(sys, ioctl(kContainerFd, VFIO_IOMMU_UNMAP_DMA, _));
    EXPECT_CALL(sys, munmap(fake.bar_memory(2), 1u << 16));
    EXPECT_CALL(sys, close(kDeviceFd));
    EXPECT_CALL(sys, close(kGroupFd));
    EXPECT_CALL(sys, close(kContainerFd));
  }
  ::munmap(buf, 4096);
}

}  // namespace
}  // namespace pbx::vfio
