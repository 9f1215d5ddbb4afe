// find_pci_devices: matches vendor and device IDs from sysfs, reports the bound driver, sorts.
#include "pbx/vfio/pci_scan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/vfio/mock_sys_api.h"

namespace pbx::vfio {
namespace {

using test::FakeVfio;
using test::MockSysApi;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::SetErrnoAndReturn;

void add_device(FakeVfio& f, const std::string& bdf, const char* vendor, const char* device) {
  if (bdf != f.bdf) f.other_devices.push_back(bdf);
  f.sysfs_files.emplace_back("/sys/bus/pci/devices/" + bdf + "/vendor", std::string(vendor) + "\n");
  f.sysfs_files.emplace_back("/sys/bus/pci/devices/" + bdf + "/device", std::string(device) + "\n");
}

TEST(FindPciDevices, ReturnsMatchingDevicesInAddressOrderWithTheirDrivers) {
  FakeVfio fake;  // 0000:00:04.0, bound to vfio-pci
  add_device(fake, "0000:00:04.0", "0x1af4", "0x1110");
  add_device(fake, "0000:00:03.0", "0x1af4", "0x1110");
  add_device(fake, "0000:00:02.0", "0x8086", "0x1110");  // other vendor
  add_device(fake, "0000:00:05.0", "0x1af4", "0x1000");  // other device
  fake.group_members = {{"0000:00:03.0", "ivshmem"}};    // gives 03.0 a driver link
  auto found = find_pci_devices(0x1af4, 0x1110, fake);
  ASSERT_TRUE(found) << found.error().message();
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ((*found)[0].bdf.str(), "0000:00:03.0");
  EXPECT_EQ((*found)[0].driver, "ivshmem");
  EXPECT_EQ((*found)[1].bdf.str(), "0000:00:04.0");
  EXPECT_EQ((*found)[1].driver, "vfio-pci");
}

TEST(FindPciDevices, UnreadableSysfsIsAnError) {
  FakeVfio fake;
  MockSysApi sys(fake);
  EXPECT_CALL(sys, list_dir(_, _)).WillOnce(SetErrnoAndReturn(ENOENT, -1));
  auto found = find_pci_devices(0x1af4, 0x1110, sys);
  ASSERT_FALSE(found);
  EXPECT_THAT(found.error().message(), HasSubstr("list /sys/bus/pci/devices/ (is sysfs mounted?)"));
}

}  // namespace
}  // namespace pbx::vfio
