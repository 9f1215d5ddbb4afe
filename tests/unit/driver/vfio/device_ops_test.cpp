// VfioDevice after open: region info, BAR mapping (uncached, and write-combining through sysfs
// where possible), config space, bus mastering, reset.
#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/mman.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/vfio/device.h"
#include "pbx/vfio/pci.h"
#include "support/vfio/mock_sys_api.h"

namespace pbx::vfio {
namespace {

using test::FakeVfio;
using test::kDeviceFd;
using test::kResourceWcFd;
using test::MockSysApi;
using test::region_offset;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::NiceMock;
using ::testing::SetErrnoAndReturn;
using ::testing::StrEq;

const Bdf kBdf = *Bdf::parse("0000:00:04.0");
constexpr uint64_t kBar2Size = 1u << 20;

VfioDevice open_dev(SysApi& sys) {
  auto dev = VfioDevice::open(kBdf, {.sys = &sys});
  EXPECT_TRUE(dev) << dev.error().message();
  return std::move(*dev);
}

TEST(VfioDeviceBar, MapsABarUncachedOnceAndUnmapsItOnClose) {
  FakeVfio fake;
  fake.add_bar(2, kBar2Size, /*prefetchable=*/true);
  NiceMock<MockSysApi> sys(fake);
  EXPECT_CALL(sys, mmap(nullptr, kBar2Size, PROT_READ | PROT_WRITE, MAP_SHARED, kDeviceFd,
                        static_cast<off_t>(region_offset(2))))
      .Times(1);
  {
    VfioDevice dev = open_dev(sys);
    auto bar = dev.map_bar(2);
    ASSERT_TRUE(bar) << bar.error().message();
    EXPECT_EQ(bar->mem.data(), fake.bar_memory(2));
    EXPECT_EQ(bar->mem.size(), kBar2Size);
    EXPECT_EQ(bar->mem_type, MemType::kUncached);
    EXPECT_TRUE(bar->note.empty());
    auto again = dev.map_bar(2);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->mem.data(), bar->mem.data());
    EXPECT_EQ(fake.unmapped, 0);
  }
  EXPECT_EQ(fake.unmapped, 1);
}

TEST(VfioDeviceBar, PrefetchableBarWithResourceWcFileIsMappedWriteCombining) {
  FakeVfio fake;
  fake.add_bar(2, kBar2Size, /*prefetchable=*/true);
  fake.wc_file = true;
  NiceMock<MockSysApi> sys(fake);
  VfioDevice dev = open_dev(sys);
  {
    ::testing::InSequence seq;
    EXPECT_CALL(sys, open(StrEq("/sys/bus/pci/devices/0000:00:04.0/resource2_wc"), O_RDWR));
    EXPECT_CALL(sys, mmap(nullptr, kBar2Size, PROT_READ | PROT_WRITE, MAP_SHARED, kResourceWcFd, 0));
  }
  auto bar = dev.map_bar(2, {.write_combining = true});
  ASSERT_TRUE(bar) << bar.error().message();
  EXPECT_EQ(bar->mem_type, MemType::kWriteCombining);
  EXPECT_EQ(bar->mem.size(), kBar2Size);
}

TEST(VfioDeviceBar, EachMappingNamesTheFileAnotherProcessMapsItFrom) {
  FakeVfio fake;
  fake.add_bar(2, kBar2Size, /*prefetchable=*/true);
  fake.add_bar(4, kBar2Size, /*prefetchable=*/true);
  fake.wc_file = true;
  {
    VfioDevice dev = open_dev(fake);
    auto wc = dev.map_bar(2, {.write_combining = true});
    auto uc = dev.map_bar(4);
    ASSERT_TRUE(wc && uc);
    EXPECT_EQ(wc->fd, kResourceWcFd) << "resource2_wc, kept open";
    EXPECT_EQ(wc->fd_offset, 0u);
    EXPECT_EQ(uc->fd, kDeviceFd);
    EXPECT_EQ(uc->fd_offset, test::region_offset(4)) << "BAR4's region in the VFIO device fd";
    auto again = dev.map_bar(2, {.write_combining = true});
    EXPECT_EQ(again->fd, kResourceWcFd);
    EXPECT_EQ(dev.map_bar(4)->fd_offset, test::region_offset(4));
    EXPECT_THAT(fake.closed, ::testing::Not(::testing::Contains(kResourceWcFd))) << "open while the device lives";
  }
  EXPECT_THAT(fake.closed, ::testing::Contains(kResourceWcFd)) << "closed with the device";
}

TEST(VfioDeviceBar, UncachedAndWriteCombiningMappingsOfOneBarCoexist) {
  FakeVfio fake;
  fake.add_bar(2, kBar2Size, /*prefetchable=*/true);
  fake.wc_file = true;
  NiceMock<MockSysApi> sys(fake);
  EXPECT_CALL(sys, mmap(_, _, _, _, kDeviceFd, _)).Times(1);
  EXPECT_CALL(sys, mmap(_, _, _, _, kResourceWcFd, _)).Times(1);
  {
    VfioDevice dev = open_dev(sys);
    auto wc = dev.map_bar(2, {.write_combining = true});
    auto uc = dev.map_bar(2);
    ASSERT_TRUE(wc && uc);
    EXPECT_EQ(wc->mem_type, MemType::kWriteCombining);
    EXPECT_EQ(uc->mem_type, MemType::kUncached);
    EXPECT_EQ(dev.map_bar(2, {.write_combining = true})->mem_type, MemType::kWriteCombining);
    EXPECT_EQ(dev.map_bar(2)->mem_type, MemType::kUncached);
  }
  EXPECT_EQ(fake.unmapped, 2);
}

TEST(VfioDeviceBar, WriteCombiningFallsBackToUncachedAndSaysWhy) {
  struct Case {
    bool prefetchable;
    bool wc_file;
    int open_errno;
    const char* note;
  };
  for (const Case& c : {Case{false, true, 0, "BAR2 is not prefetchable"},
                        Case{true, false, 0, "resource2_wc does not exist"},
                        Case{true, true, EACCES, "permission denied (root only)"}}) {
    FakeVfio fake;
    fake.add_bar(2, kBar2Size, c.prefetchable);
    fake.wc_file = c.wc_file;
    NiceMock<MockSysApi> sys(fake);
    if (c.open_errno != 0)
      EXPECT_CALL(sys, open(StrEq("/sys/bus/pci/devices/0000:00:04.0/resource2_wc"), _))
          .WillOnce(SetErrnoAndReturn(c.open_errno, -1));
    VfioDevice dev = open_dev(sys);
    auto bar = dev.map_bar(2, {.write_combining = true});
    ASSERT_TRUE(bar) << bar.error().message();
    EXPECT_EQ(bar->mem_type, MemType::kUncached) << c.note;
    EXPECT_THAT(bar->note, HasSubstr(c.note));
    EXPECT_EQ(bar->mem.data(), fake.bar_memory(2));
  }
}

TEST(VfioDeviceBar, StrictIomemRefusalOfTheWcMappingSaysIomemRelaxed) {
  FakeVfio fake;
  fake.add_bar(2, kBar2Size, /*prefetchable=*/true);
  fake.wc_file = true;
  NiceMock<MockSysApi> sys(fake);
  EXPECT_CALL(sys, mmap(_, _, _, _, kResourceWcFd, _)).WillOnce(SetErrnoAndReturn(EINVAL, MAP_FAILED));
  VfioDevice dev = open_dev(sys);
  auto bar = dev.map_bar(2, {.write_combining = true});
  ASSERT_TRUE(bar) << bar.error().message();
  EXPECT_EQ(bar->mem_type, MemType::kUncached);
  EXPECT_THAT(bar->note, HasSubstr("mmap /sys/bus/pci/devices/0000:00:04.0/resource2_wc: Invalid argument"));
  EXPECT_THAT(bar->note, HasSubstr("iomem=relaxed"));
  EXPECT_EQ(fake.closed, std::vector<int>{kResourceWcFd});
}

TEST(VfioDeviceBar, BadBarsAreErrorsNamingTheBar) {
  FakeVfio fake;
  fake.add_bar(0, 0x100, false);
  fake.regions[0].flags &= ~static_cast<uint32_t>(VFIO_REGION_INFO_FLAG_MMAP);
  VfioDevice dev = open_dev(fake);
  auto r6 = dev.map_bar(6);
  ASSERT_FALSE(r6);
  EXPECT_EQ(r6.error().code(), Errc::kInvalidArgument);
  EXPECT_THAT(r6.error().message(), HasSubstr("BAR6 does not exist"));
  auto r3 = dev.map_bar(3);
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error().code(), Errc::kNotSupported);
  EXPECT_THAT(r3.error().message(), HasSubstr("0000:00:04.0: map BAR3: the device does not implement this BAR"));
  auto r0 = dev.map_bar(0);
  ASSERT_FALSE(r0);
  EXPECT_THAT(r0.error().message(), HasSubstr("does not allow mmap"));
}

