// VfioDevice::open: the whole success sequence with the contents of every ioctl argument, the
// release order, and every failure with a message that names the device, the call and the fix.
#include <fcntl.h>
#include <linux/vfio.h>

#include <filesystem>
#include <functional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/vfio/device.h"
#include "support/vfio/mock_sys_api.h"

namespace pbx::vfio {
namespace {

using test::FakeVfio;
using test::kContainerFd;
using test::kDeviceFd;
using test::kGroupFd;
using test::MockSysApi;
using ::testing::_;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::InSequence;
using ::testing::NiceMock;
using ::testing::Return;
using ::testing::SetErrnoAndReturn;
using ::testing::StrEq;

const Bdf kBdf = *Bdf::parse("0000:00:04.0");

MATCHER(GroupStatusArg, "a vfio_group_status with argsz set") {
  return static_cast<const vfio_group_status*>(arg)->argsz == sizeof(vfio_group_status);
}
MATCHER_P(PointsToInt, v, "points to an int equal to " + std::to_string(v)) {
  return *static_cast<const int*>(arg) == v;
}
MATCHER_P(CString, s, std::string("the string ") + s) { return std::string(static_cast<const char*>(arg)) == s; }
MATCHER(DeviceInfoArg, "a vfio_device_info with argsz set") {
  return static_cast<const vfio_device_info*>(arg)->argsz == sizeof(vfio_device_info);
}
MATCHER_P(RegionInfoArg, index, "a vfio_region_info for region " + std::to_string(index)) {
  const auto* ri = static_cast<const vfio_region_info*>(arg);
  return ri->argsz == sizeof(vfio_region_info) && ri->index == static_cast<uint32_t>(index);
}

std::string dev_path(const char* leaf = nullptr) {
  std::string p = "/sys/bus/pci/devices/0000:00:04.0";
  return leaf ? p + "/" + leaf : p;
}

TEST(VfioDeviceOpen, RunsTheVfioSequenceInOrderWithCheckedArgumentsAndReleasesInReverse) {
  FakeVfio fake;
  ::testing::StrictMock<MockSysApi> sys(fake, /*strict=*/true);
  {
    InSequence seq;
    EXPECT_CALL(sys, readlink(StrEq(dev_path()), _, _));
    EXPECT_CALL(sys, readlink(StrEq(dev_path("iommu_group")), _, _));
    EXPECT_CALL(sys, readlink(StrEq(dev_path("driver")), _, _));
    EXPECT_CALL(sys, open(StrEq("/dev/vfio/vfio"), O_RDWR));
    EXPECT_CALL(sys, ioctl_value(kContainerFd, VFIO_GET_API_VERSION, 0));
    EXPECT_CALL(sys, open(StrEq("/dev/vfio/7"), O_RDWR));
    EXPECT_CALL(sys, ioctl(kGroupFd, VFIO_GROUP_GET_STATUS, GroupStatusArg()));
    EXPECT_CALL(sys, ioctl(kGroupFd, VFIO_GROUP_SET_CONTAINER, PointsToInt(kContainerFd)));
    EXPECT_CALL(sys, ioctl_value(kContainerFd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU));
    EXPECT_CALL(sys, ioctl_value(kContainerFd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
    EXPECT_CALL(sys, ioctl(kGroupFd, VFIO_GROUP_GET_DEVICE_FD, CString("0000:00:04.0")));
    EXPECT_CALL(sys, ioctl(kDeviceFd, VFIO_DEVICE_GET_INFO, DeviceInfoArg()));
    EXPECT_CALL(sys, ioctl(kDeviceFd, VFIO_DEVICE_GET_REGION_INFO, RegionInfoArg(VFIO_PCI_CONFIG_REGION_INDEX)));
    // Release: device, then group, then container.
    EXPECT_CALL(sys, close(kDeviceFd));
    EXPECT_CALL(sys, close(kGroupFd));
    EXPECT_CALL(sys, close(kContainerFd));
  }
  auto dev = VfioDevice::open(kBdf, {.sys = &sys});
  ASSERT_TRUE(dev) << dev.error().message();
  EXPECT_EQ(dev->bdf(), kBdf);
  EXPECT_EQ(dev->iommu_mode(), IommuMode::kType1v2);
  EXPECT_EQ(dev->group_number(), 7);
  EXPECT_EQ(dev->device_fd(), kDeviceFd);
  EXPECT_EQ(dev->num_regions(), static_cast<uint32_t>(VFIO_PCI_NUM_REGIONS));
  EXPECT_TRUE(dev->can_reset());
}

TEST(VfioDeviceOpen, AMovedDeviceReleasesOnce) {
  FakeVfio fake;
  {
    auto dev = VfioDevice::open(kBdf, {.sys = &fake});
    ASSERT_TRUE(dev);
    VfioDevice moved(std::move(*dev));
    EXPECT_EQ(moved.device_fd(), kDeviceFd);
  }
  EXPECT_EQ(fake.closed, (std::vector<int>{kDeviceFd, kGroupFd, kContainerFd}));
}

TEST(VfioDeviceOpen, NoIommuGroupUsesTheNoIommuBackend) {
  FakeVfio fake;
  fake.noiommu = true;
  fake.type1v2 = false;
  NiceMock<MockSysApi> sys(fake);
  {
    InSequence seq;
    EXPECT_CALL(sys, open(StrEq("/dev/vfio/7"), _));
    EXPECT_CALL(sys, open(StrEq("/dev/vfio/noiommu-7"), _));
    EXPECT_CALL(sys, ioctl_value(kContainerFd, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU));
    EXPECT_CALL(sys, ioctl_value(kContainerFd, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU));
  }
  auto dev = VfioDevice::open(kBdf, {.sys = &sys});
  ASSERT_TRUE(dev) << dev.error().message();
  EXPECT_EQ(dev->iommu_mode(), IommuMode::kNoIommu);
}

TEST(VfioDeviceOpen, NoIommuGroupIsRefusedWhenNotAllowed) {
  FakeVfio fake;
  fake.noiommu = true;
  auto dev = VfioDevice::open(kBdf, {.sys = &fake, .allow_noiommu = false});
  ASSERT_FALSE(dev);
  EXPECT_EQ(dev.error().code(), Errc::kNoDevice);
  EXPECT_THAT(dev.error().message(), AllOf(HasSubstr("0000:00:04.0"), HasSubstr("open /dev/vfio/7")));
}

// ---- failures, in the order open() meets them

struct FailureCase {
  std::function<void(FakeVfio&, MockSysApi&)> setup;
  Errc code;
  std::vector<std::string> says;  // substrings the message must contain (besides the BDF)
  std::vector<int> closed;        // fake descriptors released, in order
};

void expect_failure(const FailureCase& c) {
  FakeVfio fake;
  NiceMock<MockSysApi> sys(fake);
  c.setup(fake, sys);
  {
    auto dev = VfioDevice::open(kBdf, {.sys = &sys});
    ASSERT_FALSE(dev);
    EXPECT_EQ(dev.error().code(), c.code) << dev.error().message();
    EXPECT_THAT(dev.error().message(), HasSubstr("0000:00:04.0: "));
    for (const auto& s : c.says) EXPECT_THAT(dev.error().message(), HasSubstr(s));
  }
  EXPECT_EQ(fake.closed, c.closed) << "every descriptor acquired before the failure is released";
}

TEST(VfioDeviceOpen, MissingDeviceSaysHowToListDevices) {
  expect_failure({[](FakeVfio&, MockSysApi& sys) {
                    EXPECT_CALL(sys, readlink(StrEq(dev_path()), _, _)).WillOnce(SetErrnoAndReturn(ENOENT, -1));
                  },
                  Errc::kNoDevice,
                  {"readlink /sys/bus/pci/devices/0000:00:04.0", "no such PCI device", "lspci -D"},
                  {}});
}

TEST(VfioDeviceOpen, NoIommuGroupSaysHowToEnableTheIommu) {
  expect_failure({[](FakeVfio& f, MockSysApi&) { f.has_iommu_group = false; },
                  Errc::kNotSupported,
                  {"iommu_group", "intel_iommu=on / amd_iommu=on", "enable_unsafe_noiommu_mode=1",
                   "CONFIG_VFIO_NOIOMMU"},
                  {}});
}

TEST(VfioDeviceOpen, DeviceHeldByAnotherDriverNamesItAndHowToBind) {
  expect_failure({[](FakeVfio& f, MockSysApi&) { f.driver = "ivshmem"; },
                  Errc::kBusy,
                  {"not bound to vfio-pci", "driver ivshmem holds it", "pbx-probe bind 0000:00:04.0", "install udev/"},
                  {}});
}

// The udev rules a fix-it message names are the file the project ships.
TEST(VfioDeviceOpen, TheUdevRulesTheMessagesNameExistInTheSourceTree) {
  FakeVfio fake;
  fake.driver = "ivshmem";
  auto dev = VfioDevice::open(kBdf, {.sys = &fake});
  ASSERT_FALSE(dev);
  const std::string& msg = dev.error().message();
  const size_t at = msg.find("udev/");
  ASSERT_NE(at, std::string::npos) << msg;
  const size_t end = msg.find_first_of(" ;),", at);
  const std::string rules = msg.substr(at, end == std::string::npos ? std::string::npos : end - at);
  EXPECT_TRUE(std::filesystem::is_regular_file(std::filesystem::path(PBX_SOURCE_DIR) / rules))
      << "the message names " << rules << ", which is not a file of " << PBX_SOURCE_DIR;
}

TEST(VfioDeviceOpen, UnboundDeviceSaysSoAndHowToBind) {
  expect_failure({[](FakeVfio& f, MockSysApi&) { f.driver.clear(); },
                  Errc::kNoDevice,
                  {"no driver is bound to it", "pbx-probe bind 0000:00:04.0"},
                  {}});
}

TEST(VfioDeviceOpen, MissingVfioModuleSaysModprobe) {
  expect_failure({[](FakeVfio&, MockSysApi& sys) {
                    EXPECT_CALL(sys, open(StrEq("/dev/vfio/vfio"), _)).WillOnce(SetErrnoAndReturn(ENOENT, -1));
                  },
                  Errc::kNoDevice,
                  {"open /dev/vfio/vfio", "modprobe vfio-pci"},
                  {}});
}

TEST(VfioDeviceOpen, WrongApiVersionIsRefused) {
  expect_failure({[](FakeVfio& f, MockSysApi&) { f.api_version = 1; },
                  Errc::kNotSupported,
                  {"VFIO_GET_API_VERSION", "version is 1"},
                  {kContainerFd}});
}

TEST(VfioDeviceOpen, NoPermissionOnTheGroupSaysUdevGroupOrRoot) {
  expect_failure({[](FakeVfio&, MockSysApi& sys) {
                    EXPECT_CALL(sys, open(StrEq("/dev/vfio/7"), _)).WillOnce(SetErrnoAndReturn(EACCES, -1));
                  },
                  Errc::kPermissionDenied,
                  {"open /dev/vfio/7: Permission denied", "add the user to group postbox (udev",
                   "or run as root"},
                  {kContainerFd}});
}

TEST(VfioDeviceOpen, GroupHeldByAnotherProcessIsBusy) {
  expect_failure({[](FakeVfio&, MockSysApi& sys) {
                    EXPECT_CALL(sys, open(StrEq("/dev/vfio/7"), _)).WillOnce(SetErrnoAndReturn(EBUSY, -1));
                  },
                  Errc::kBusy,
                  {"open /dev/vfio/7", "another process"},
                  {kContainerFd}});
}

TEST(VfioDeviceOpen, GroupNotViableListsTheDevicesOnOtherDrivers) {
  expect_failure({[](FakeVfio& f, MockSysApi&) {
                    f.viable = false;
                    f.group_members = {{"0000:00:04.1", "snd_hda_intel"}, {"0000:00:04.2", ""},
                                       {"0000:00:04.3", "vfio-pci"}};
                  },
                  Errc::kBusy,
                  {"IOMMU group 7 is not viable", "0000:00:04.1 (snd_hda_intel)", "pbx-probe bind"},
                  {kGroupFd, kContainerFd}});
  // Unbound members and members on vfio-pci keep a group viable: they are not listed.
  FakeVfio fake;
  fake.viable = false;
  fake.group_members = {{"0000:00:04.2", ""}, {"0000:00:04.3", "vfio-pci"}, {"0000:00:04.1", "e1000e"}};
  auto dev = VfioDevice::open(kBdf, {.sys = &fake});
  ASSERT_FALSE(dev);
  EXPECT_THAT(dev.error().message(), HasSubstr("bound to other drivers: 0000:00:04.1 (e1000e);"));
}

TEST(VfioDeviceOpen, MissingType1BackendSaysModprobe) {
  expect_failure({[](FakeVfio& f, MockSysApi&) { f.type1v2 = false; },
                  Errc::kNotSupported,
                  {"VFIO_CHECK_EXTENSION(VFIO_TYPE1v2_IOMMU)", "modprobe vfio_iommu_type1"},
                  {kGroupFd, kContainerFd}});
}

TEST(VfioDeviceOpen, NoInterruptRemappingSaysIntremapOrUnsafeInterrupts) {
  expect_failure({[](FakeVfio&, MockSysApi& sys) {
                    EXPECT_CALL(sys, ioctl_value(kContainerFd, VFIO_SET_IOMMU, _)).WillOnce(SetErrnoAndReturn(EPERM, -1));
                  },
                  Errc::kPermissionDenied,
                  {"VFIO_SET_IOMMU(VFIO_TYPE1v2_IOMMU)", "intremap=on", "allow_unsafe_interrupts=1"},
                  {kGroupFd, kContainerFd}});
}

TEST(VfioDeviceOpen, DeviceFdFailureIsReportedAndEverythingReleased) {
  expect_failure({[](FakeVfio&, MockSysApi& sys) {
                    EXPECT_CALL(sys, ioctl(kGroupFd, VFIO_GROUP_GET_DEVICE_FD, _)).WillOnce(SetErrnoAndReturn(EBUSY, -1));
                  },
                  Errc::kBusy,
                  {"VFIO_GROUP_GET_DEVICE_FD", "open in another process"},
                  {kGroupFd, kContainerFd}});
}

TEST(VfioDeviceOpen, NonPciDeviceIsRefused) {
  expect_failure({[](FakeVfio& f, MockSysApi&) { f.device_flags = VFIO_DEVICE_FLAGS_PLATFORM; },
                  Errc::kNotSupported,
                  {"VFIO_DEVICE_GET_INFO", "not a vfio-pci device"},
                  {kDeviceFd, kGroupFd, kContainerFd}});
}

}  // namespace
}  // namespace pbx::vfio
