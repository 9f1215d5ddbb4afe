// SwitchtecNtb: requester IDs, doorbells, message registers, link speed and width.
#include <cinttypes>
#include <cstdio>

#include "pbx/base/barrier.h"
#include "pbx/ntb/switchtec/switchtec_ntb.h"

namespace pbx::ntb::switchtec {

// ---- requester IDs ----------------------------------------------------------------------------

std::vector<RidEntry> SwitchtecNtb::rid_table(unsigned partition) const { return read_ctrl(gas_, partition).rids; }

Result<std::vector<RidEntry>> SwitchtecNtb::setup_requester_ids() {
  const char* nm = name_.c_str();
  const unsigned self = topo_.self;
  const auto c = gas_.ctrl(self);
  // Root complex 0:00.0 and the host bridge (ntb_hw_switchtec.c switchtec_ntb_init_req_id_table).
  const uint16_t want[2] = {0x0000, topo_.requester_id};
  const uint16_t size = c.read(CtrlRegs::req_id_table_size);
  if (size < 2)
    return fail(Errc::kNotSupported,
                "%s: partition %u's requester-ID table holds %u entries; 2 are needed (root complex 00:00.0 and host "
                "bridge %s): raise the partition's requester-ID table size in the switch configuration",
                nm, self, size, format_bdf16(topo_.requester_id).c_str());
  const uint32_t old_ctrl = c.read(CtrlRegs::partition_ctrl);
  const uint32_t old[2] = {c.read(CtrlRegs::req_id_table, 0), c.read(CtrlRegs::req_id_table, 1)};
  char what[96];
  std::snprintf(what, sizeof what, "requester IDs 00:00.0 and %s", format_bdf16(topo_.requester_id).c_str());
  auto ok = txn().run(
      self, what,
      [&] {
        c.write(CtrlRegs::partition_ctrl, kPartCtrlIdProtDis);
        for (unsigned i = 0; i < 2; ++i)
          c.write(CtrlRegs::req_id_table, i, uint32_t{want[i]} << kReqIdShift | kReqIdEn);
      },
      [&] {
        c.write(CtrlRegs::partition_ctrl, old_ctrl);
        for (unsigned i = 0; i < 2; ++i) c.write(CtrlRegs::req_id_table, i, old[i]);
      });
  if (!ok) return tl::unexpected(ok.error());
  for (unsigned i = 0; i < 2; ++i) {
    const uint32_t v = c.read(CtrlRegs::req_id_table, i);
    if ((v & kReqIdEn) == 0 || (v >> kReqIdShift) != want[i])
      return fail(Errc::kIoError,
                  "%s: requester-ID table entry %u of partition %u reads 0x%08x after configure, not requester %s "
                  "enabled: the switch did not take it (another host configuring partition %u?); retry",
                  nm, i, self, v, format_bdf16(want[i]).c_str(), self);
  }
  return rid_table(self);
}

// ---- doorbells --------------------------------------------------------------------------------

void SwitchtecNtb::init_doorbells_and_messages() {
  const auto d = gas_.dbmsg(topo_.self);
  // Every doorbell of ours masked, message interrupts on (ntb_hw_switchtec.c init_db writes
  // ~db_mask with db_mask = 0x0FFF_FFFF_FFFF_FFFF: only bits 60..63 enabled).
  db_mask_ = db_.valid_mask;
  d.write(DbMsgRegs::idb_mask, kDbMsgBits);
  // We may ring the slices of our peers, and only those.
  uint64_t out = 0;
  for (uint8_t q : topo_.peers) out |= db_.bits_of(q);
  d.write(DbMsgRegs::odb_mask, out);
  // Messages: which peer each incoming register hears; clear and mask all four (init_msgs).
  d.write(DbMsgRegs::msg_map, msg_.msg_map);
  for (unsigned i = 0; i < kMsgRegs; ++i) d.write(DbMsgRegs::imsg, i, kImsgStatus | kImsgMask);
}

uint64_t SwitchtecNtb::db_read() noexcept {
  if (!db_.has(topo_.self)) return 0;
  const uint64_t v = gas_.dbmsg(topo_.self).read(DbMsgRegs::idb);
  // Orders the status read before the reads of what the ring announces: pairs with the
  // wc_flush() in the ringing host's peer_db_set().
  from_peer_barrier();
  return (v >> db_.shift[topo_.self]) & db_.valid_mask;
}

Result<void> SwitchtecNtb::db_clear(uint64_t bits) {
  if ((bits & ~db_.valid_mask) != 0)
    return fail(Errc::kInvalidArgument, "%s: db_clear(0x%" PRIx64 "): valid doorbell bits are 0x%" PRIx64,
                name_.c_str(), bits, db_.valid_mask);
  if (bits != 0) gas_.dbmsg(topo_.self).write(DbMsgRegs::idb, bits << db_.shift[topo_.self]);
  return {};
}

Result<void> SwitchtecNtb::db_set_mask(uint64_t bits) {
  if ((bits & ~db_.valid_mask) != 0)
    return fail(Errc::kInvalidArgument, "%s: db_set_mask(0x%" PRIx64 "): valid doorbell bits are 0x%" PRIx64,
                name_.c_str(), bits, db_.valid_mask);
  db_mask_ |= bits;
  const uint64_t enabled = db_.valid_mask & ~db_mask_;
  gas_.dbmsg(topo_.self).write(DbMsgRegs::idb_mask, kDbMsgBits | (db_.has(topo_.self) ? enabled << db_.shift[topo_.self] : 0));
  return {};
}

Result<void> SwitchtecNtb::db_clear_mask(uint64_t bits) {
  if ((bits & ~db_.valid_mask) != 0)
    return fail(Errc::kInvalidArgument, "%s: db_clear_mask(0x%" PRIx64 "): valid doorbell bits are 0x%" PRIx64,
                name_.c_str(), bits, db_.valid_mask);
  db_mask_ &= ~bits;
  const uint64_t enabled = db_.valid_mask & ~db_mask_;
  gas_.dbmsg(topo_.self).write(DbMsgRegs::idb_mask, kDbMsgBits | (db_.has(topo_.self) ? enabled << db_.shift[topo_.self] : 0));
  return {};
}

Result<void> SwitchtecNtb::peer_db_set(unsigned pidx, uint64_t bits) {
  if (auto ok = check_pidx(pidx, "peer_db_set"); !ok) return ok;
  if ((bits & ~db_.valid_mask) != 0)
    return fail(Errc::kInvalidArgument, "%s: peer_db_set(%u, 0x%" PRIx64 "): valid doorbell bits are 0x%" PRIx64,
                name_.c_str(), pidx, bits, db_.valid_mask);
  const uint8_t peer = topo_.peers[pidx];
  if (!db_.has(peer))
    return fail(Errc::kNotSupported, "%s: partition %u has no doorbell bits (not an NT partition of ep_map)",
                name_.c_str(), peer);
  // Drains write-combining buffers and orders every earlier store (window data, the peer's
  // page) before the ring: pairs with the from_peer_barrier() in the peer's db_read().
  wc_flush();
  gas_.dbmsg(topo_.self).write(DbMsgRegs::odb, bits << db_.shift[peer]);
  return {};
}

uint16_t SwitchtecNtb::event_vector() const noexcept {
  return gas_.part_cfg(topo_.self).read(PartCfgRegs::vep_vector_number);
}

Result<void> SwitchtecNtb::map_vectors(uint8_t db_vector, uint8_t msg_vector) {
  const uint16_t ev = event_vector();
  if (db_vector == ev || msg_vector == ev || db_vector == msg_vector)
    return fail(Errc::kInvalidArgument,
                "%s: map_vectors(%u, %u): the doorbell and message vectors must differ from each other and from the "
                "partition's event vector %u (part_cfg vep_vector_number)",
                name_.c_str(), db_vector, msg_vector, ev);
  const auto d = gas_.dbmsg(topo_.self);
  constexpr unsigned kSources = 64;
  for (unsigned i = 0; i < kSources; ++i) d.write(DbMsgRegs::idb_vec_map, i, i < kSources - 4 ? db_vector : msg_vector);
  return {};
}

// ---- message registers ------------------------------------------------------------------------

Result<void> SwitchtecNtb::peer_msg_write(unsigned midx, uint32_t value) {
  if (midx >= kMsgRegs)
    return fail(Errc::kInvalidArgument, "%s: message register %u does not exist (0..%u)", name_.c_str(), midx,
                kMsgRegs - 1);
  // Orders earlier stores (the page the message announces) before the message: pairs with the
  // from_peer_barrier() in the receiver's msg_read().
  wc_flush();
  gas_.dbmsg(topo_.self).write(DbMsgRegs::omsg, midx, value);
  return {};
}

std::vector<InMessage> SwitchtecNtb::msg_read() noexcept {
  std::vector<InMessage> in;
  const auto d = gas_.dbmsg(topo_.self);
  for (unsigned i = 0; i < kMsgRegs; ++i) {
    const uint64_t v = d.read(DbMsgRegs::imsg, i);
    if ((v & kImsgStatus) != 0)
      in.push_back(InMessage{i, static_cast<uint8_t>(v >> kImsgSrcShift), static_cast<uint32_t>(v)});
  }
  from_peer_barrier();
  return in;
}

Result<void> SwitchtecNtb::msg_clear(unsigned slot) {
  if (slot >= kMsgRegs)
    return fail(Errc::kInvalidArgument, "%s: message register %u does not exist (0..%u)", name_.c_str(), slot,
                kMsgRegs - 1);
  // The status byte is write-1-to-clear (ntb_hw_switchtec.c switchtec_ntb_message_isr).
  gas_.dbmsg(topo_.self).write(DbMsgRegs::imsg_status, slot, 1);
  return {};
}

std::optional<unsigned> SwitchtecNtb::link_slot(unsigned pidx) const noexcept {
  return pidx < msg_.link_slot.size() ? msg_.link_slot[pidx] : std::nullopt;
}

// ---- link -------------------------------------------------------------------------------------

Result<PcieLink> SwitchtecNtb::partition_link(unsigned partition) const {
  if (partition >= topo_.partition_count)
    return fail(Errc::kInvalidArgument, "%s: partition %u does not exist (0..%u)", name_.c_str(), partition,
                topo_.partition_count - 1u);
  auto l = read_partition_link(gas_, partition);
  if (!l) return tl::unexpected(with_context(l.error(), name_));
  return l;
}

Result<PcieLink> SwitchtecNtb::peer_link(unsigned pidx) const {
  if (auto ok = check_pidx(pidx, "peer_link"); !ok) return tl::unexpected(ok.error());
  auto a = partition_link(topo_.self);
  if (!a) return a;
  auto b = partition_link(topo_.peers[pidx]);
  if (!b) return b;
  PcieLink l;
  l.active = a->active && b->active;
  l.speed_code = std::min(a->speed_code, b->speed_code);
  l.width = std::min(a->width, b->width);
  return l;
}

}  // namespace pbx::ntb::switchtec