TEST(VfioDeviceBar, MmapFailureNamesTheCall) {
  FakeVfio fake;
  fake.add_bar(2, kBar2Size, false);
  NiceMock<MockSysApi> sys(fake);
  EXPECT_CALL(sys, mmap(_, _, _, _, kDeviceFd, _)).WillOnce(SetErrnoAndReturn(ENOMEM, MAP_FAILED));
  VfioDevice dev = open_dev(sys);
  auto bar = dev.map_bar(2);
  ASSERT_FALSE(bar);
  EXPECT_EQ(bar.error().code(), Errc::kNoMemory);
  EXPECT_THAT(bar.error().message(), HasSubstr("0000:00:04.0: mmap BAR2 (1048576 bytes): Cannot allocate memory"));
}

TEST(VfioDeviceConfig, ReadsAndWrites8_16_32BitsThroughTheConfigRegion) {
  FakeVfio fake;
  NiceMock<MockSysApi> sys(fake);
  VfioDevice dev = open_dev(sys);
  const auto cfg = static_cast<off_t>(region_offset(VFIO_PCI_CONFIG_REGION_INDEX));
  EXPECT_CALL(sys, pread(kDeviceFd, _, 2, cfg + 0x02));
  EXPECT_EQ(*dev.config_read<uint16_t>(pci::kDeviceId), 0x1110);
  EXPECT_CALL(sys, pwrite(kDeviceFd, _, 4, cfg + 0x40));
  ASSERT_TRUE(dev.config_write<uint32_t>(0x40, 0xdeadbeef));
  EXPECT_EQ(*dev.config_read<uint32_t>(0x40), 0xdeadbeefu);
  EXPECT_EQ(*dev.config_read<uint8_t>(0x43), 0xde);
  ASSERT_TRUE(dev.config_write<uint8_t>(0x41, 0x00));
  EXPECT_EQ(*dev.config_read<uint16_t>(0x40), 0x00efu);
}

