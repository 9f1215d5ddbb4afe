// Intel Xeon NTB parts this driver supports, and how to tell them apart.
//
//   device 0x201C  SKX  Skylake-SP / Cascade Lake        "gen3" registers
//   device 0x347E  ICX  Ice Lake-SP, revision 0x02-0x0F  "gen4" registers
//   device 0x347E  SPR  Sapphire Rapids, revision > 0x0F "gen4" registers, new PPD1 layout, LTR
//   device 0x0DB4  GNR  Granite Rapids                   "gen4" registers, as SPR
//   device 0x7868  DMR  Diamond Rapids                   "gen4" registers, as SPR, PPD0 at 0xF0D4
//
// Sources: linux drivers/ntb/hw/intel/ntb_hw_intel.h (device IDs), ntb_hw_gen4.h
// (PCI_DEVICE_REVISION_ICX_MIN/MAX, pdev_is_ICX/SPR), the GNR and DMR support patches on the
// linux-ntb list; DPDK drivers/raw/ntb (ICX/SPR revision split). Only back-to-back topologies.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "pbx/base/error.h"

namespace pbx::ntb::intel {

inline constexpr uint16_t kVendorIntel = 0x8086;

// Register model: where the registers are.
enum class Gen : uint8_t { kGen3, kGen4 };

enum class Part : uint8_t { kSkx, kIcx, kSpr, kGnr, kDmr };

// Where the topology (port definition) is and how it is encoded.
enum class PpdLayout : uint8_t {
  kGen3Config,  // config byte 0xD4: [1:0] connection (0 transparent, 1 B2B, 2 RP), bit 4 DSD, bit 6 split BAR
  kIcxMmio,     // BAR0 0xB4C0 (PPD1): [9:8] connection (2 = B2B), bit 12 DSD
  kSprMmio,     // BAR0 0xB4C0 (PPD1): [10:8] connection (2 = B2B), bit 14 DSD
};

struct PartInfo {
  Part part;
  uint16_t device_id;
  Gen regs;
  PpdLayout ppd;
  const char* code;        // "SKX"
  const char* name;        // "Skylake-SP / Cascade Lake"
  // Memory-window translation addresses must be aligned to the BAR size (gen3, ICX:
  // NTB_HWERR_BAR_ALIGN in Linux); else to a 4 KiB page.
  bool mw_addr_align_bar_size;
  // Latency tolerance reporting is programmed on link enable (SPR and later; ICX: LTR_BAD).
  bool program_ltr;
  // gen4 register model: offset of PPD0 (link training control) in BAR0.
  uint32_t ppd0_offset;
  // The BIOS knob that sets the window (BAR) sizes, for messages.
  const char* bar_size_setting;
};

// Part facts, one entry per part (SPR and ICX share a device ID).
std::span<const PartInfo> parts() noexcept;
const PartInfo& part_info(Part p) noexcept;

// The distinct PCI device IDs (vendor 0x8086) this driver binds: the udev rules and the probe
// tool follow this list.
std::span<const uint16_t> supported_device_ids() noexcept;

// ICX revisions are 0x02..0x0F; SPR uses the same device ID with revision > 0x0F.
inline constexpr uint8_t kIcxRevisionMin = 0x02;
inline constexpr uint8_t kIcxRevisionMax = 0x0f;

// Identifies the part from the PCI IDs; fails with kNotSupported naming `where` (the BDF) and
// the IDs when this is not a supported Intel NTB.
[[nodiscard]] Result<const PartInfo*> identify(uint16_t vendor, uint16_t device, uint8_t revision,
                                               std::string_view where);

const char* to_string(Gen g) noexcept;  // "gen3" / "gen4"

}  // namespace pbx::ntb::intel
