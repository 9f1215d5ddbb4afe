#include "pbx/ntb/switchtec/topology.h"

#include <bit>
#include <cinttypes>

namespace pbx::ntb::switchtec {
namespace {

uint64_t partitions_below(unsigned count) noexcept {
  return count >= 64 ? ~uint64_t{0} : (uint64_t{1} << count) - 1;
}

constexpr const char* kConfigTool =
    "the switch configuration file (made with Microchip's ChipLink or Switchtec configuration tools, written with "
    "switchtec-user's fw-update, then a switch reset)";

}  // namespace

std::string partition_list(uint64_t mask) {
  if (mask == 0) return "none";
  std::string s;
  for (uint64_t m = mask; m != 0; m &= m - 1) {
    if (!s.empty()) s += ", ";
    s += std::to_string(std::countr_zero(m));
  }
  return s;
}

std::vector<uint8_t> peers_of(const RawInfo& info, uint8_t partition) {
  std::vector<uint8_t> peers;
  if (partition >= kMaxPartitions) return peers;
  const uint64_t valid = partitions_below(info.partition_count) & ~(uint64_t{1} << partition);
  uint64_t set = info.targets[partition] & valid;
  if (set == 0 && info.partition_count == 2) {
    // No target vector: with two partitions the peer is the other NT partition (Linux's rule).
    const uint64_t other = info.ep_map & valid;
    if (other != 0) set = other & (~other + 1);  // lowest bit, as ffs()
  }
  for (uint64_t m = set; m != 0; m &= m - 1) peers.push_back(static_cast<uint8_t>(std::countr_zero(m)));
  return peers;
}

Result<Topology> decode_topology(const RawInfo& info, std::string_view where) {
  const int wl = static_cast<int>(where.size());
  if (info.partition_count == 0xff && info.ep_map == ~uint64_t{0})
    return fail(Errc::kIoError,
                "%.*s: the NTB info block (GAS 0x%zx) reads all ones: the switch does not answer (memory decoding off, "
                "device in D3, or the switch is resetting); re-bind the NT endpoint to vfio-pci and retry",
                wl, where.data(), info_offset());
  if (info.partition_count == 0 || info.partition_count > kMaxPartitions)
    return fail(Errc::kNotSupported,
                "%.*s: NTB info partition_count (GAS 0x%zx) = %u: a Switchtec switch has 1..%u partitions; this is "
                "not a Switchtec NT endpoint's GAS, or its firmware is not running",
                wl, where.data(), info_offset(), info.partition_count, kMaxPartitions);
  Topology t;
  t.partition_count = info.partition_count;
  t.self = info.partition_id;
  t.ep_map = info.ep_map;
  t.requester_id = info.requester_id;
  if (t.self >= info.partition_count)
    return fail(Errc::kNotSupported,
                "%.*s: NTB info partition_id (GAS 0x%zx) = %u is not below partition_count %u: the switch firmware "
                "reports an inconsistent partition map; reset the switch",
                wl, where.data(), info_offset() + 1, t.self, info.partition_count);
  const uint64_t self_bit = uint64_t{1} << t.self;
  if ((info.ep_map & self_bit) == 0)
    return fail(Errc::kNotSupported,
                "%.*s: partition %u has no NT endpoint in ep_map 0x%" PRIx64 " (NT partitions: %s): this function is "
                "not set up for NTB; give partition %u an NT endpoint in %s",
                wl, where.data(), t.self, info.ep_map, partition_list(info.ep_map).c_str(), t.self, kConfigTool);
  t.targets = info.targets[t.self];
  t.peers = peers_of(info, t.self);
  if (t.peers.empty()) {
    if (info.partition_count == 2)
      return fail(Errc::kNotSupported,
                  "%.*s: partition %u has no target partitions and the other partition is not an NT partition (ep_map "
                  "0x%" PRIx64 "): give the other partition an NT endpoint in %s",
                  wl, where.data(), t.self, info.ep_map, kConfigTool);
    return fail(Errc::kNotSupported,
                "%.*s: partition %u of %u has no NT target partitions (ntp_info[%u] target vector 0): list the "
                "partitions it may reach as its NT targets in %s",
                wl, where.data(), t.self, info.partition_count, t.self, kConfigTool);
  }
  for (uint8_t p : t.peers) {
    if ((info.ep_map & (uint64_t{1} << p)) == 0)
      return fail(Errc::kNotSupported,
                  "%.*s: target partition %u of partition %u is not an NT partition (ep_map 0x%" PRIx64
                  ", NT partitions: %s): give partition %u an NT endpoint, or remove it from partition %u's targets, in "
                  "%s",
                  wl, where.data(), p, t.self, info.ep_map, partition_list(info.ep_map).c_str(), p, t.self, kConfigTool);
    if (info.xlink[p] != 0) t.crosslink = true;
  }
  return t;
}

DoorbellPlan plan_doorbells(uint64_t ep_map, uint8_t partition_count) noexcept {
  DoorbellPlan d;
  d.shift.fill(DoorbellPlan::kNoShift);
  const uint64_t domain = ep_map & partitions_below(std::min<unsigned>(partition_count, kMaxPartitions));
  d.partitions = static_cast<unsigned>(std::popcount(domain));
  if (d.partitions < 2) return d;  // nobody to ring
  if (d.partitions == 2) {
    // Linux: the lower partition receives in bits 0..27, the higher in 32..59.
    d.width = 32;
    d.valid_mask = 0x0fffffff;
  } else {
    d.width = 60 / d.partitions;
    d.valid_mask = (uint64_t{1} << d.width) - 1;
  }
  unsigned rank = 0;
  for (uint64_t m = domain; m != 0; m &= m - 1, ++rank)
    d.shift[static_cast<unsigned>(std::countr_zero(m))] = static_cast<uint8_t>(rank * d.width);
  return d;
}

MessagePlan plan_messages(const std::vector<uint8_t>& peers) {
  MessagePlan m;
  m.link_slot.assign(peers.size(), std::nullopt);
  if (peers.empty()) return m;
  for (unsigned slot = 0; slot < kMsgRegs; ++slot) {
    uint8_t part;
    uint8_t omsg;
    if (peers.size() <= kMsgRegs) {
      part = peers[slot % peers.size()];
      omsg = static_cast<uint8_t>(slot / peers.size());
    } else {
      part = peers[slot];
      omsg = 0;
    }
    m.slot_partition[slot] = part;
    m.slot_omsg[slot] = omsg;
    m.msg_map |= uint32_t{static_cast<uint8_t>(part << 2 | omsg)} << (8 * slot);
  }
  for (unsigned pidx = 0; pidx < peers.size() && pidx < kMsgRegs; ++pidx) m.link_slot[pidx] = pidx;
  return m;
}

std::optional<unsigned> LutPlan::first_entry_of(uint8_t writer) const noexcept {
  for (unsigned i = 0; i < peers.size(); ++i)
    if (peers[i] == writer) return i * per_peer;
  return std::nullopt;
}

Result<LutPlan> plan_luts(const RawInfo& info, uint8_t owner, uint16_t lut_table_entries, std::string_view where) {
  const int wl = static_cast<int>(where.size());
  LutPlan p;
  p.owner = owner;
  p.peers = peers_of(info, owner);
  p.entries = lut_table_entries == 0 ? 0 : std::bit_floor(std::min<unsigned>(lut_table_entries, kLutEntries));
  if (p.entries == 0)
    return fail(Errc::kNotSupported,
                "%.*s: partition %u's control block (GAS 0x%zx) has lut_table_entries = 0: its peers cannot reach it "
                "through LUT windows; set 'Maximum Number of NT Lut Entries' of partition %u above 0 in %s "
                "(Microsemi/switchtec-kernel#109)",
                wl, where.data(), owner, ctrl_offset(owner), owner, kConfigTool);
  if (p.peers.empty())
    return fail(Errc::kNotSupported, "%.*s: partition %u has no peers to share its %u LUT entries with", wl,
                where.data(), owner, p.entries);
  p.per_peer = p.entries / static_cast<unsigned>(p.peers.size());
  if (p.per_peer == 0)
    return fail(Errc::kNotSupported,
                "%.*s: partition %u has %u LUT entries for %zu peers: each peer needs at least one; raise 'Maximum Number "
                "of NT Lut Entries' of partition %u in %s",
                wl, where.data(), owner, p.entries, p.peers.size(), owner, kConfigTool);
  return p;
}

uint32_t lut_bar_ctl(uint32_t old_ctl, uint64_t lut_size, unsigned entries) noexcept {
  uint32_t v = old_ctl & 0xffu;
  v |= kBarLutWinEn;
  v |= static_cast<uint32_t>(std::countr_zero(lut_size)) << kBarLutSizeShift;
  v |= static_cast<uint32_t>(entries - 1) << kBarLutCountShift;
  return v;
}

}  // namespace pbx::ntb::switchtec