TEST(VfioDeviceConfig, UnalignedOrOutOfRangeAccessIsRefused) {
  FakeVfio fake;
  VfioDevice dev = open_dev(fake);
  auto unaligned = dev.config_read<uint32_t>(0x42);
  ASSERT_FALSE(unaligned);
  EXPECT_EQ(unaligned.error().code(), Errc::kInvalidArgument);
  EXPECT_THAT(unaligned.error().message(), HasSubstr("4-byte access at 0x42"));
  auto beyond = dev.config_write<uint16_t>(0x100, 1);
  ASSERT_FALSE(beyond);
  EXPECT_THAT(beyond.error().message(), HasSubstr("beyond the 256-byte config space"));
}

TEST(VfioDeviceConfig, FailedPreadNamesTheOffset) {
  FakeVfio fake;
  NiceMock<MockSysApi> sys(fake);
  VfioDevice dev = open_dev(sys);
  EXPECT_CALL(sys, pread(_, _, _, _)).WillOnce(SetErrnoAndReturn(EIO, -1));
  auto v = dev.config_read<uint16_t>(pci::kCommand);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code(), Errc::kIoError);
  EXPECT_THAT(v.error().message(), HasSubstr("0000:00:04.0: pread config space at 0x4 (2 bytes)"));
}

TEST(VfioDeviceConfig, BusMasterEnableSetsBit2OfTheCommandRegister) {
  FakeVfio fake;
  ASSERT_EQ(fake.get16(pci::kCommand), 0x103);
  VfioDevice dev = open_dev(fake);
  ASSERT_TRUE(dev.enable_bus_master());
  EXPECT_EQ(fake.get16(pci::kCommand), 0x107);
  ASSERT_TRUE(dev.enable_bus_master());  // idempotent
  EXPECT_EQ(fake.get16(pci::kCommand), 0x107);
}

TEST(VfioDeviceReset, IssuesVfioDeviceResetOrSaysThereIsNone) {
  FakeVfio fake;
  NiceMock<MockSysApi> sys(fake);
  VfioDevice dev = open_dev(sys);
  EXPECT_CALL(sys, ioctl_value(kDeviceFd, VFIO_DEVICE_RESET, 0)).Times(1);
  EXPECT_TRUE(dev.reset());

  FakeVfio no_reset;
  no_reset.device_flags = VFIO_DEVICE_FLAGS_PCI;
  VfioDevice dev2 = open_dev(no_reset);
  auto r = dev2.reset();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kNotSupported);
  EXPECT_THAT(r.error().message(), HasSubstr("0000:00:04.0: ioctl VFIO_DEVICE_RESET: the device offers no reset"));
}

TEST(VfioDeviceRegion, RegionInfoReportsVfioFields) {
  FakeVfio fake;
  fake.add_bar(2, kBar2Size, false);
  VfioDevice dev = open_dev(fake);
  auto ri = dev.region_info(2);
  ASSERT_TRUE(ri);
  EXPECT_EQ(ri->size, kBar2Size);
  EXPECT_EQ(ri->offset, region_offset(2));
  EXPECT_TRUE(ri->mappable() && ri->readable() && ri->writable());
  auto bad = dev.region_info(99);
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message(), HasSubstr("region 99 does not exist"));
}

}  // namespace
}  // namespace pbx::vfio
