// The bring-up handshake of the Intel NTB backend, through the NTB's own scratchpads and one
// doorbell bit. Each side, once the hardware link is up and its inbound window is programmed,
// writes into the peer's scratchpads 12..15 and rings the peer's doorbell 31:
//
//   spad 12  kMagic ("PBX1"; a different value means another program or build)
//   spad 13  window size in 4 KiB pages (both sides must use the same)
//   spad 14  epoch: a nonzero number new at every open (a restarted peer is a new peer)
//   spad 15  state: kReady once the inbound window is programmed; kGone when closing
//
// The side is "up" for the HAL once its link is up and its own scratchpads show the peer ready
// with the same magic and window size. On every link-up both sides write again, so neither can
// miss the other (DPDK's "the later device may miss the first doorbell").
//
// Scratchpads 0..11 and doorbells 0..30 are left to the HAL's users.
#pragma once

#include <cstdint>

namespace pbx::hal::intel_ntb_handshake {

inline constexpr unsigned kSpadMagic = 12;
inline constexpr unsigned kSpadWindowPages = 13;
inline constexpr unsigned kSpadEpoch = 14;
inline constexpr unsigned kSpadState = 15;
inline constexpr unsigned kUserSpads = 12;

inline constexpr uint32_t kMagic = 0x31584250;  // "PBX1" little-endian
inline constexpr uint32_t kReady = 1;
inline constexpr uint32_t kGone = 2;

inline constexpr unsigned kDbBit = 31;
inline constexpr uint64_t kDbMask = uint64_t{1} << kDbBit;
inline constexpr uint64_t kUserDbMask = (uint64_t{1} << kDbBit) - 1;  // doorbells 0..30

// MSI-X vectors: users' doorbells on vector 0, the handshake bit and link events on vector 1.
inline constexpr uint8_t kUserVector = 0;
inline constexpr uint8_t kControlVector = 1;

}  // namespace pbx::hal::intel_ntb_handshake
