// AMD and Hygon NTB parts this driver supports (linux drivers/ntb/hw/amd/ntb_hw_amd.c,
// amd_ntb_pci_tbl and dev_data): the windows' BARs and whether the part is the endpoint variant
// that reports its link in its own Link Status (0x17D7) rather than through the upstream
// switch port of the secondary side.
//
//   1022:145B, 1D94:145B (Hygon)        3 windows: BAR1, BAR2, BAR4
//   1022:148B, 14C0, 14C3, 155A, 17D4   2 windows: BAR2, BAR4
//   1022:17D7                           2 windows: BAR2, BAR4, endpoint variant
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "pbx/base/error.h"
#include "pbx/ntb/amd/regs.h"

namespace pbx::ntb::amd {

inline constexpr uint16_t kVendorAmd = 0x1022;
inline constexpr uint16_t kVendorHygon = 0x1d94;

struct PartInfo {
  uint16_t vendor;
  uint16_t device;
  unsigned mw_count;
  unsigned mw_bar[kMaxMws];  // BAR of each window
  bool endpoint;             // link status in its own PCIe capability, on both sides
  const char* name;
};

std::span<const PartInfo> parts() noexcept;

// Fails with kNotSupported naming `where` and the IDs when this is not a supported part.
[[nodiscard]] Result<const PartInfo*> identify(uint16_t vendor, uint16_t device, std::string_view where);

}  // namespace pbx::ntb::amd
