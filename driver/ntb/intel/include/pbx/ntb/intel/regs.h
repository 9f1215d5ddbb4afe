// Register files of the Intel Xeon NTB (BAR0 MMIO) and the config-space registers the driver
// reads. Offsets and bits from Linux drivers/ntb/hw/intel/ntb_hw_{intel,gen3,gen4}.h and DPDK
// drivers/raw/ntb/ntb_hw_intel.h.
//
// Names follow Intel's (and Linux's) register names so that a reader can grep the sources.
// "IM" = internal (this host's) side, "EM" = external (link) side. Memory window n (0, 1) is
// BAR2 (BAR23) and BAR4 (BAR45) respectively.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pbx/ntb/mmio.h"

namespace pbx::ntb::intel {

inline constexpr std::size_t kBar0Size = 0x10000;  // 64 KiB register BAR
inline constexpr unsigned kMwCount = 2;
inline constexpr unsigned kMwBar[kMwCount] = {2, 4};
inline constexpr unsigned kSpadCount = 16;
inline constexpr unsigned kDbCount = 32;          // doorbell bits 0..31
inline constexpr unsigned kDbLinkBit = 32;        // status bit 32: link state changed
inline constexpr uint64_t kDbValidMask = (uint64_t{1} << kDbCount) - 1;
inline constexpr uint64_t kDbLinkMask = uint64_t{1} << kDbLinkBit;
inline constexpr unsigned kMsixVectorCount = 33;  // doorbells 0..31 + link

// Addresses the two sides use for the zero-length incoming B2B windows before translation is
// programmed (Linux XEON_B2B_BAR2_ADDR64 / XEON_B2B_BAR4_ADDR64, same for USD and DSD).
inline constexpr uint64_t kB2bBar2Addr = 0x2000000000000000ull;
inline constexpr uint64_t kB2bBar4Addr = 0x4000000000000000ull;

// ---- gen3: Skylake-SP / Cascade Lake (8086:201C) ------------------------------------------

namespace gen3 {
// Config space.
inline constexpr uint32_t kCfgImbar1Sz = 0xd0;   // log2 of the BAR2 size set by BIOS
inline constexpr uint32_t kCfgImbar2Sz = 0xd1;   // log2 of the BAR4 size
inline constexpr uint32_t kCfgEmbar1Sz = 0xd2;
inline constexpr uint32_t kCfgEmbar2Sz = 0xd3;
inline constexpr uint32_t kCfgPpd = 0xd4;        // PCIe port definition (8-bit)
inline constexpr uint32_t kCfgDevSts = 0x9a;
inline constexpr uint32_t kCfgLinkStatus = 0x1a2;  // LNKSTS of the NTB link (16-bit)

// PPD bits.
inline constexpr uint8_t kPpdConnMask = 0x03;
inline constexpr uint8_t kPpdConnTransparent = 0x00;
inline constexpr uint8_t kPpdConnB2b = 0x01;
inline constexpr uint8_t kPpdConnRp = 0x02;
inline constexpr uint8_t kPpdDsd = 0x10;
inline constexpr uint8_t kPpdSplitBar = 0x40;

// NTBCNTL bits.
inline constexpr uint32_t kCtlCfgLock = 1u << 0;
inline constexpr uint32_t kCtlDisable = 1u << 1;
inline constexpr uint32_t kCtlS2pBar2Snoop = 1u << 2;
inline constexpr uint32_t kCtlP2sBar2Snoop = 1u << 4;
inline constexpr uint32_t kCtlS2pBar4Snoop = 1u << 6;
inline constexpr uint32_t kCtlP2sBar4Snoop = 1u << 8;
inline constexpr uint32_t kCtlSnoopAll = kCtlS2pBar2Snoop | kCtlP2sBar2Snoop | kCtlS2pBar4Snoop | kCtlP2sBar4Snoop;

struct Regs {
  static constexpr std::size_t kSize = kBar0Size;
  static constexpr Reg<uint32_t, 0x0000> ntbcntl{};
  static constexpr RegArray<uint64_t, 0x0010, 0x10, kMwCount> imbar_xbase{};  // IMBAR1XBASE, IMBAR2XBASE
  static constexpr RegArray<uint64_t, 0x0018, 0x10, kMwCount> imbar_xlmt{};   // IMBAR1XLMT, IMBAR2XLMT
  static constexpr Reg<uint64_t, 0x0040, Access::kW1C> im_int_status{};       // doorbell status
  static constexpr Reg<uint64_t, 0x0048> im_int_disable{};                    // doorbell mask
  static constexpr Reg<uint16_t, 0x0070, Access::kRO> usmemmiss{};
  static constexpr RegArray<uint32_t, 0x0080, 4, kSpadCount> im_spad{};       // local scratchpads
  static constexpr RegArray<uint8_t, 0x00d0, 1, kMsixVectorCount> intvec{};   // source -> MSI-X vector
  static constexpr RegArray<uint32_t, 0x0100, 4, kDbCount, Access::kWO> im_doorbell{};  // rings the peer
  static constexpr RegArray<uint32_t, 0x0180, 4, kSpadCount> b2b_spad{};      // the peer's scratchpads
  static constexpr Reg<uint64_t, 0x4008> embar0_xbase{};                      // B2B_XLAT
  static constexpr RegArray<uint64_t, 0x4010, 0x10, kMwCount> embar_xbase{};  // PBAR2XLAT, PBAR4XLAT
  static constexpr RegArray<uint64_t, 0x4018, 0x10, kMwCount> embar_xlmt{};   // PBAR2LMT, PBAR4LMT
  static constexpr Reg<uint16_t, 0x4504> spcicmd{};                           // secondary PCI command
  static constexpr Reg<uint64_t, 0x4510, Access::kRO> embar0{};               // SBAR0BASE
  static constexpr RegArray<uint64_t, 0x4518, 8, kMwCount, Access::kRO> embar{};  // SBAR23BASE, SBAR45BASE
};
inline constexpr const char* kXbaseName[kMwCount] = {"IMBAR1XBASE", "IMBAR2XBASE"};
inline constexpr const char* kXlmtName[kMwCount] = {"IMBAR1XLMT", "IMBAR2XLMT"};
inline constexpr const char* kEmXlmtName[kMwCount] = {"EMBAR1XLMT", "EMBAR2XLMT"};
}  // namespace gen3

// ---- gen4: Ice Lake, Sapphire Rapids, Granite Rapids, Diamond Rapids ----------------------

namespace gen4 {
// Config space.
inline constexpr uint32_t kCfgImbar23Sz = 0xc4;
inline constexpr uint32_t kCfgImbar45Sz = 0xc5;
inline constexpr uint32_t kCfgEmbar23Sz = 0xc6;
inline constexpr uint32_t kCfgEmbar45Sz = 0xc7;
inline constexpr uint32_t kCfgDevSts = 0x4a;

// NTBCNTL bits (E2I = external to internal, I2E = internal to external).
inline constexpr uint32_t kCtlE2iBar23Snoop = 0x004;
inline constexpr uint32_t kCtlI2eBar23Snoop = 0x010;
inline constexpr uint32_t kCtlE2iBar45Snoop = 0x040;
inline constexpr uint32_t kCtlI2eBar45Snoop = 0x100;
inline constexpr uint32_t kCtlSnoopAll = kCtlE2iBar23Snoop | kCtlI2eBar23Snoop | kCtlE2iBar45Snoop | kCtlI2eBar45Snoop;
inline constexpr uint32_t kCtlLinkDown = 0x10000;

inline constexpr uint16_t kLinkCtrlDisable = 0x0010;  // LINK_CTRL bit 4
inline constexpr uint16_t kSlotStsDllscs = 0x0100;    // must be cleared before the link doorbell bit
inline constexpr uint32_t kPpdLinkTrn = 0x0008;       // PPD0: start link training

// PPD1 topology fields.
inline constexpr uint32_t kPpdConnB2b = 0x0200;
inline constexpr uint32_t kIcxPpdConnMask = 0x0300;
inline constexpr uint32_t kIcxPpdDsd = 0x1000;
inline constexpr uint32_t kSprPpdConnMask = 0x0700;
inline constexpr uint32_t kSprPpdDsd = 0x4000;

// LTR (SPR and later): active 0 us, idle 600 us, snoop + non-snoop, 1 us scale.
inline constexpr uint8_t kLtrSwselActive = 0x0;
inline constexpr uint8_t kLtrSwselIdle = 0x1;
inline constexpr uint32_t kLtrActive = (0x8000u | 0x0800u | 0x0000u) * 0x10001u;  // snoop | non-snoop << 16
inline constexpr uint32_t kLtrIdle = (0x8000u | 0x0800u | 0x0258u) * 0x10001u;

struct Regs {
  static constexpr std::size_t kSize = kBar0Size;
  static constexpr Reg<uint32_t, 0x0000> ntbcntl{};
  static constexpr RegArray<uint64_t, 0x0010, 0x10, kMwCount> im_xbase{};     // IM23XBASE, IM45XBASE
  static constexpr RegArray<uint64_t, 0x0018, 0x10, kMwCount> im_xlmt{};      // IM23XLMT, IM45XLMT
  static constexpr Reg<uint64_t, 0x0040, Access::kW1C> im_int_status{};
  static constexpr Reg<uint64_t, 0x0048> im_int_disable{};
  static constexpr RegArray<uint8_t, 0x0050, 1, kMsixVectorCount> intvec{};
  static constexpr RegArray<uint16_t, 0x0074, 2, kMwCount> im_xbase_idx{};    // IM23XBASEIDX, IM45XBASEIDX
  static constexpr RegArray<uint32_t, 0x0080, 4, kSpadCount> im_spad{};
  static constexpr RegArray<uint32_t, 0x0100, 4, kDbCount, Access::kWO> im_doorbell{};
  static constexpr Reg<uint8_t, 0x30ec> ltr_swsel{};
  static constexpr Reg<uint32_t, 0x30f0> ltr_active{};
  static constexpr Reg<uint32_t, 0x30f4> ltr_idle{};
  static constexpr RegArray<uint32_t, 0x8080, 4, kSpadCount> em_spad{};       // the peer's scratchpads
  static constexpr Reg<uint16_t, 0xb050> link_ctrl{};
  static constexpr Reg<uint16_t, 0xb052, Access::kRO> link_status{};
  static constexpr Reg<uint16_t, 0xb05a, Access::kW1C> slotsts{};
  static constexpr Reg<uint32_t, 0xb0d4> ppd0{};                              // ICX, SPR, GNR
  static constexpr Reg<uint32_t, 0xf0d4> ppd0_dmr{};                          // DMR
  static constexpr Reg<uint32_t, 0xb4c0, Access::kRO> ppd1{};
};
inline constexpr const char* kXbaseName[kMwCount] = {"IM23XBASE", "IM45XBASE"};
inline constexpr const char* kXlmtName[kMwCount] = {"IM23XLMT", "IM45XLMT"};
inline constexpr const char* kXbaseIdxName[kMwCount] = {"IM23XBASEIDX", "IM45XBASEIDX"};
}  // namespace gen4

}  // namespace pbx::ntb::intel
