// Register file of the AMD (and Hygon) NTB in BAR0, and the parts this driver supports.
//
// Sources: linux drivers/ntb/hw/amd/ntb_hw_amd.h (AMD_*_OFFSET, bits, counts, AMD_PEER_OFFSET)
// and ntb_hw_amd.c (how each register is used, the device table with its window BARs). The two
// sides of an AMD NTB are "primary" and "secondary" (SIDEINFO bit 0); each side's BAR0 holds its
// own registers and, 0x400 further on, a view of the other side's (AMD_PEER_OFFSET): Linux
// reaches the peer's SIDEINFO at 0x400 + 0x408 and programs a window's translation into the
// peer's XLAT/LMT registers the same way. The 16 scratchpads at 0x210 are one bank the two sides
// share (primary uses 0..7, secondary 8..15).
#pragma once

#include <cstddef>
#include <cstdint>

#include "pbx/ntb/mmio.h"

namespace pbx::ntb::amd {

inline constexpr std::size_t kBar0Size = 0x1000;
inline constexpr std::size_t kPeerOffset = 0x400;  // AMD_PEER_OFFSET
inline constexpr unsigned kDbCount = 16;           // AMD_DB_CNT
inline constexpr unsigned kSpadCount = 16;         // AMD_SPADS_CNT, split between the sides
inline constexpr unsigned kSpadsPerSide = kSpadCount / 2;
inline constexpr unsigned kMsixVectorCount = 24;   // AMD_MSIX_VECTOR_CNT
inline constexpr unsigned kMaxMws = 3;

// CNTL bits (AMD_CNTL_OFFSET).
inline constexpr uint32_t kCntlPmmRegCtl = 1u << 21;
inline constexpr uint32_t kCntlSmmRegCtl = 1u << 20;

// SIDEINFO bits.
inline constexpr uint32_t kSideMask = 1u << 0;   // 1: this is the secondary side
inline constexpr uint32_t kSideReady = 1u << 1;  // the driver of this side is loaded

// INTSTAT / INTMASK event bits.
inline constexpr uint32_t kEventPeerFlush = 1u << 0;
inline constexpr uint32_t kEventPeerReset = 1u << 1;
inline constexpr uint32_t kEventPeerD3 = 1u << 2;
inline constexpr uint32_t kEventPeerPmeTo = 1u << 3;
inline constexpr uint32_t kEventPeerD0 = 1u << 4;
inline constexpr uint32_t kEventLinkUp = 1u << 5;
inline constexpr uint32_t kEventLinkDown = 1u << 6;
inline constexpr uint32_t kEventMask = 0x7f;  // AMD_EVENT_INTMASK

// The top doorbell is reserved to tell the peer "my driver is going away" (ntb_hw_amd.c
// db_last_bit): 15 doorbells are left for users.
inline constexpr unsigned kDbGoodbyeBit = kDbCount - 1;
inline constexpr uint16_t kDbGoodbye = 1u << kDbGoodbyeBit;
inline constexpr uint16_t kDbValidMask = kDbGoodbye - 1;

struct Regs {
  static constexpr std::size_t kSize = kBar0Size;
  static constexpr Reg<uint32_t, 0x200> cntl{};
  static constexpr Reg<uint32_t, 0x204, Access::kRO> sta{};
  static constexpr RegArray<uint32_t, 0x210, 4, kSpadCount> spad{};     // the shared bank
  static constexpr Reg<uint32_t, 0x408> sideinfo{};
  static constexpr Reg<uint32_t, 0x414> bar1_lmt{};                     // own view (diagnostics)
  static constexpr Reg<uint64_t, 0x418> bar23_lmt{};
  static constexpr Reg<uint64_t, 0x420> bar45_lmt{};
  static constexpr Reg<uint64_t, 0x430> bar1_xlat{};
  static constexpr Reg<uint64_t, 0x438> bar23_xlat{};
  static constexpr Reg<uint64_t, 0x440> bar45_xlat{};
  static constexpr Reg<uint16_t, 0x454, Access::kWO> dbreq{};            // rings the peer
  static constexpr Reg<uint16_t, 0x45c> dbmask{};
  static constexpr Reg<uint16_t, 0x460, Access::kW1C> dbstat{};
  static constexpr Reg<uint32_t, 0x470> intmask{};
  static constexpr Reg<uint32_t, 0x474, Access::kW1C> intstat{};
  static constexpr Reg<uint32_t, 0x4a0> smuack{};
  // The peer's registers, through AMD_PEER_OFFSET.
  static constexpr Reg<uint32_t, kPeerOffset + 0x408> peer_sideinfo{};
  static constexpr Reg<uint32_t, kPeerOffset + 0x414> peer_bar1_lmt{};
  static constexpr Reg<uint64_t, kPeerOffset + 0x418> peer_bar23_lmt{};
  static constexpr Reg<uint64_t, kPeerOffset + 0x420> peer_bar45_lmt{};
  static constexpr Reg<uint64_t, kPeerOffset + 0x430> peer_bar1_xlat{};
  static constexpr Reg<uint64_t, kPeerOffset + 0x438> peer_bar23_xlat{};
  static constexpr Reg<uint64_t, kPeerOffset + 0x440> peer_bar45_xlat{};
};

// The PCIe Link Control/Status dword: Linux reads it with pcie_capability_read_dword(
// PCI_EXP_LNKCTL) and takes the speed from bits 19:16 and the width from bits 25:20.
inline constexpr uint32_t kPcieCapId = 0x10;
inline constexpr uint32_t kPcieLnkCtl = 0x10;  // offset in the PCIe capability

}  // namespace pbx::ntb::amd
