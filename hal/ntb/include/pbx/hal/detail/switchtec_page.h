// The control page at the start of every window of the Switchtec backend: a wire format between
// hosts. Host j writes the page at the start of its window to host k (through the switch); host
// k reads it in its own memory (slot j of its inbound buffer). Every page has one writer.
//
// The page keeps the layout of Linux's struct shared_mw (ntb_hw_switchtec.c; driver
// regs.h PeerPage), so that a memory dump reads the same: magic 0x45CC0001, link_sta,
// partition_id, mw_sizes[128], spad[128]. What postbox puts where:
//
//   magic | link_sta      one 8-byte word, stored last (release): kSharedMagic | 1 << 32 = up,
//                         kSharedMagic | 0 = the writer closed
//   partition_id          the writer's partition
//   mw_sizes[0]           the writer's window size in bytes (every host must use the same)
//   spad[0..15]           the users' scratchpads (HAL spad_read / peer_spad_write)
//   spad[32..63]          doorbell counters: spad[32 + i] counts the rings of bit i by the writer
//   spad[120]             kPostboxMagic ("PBXS": postbox's use of the page, this version)
//   spad[121]             the writer's epoch: non-zero, new at every open
//   spad[122]             the reader's epoch the writer has seen last (its acknowledgement)
//
// Order of the writer's stores at every announcement: counters and scratchpads (the first one
// after an open), then partition, window size, version, epoch and acknowledgement, a flush, then
// the magic/link_sta word. The reader acquire-loads that word first.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pbx/ntb/switchtec/regs.h"

namespace pbx::hal::switchtec_page {

using ntb::switchtec::PeerPage;

inline constexpr uint32_t kPostboxMagic = 0x53584250;  // "PBXS"
inline constexpr unsigned kUserSpads = 16;
inline constexpr unsigned kDbBits = 32;
inline constexpr unsigned kSpadDb = 32;       // spad[32 + i]: rings of doorbell bit i
inline constexpr unsigned kSpadVersion = 120;
inline constexpr unsigned kSpadEpoch = 121;
inline constexpr unsigned kSpadAck = 122;

inline constexpr size_t kWord0 = offsetof(PeerPage, magic);  // magic (low) | link_sta (high)
inline constexpr size_t kPartition = offsetof(PeerPage, partition_id);
inline constexpr size_t kWindowSize = offsetof(PeerPage, mw_sizes);
constexpr size_t spad_off(unsigned i) { return offsetof(PeerPage, spad) + 4 * size_t{i}; }

constexpr uint64_t word0(bool up) {
  return uint64_t{ntb::switchtec::kSharedMagic} | (up ? uint64_t{1} << 32 : 0);
}

static_assert(kWord0 == 0 && offsetof(PeerPage, link_sta) == 4, "magic and link_sta share one 8-byte word");
static_assert(kWindowSize % 8 == 0);
static_assert(kSpadDb + kDbBits <= kSpadVersion && kSpadAck < ntb::switchtec::kSharedSpads);
static_assert(sizeof(PeerPage) <= 4096, "the page fits the 4 KiB each window reserves");

}  // namespace pbx::hal::switchtec_page
