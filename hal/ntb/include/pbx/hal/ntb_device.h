// Opening an NTB by what it is: the one place that tells Intel, AMD and Switchtec devices apart
// (by vendor, device and class read through VFIO) and hands the open VFIO device to the
// matching backend. The factory's `ntb:` spec comes here; `intel:`, `amd:` and `switchtec:`
// insist on one kind and say so when the device is another.
//
//   auto dev = pbx::hal::open_ntb_device(*bdf, {.window_size = 4u << 20});
//   if (!dev) log(dev.error().message());   // names the device, its IDs and what postbox drives
#pragma once

#include <cstdint>
#include <memory>

#include "pbx/base/error.h"
#include "pbx/hal/device.h"
#include "pbx/vfio/bdf.h"
#include "pbx/vfio/device.h"

namespace pbx::hal {

enum class NtbKind : uint8_t { kAny, kIntel, kAmd, kSwitchtec };
const char* to_string(NtbKind k) noexcept;  // "ntb", "intel", "amd", "switchtec"

// Which backend drives a PCI function with these IDs; kAny when none does.
NtbKind ntb_kind_of(uint16_t vendor, uint16_t device, uint32_t class_code) noexcept;

struct NtbOpenOptions {
  NtbKind kind = NtbKind::kAny;  // kAny: whatever the device is
  size_t window_size = 0;        // 0: the backend's default (the BAR, or what every window holds)
  vfio::Options vfio;            // unit tests: a fake SysApi
};

[[nodiscard]] Result<std::unique_ptr<Device>> open_ntb_device(const vfio::Bdf& bdf, const NtbOpenOptions& opts = {});

}  // namespace pbx::hal
