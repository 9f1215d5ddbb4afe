// The NT partitions of a Switchtec switch as one partition sees them, and the deterministic
// plans every partition derives from the same registers: who its peers are, which doorbell bits
// belong to whom, which message registers hear which peer, and which LUT entries of a
// partition's control block each of its peers owns. Pure functions over register values: the
// driver, pbx-probe and the tests share them.
//
// Facts (linux drivers/ntb/hw/mscc/ntb_hw_switchtec.c): a partition's peers are its target
// partitions (ntb_info.ntp_info[self].target_part_high:low); with no target vector and exactly
// two partitions the peer is the other NT partition of ep_map; Linux refuses more than one
// target ("ntb driver only supports 1 pair of 1-1 ntb mapping"). Doorbells: 64 bits shared by
// the partitions, Linux splits them 32/32 by partition order and uses 28 of each (the top 4 of
// the 64 share the message interrupt). Messages: imsg[i] hears the omsg named by msg_map byte i
// (partition << 2 | omsg index). LUT entries: rounded down to a power of two.
//
// postbox's own conventions beyond Linux's one pair (the switch documentation that would say
// how the hardware routes doorbells between more than two partitions is not public):
//  * peers: every target partition, in partition order (pidx 0, 1, ...);
//  * doorbells: the "domain" is every NT partition of ep_map. Two partitions: Linux's layout
//    exactly. More: partition of rank r (in ep_map order) receives in bits
//    [r*w, r*w + w) with w = 60 / n, so that every partition computes the same split and no
//    bit reaches the message bits 60..63. A ring says "look", not "who" (with more than two
//    partitions a receiver cannot tell which peer rang);
//  * messages: one peer: imsg[i] <- (peer, omsg i), as Linux. Several: imsg[k] <- (peer k,
//    omsg 0) for the first four peers, unused slots hear omsgs nobody writes; peers beyond the
//    fourth have no message slot (their link changes are found by polling their pages);
//  * LUT entries of partition P: the 2^k entries are cut into equal ranges, one per peer of P
//    in partition order; the peer that owns a range programs it to point at its own memory.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pbx/base/error.h"
#include "pbx/ntb/switchtec/regs.h"

namespace pbx::ntb::switchtec {

// The NTB info block as read (ntb_info_regs).
struct RawInfo {
  uint8_t partition_count = 0;
  uint8_t partition_id = 0;
  uint64_t ep_map = 0;        // partitions with an NT endpoint
  uint16_t requester_id = 0;  // the host bridge's requester ID, as the switch sees it
  std::array<uint32_t, kMaxPartitions> xlink{};     // ntp_info[p].xlink_enabled
  std::array<uint64_t, kMaxPartitions> targets{};   // ntp_info[p].target_part_high:low
};

// Peers of `partition` (sorted), by the rule above; empty when it has none.
std::vector<uint8_t> peers_of(const RawInfo& info, uint8_t partition);

struct Topology {
  uint8_t partition_count = 0;
  uint8_t self = 0;
  uint64_t ep_map = 0;
  uint16_t requester_id = 0;
  uint64_t targets = 0;         // self's target vector as read
  std::vector<uint8_t> peers;   // pidx -> partition
  bool crosslink = false;       // a peer is the virtual partition of two switches back to back
};

// Checks what a driver needs (a partition number in range, an NT partition, at least one
// peer, every peer an NT partition); errors name `where`, the register and the switch
// configuration to change.
[[nodiscard]] Result<Topology> decode_topology(const RawInfo& info, std::string_view where);

// ---- doorbells -------------------------------------------------------------------------------

struct DoorbellPlan {
  unsigned partitions = 0;       // NT partitions sharing the 64 bits
  unsigned width = 0;            // bits per partition
  uint64_t valid_mask = 0;       // usable bits of one partition, at shift 0
  std::array<uint8_t, kMaxPartitions> shift{};  // of each partition's bits; kNoShift if not in the domain
  static constexpr uint8_t kNoShift = 0xff;

  bool has(uint8_t partition) const noexcept { return partition < kMaxPartitions && shift[partition] != kNoShift; }
  // The bits of `partition` in the 64-bit registers.
  uint64_t bits_of(uint8_t partition) const noexcept {
    return has(partition) ? valid_mask << shift[partition] : 0;
  }
};
DoorbellPlan plan_doorbells(uint64_t ep_map, uint8_t partition_count) noexcept;

// ---- messages --------------------------------------------------------------------------------

struct MessagePlan {
  uint32_t msg_map = 0;                         // the value for self's msg_map register
  std::array<uint8_t, kMsgRegs> slot_partition{};  // imsg slot -> source partition
  std::array<uint8_t, kMsgRegs> slot_omsg{};       // imsg slot -> source omsg index
  // The slot that hears omsg 0 (the link message) of peer pidx; nullopt beyond the fourth peer.
  std::vector<std::optional<unsigned>> link_slot;
};
MessagePlan plan_messages(const std::vector<uint8_t>& peers);

// ---- LUT windows -----------------------------------------------------------------------------

// How partition `owner`'s LUT entries are shared among its peers.
struct LutPlan {
  uint8_t owner = 0;
  unsigned entries = 0;                  // usable entries: lut_table_entries rounded down to 2^k
  unsigned per_peer = 0;                 // entries of each range
  std::vector<uint8_t> peers;            // owner's peers, range i belongs to peers[i]
  // The range partition `writer` programs in owner's block; nullopt if it is not owner's peer.
  std::optional<unsigned> first_entry_of(uint8_t writer) const noexcept;
};
// `lut_table_entries` as read from owner's control block. Errors name the partition and say
// what to change in the switch configuration (a LUT count of 0: switchtec-kernel#109).
[[nodiscard]] Result<LutPlan> plan_luts(const RawInfo& info, uint8_t owner, uint16_t lut_table_entries,
                                        std::string_view where);

// The ctl value of owner's first direct BAR once its LUT windows are on: bits 7:0 kept,
// LUT_WIN_EN, log2(lut_size) << 8, (entries - 1) << 14 (ntb_hw_switchtec.c config_rsvd_lut_win).
uint32_t lut_bar_ctl(uint32_t old_ctl, uint64_t lut_size, unsigned entries) noexcept;

// Strings for messages and the probe.
std::string partition_list(uint64_t mask);  // "0, 3, 5" or "none"

}  // namespace pbx::ntb::switchtec
