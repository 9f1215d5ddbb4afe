// The PCIe Link Status word (LNKSTS; PCIe base spec §7.5.3.8), as the NTB reports its own
// link: Intel gen3 in config space at 0x1a2, gen4+ in BAR0 at 0xb052.
//   bits 3:0 current link speed (1 = 2.5 GT/s ... 6 = 64 GT/s), bits 9:4 negotiated width,
//   bit 13 data link layer link active.
#pragma once

#include <cstdint>

namespace pbx::ntb {

struct PcieLink {
  bool active = false;
  uint8_t speed_code = 0;  // LNKSTS[3:0]; the PCIe generation for codes 1..6
  uint8_t width = 0;       // lanes
};

constexpr uint16_t kLnkStaActive = 0x2000;
constexpr uint16_t kLnkStaSpeedMask = 0x000f;
constexpr uint16_t kLnkStaWidthMask = 0x03f0;

constexpr PcieLink decode_lnksta(uint16_t v) noexcept {
  return PcieLink{(v & kLnkStaActive) != 0, static_cast<uint8_t>(v & kLnkStaSpeedMask),
                  static_cast<uint8_t>((v & kLnkStaWidthMask) >> 4)};
}

// "2.5", "5", "8", "16", "32", "64" GT/s for speed codes 1..6; "?" otherwise.
constexpr const char* speed_gts(uint8_t code) noexcept {
  switch (code) {
    case 1: return "2.5";
    case 2: return "5";
    case 3: return "8";
    case 4: return "16";
    case 5: return "32";
    case 6: return "64";
    default: return "?";
  }
}

}  // namespace pbx::ntb
