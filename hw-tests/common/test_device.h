// Which device the hw tests run against, and the skip-or-fail rule around it.
//
//   PBX_DEVICE=<BDF>   that device (0000:03:00.0 or 03:00.0); missing or unsupported: the test fails
//   unset              the one supported device found in sysfs; none: the test is skipped, saying so
//
// The same binaries run on NTB hardware (`PBX_DEVICE=<BDF> ctest -L hw`) and inside the two QEMU
// VMs of the hw-emulated tier, whose /init binds the ivshmem device to vfio-pci and exports
// PBX_DEVICE.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pbx/base/error.h"
#include "pbx/base/unique_fd.h"

namespace pbx::hwtest {

enum class DeviceKind : uint8_t {
  kIvshmem,       // QEMU ivshmem (1af4:1110): BAR0 registers, BAR2 shared memory
  kIntelNtb,      // Intel Xeon NTB (gen3..gen6: the ids driver/ntb/intel accepts)
  kAmdNtb,        // AMD / Hygon NTB (hal/ntb AmdNtbDevice, driver/ntb/amd)
  kSwitchtecNtb,  // Microchip Switchtec NT endpoint, by vendor and class (hal/ntb SwitchtecNtbDevice)
};
const char* to_string(DeviceKind k) noexcept;

struct TestDevice {
  std::string bdf;     // 0000:03:00.0
  std::string sysfs;   // /sys/bus/pci/devices/0000:03:00.0
  uint16_t vendor = 0;
  uint16_t device = 0;
  DeviceKind kind = DeviceKind::kIvshmem;
  std::string driver;  // bound kernel driver ("vfio-pci"), empty if none
};

// Finds the device (see above). Errc::kNoDevice means "none here": skip. Other errors: fail.
[[nodiscard]] Result<TestDevice> find_test_device(const std::string& sysfs_root = "/sys/bus/pci/devices");

// Maps BAR `bar` of the device through sysfs (resourceN), read-write, shared.
[[nodiscard]] Result<MmapRegion> map_sysfs_bar(const TestDevice& dev, int bar);

// Seconds to wait for the peer node in two-sided tests: $PBX_HW_PEER_TIMEOUT_S, default 60.
uint64_t peer_timeout_ns();
// A run tag both sides agree on, so that words left in shared memory by an earlier run are not
// mistaken for this run's: $PBX_HW_NONCE (the harness passes a random one), default 1.
uint32_t run_nonce();

// Base fixture: finds the device in SetUp; skips (GTEST_SKIP with the reason) without one, and
// when the device is not of one of the kinds the test was written for.
class DeviceTest : public ::testing::Test {
 protected:
  explicit DeviceTest(std::initializer_list<DeviceKind> kinds = {DeviceKind::kIvshmem, DeviceKind::kIntelNtb})
      : kinds_(kinds) {}
  void SetUp() override;
  TestDevice dev_;

 private:
  std::vector<DeviceKind> kinds_;
};

}  // namespace pbx::hwtest
