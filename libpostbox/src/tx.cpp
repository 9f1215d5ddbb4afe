// Sender side of the postbox protocol: indicators, the buffer pool, acknowledgements read
// locally, reclaiming memory, and messages in pieces.
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "endpoint_impl.h"
#include "checksum.h"
#include "inline_codec.h"

namespace pbx::detail {

using hal::StoreKind;
using wire::checked;

// ---- helpers --------------------------------------------------------------------------

Result<TxChannel*> EndpointImpl::tx_channel(Rank dst, std::span<const std::byte> msg, const char* op) noexcept {
  if (!shape().contains(dst)) return tl::unexpected(shape().check_rank(dst, op).error());
  if (msg.size() > config().max_message)
    return fail(Errc::kMessageTooLarge,
                "%s: the message of %zu bytes to rank (%u, %u) is above max_message = %llu bytes: split it, or "
                "raise Config::max_message in every process",
                op, msg.size(), dst.node, dst.local, static_cast<unsigned long long>(config().max_message));
  return &tx_[shape().flat(dst)];
}

Error EndpointImpl::channel_error(const TxChannel& ch, const char* op) const {
  switch (ch.state) {
    case ChannelState::kLinkDown:
      return make_error(Errc::kLinkDown,
                   "%s: the link to node %u (rank (%u, %u)) is down; the message was not sent. Send again once "
                   "the link is back: messages lost in the outage are reported then",
                   op, ch.dst.node, ch.dst.node, ch.dst.local);
    case ChannelState::kCorrupt:
      return make_error(Errc::kProtocolError,
                        "%s: rank (%u, %u) wrote an invalid acknowledgement into this node's memory (released %llu "
                        "and taken %llu for epochs %u and %u; this side: epoch %llu, released %llu, sent %llu, %llu "
                        "messages; counted in Stats::bad_acks); the channel to it is closed until it is restarted",
                        op, ch.dst.node, ch.dst.local, static_cast<unsigned long long>(wire::ack_count(ch.bad_ack[0])),
                        static_cast<unsigned long long>(wire::ack_count(ch.bad_ack[1])), wire::ack_epoch(ch.bad_ack[0]),
                        wire::ack_epoch(ch.bad_ack[1]), static_cast<unsigned long long>(ch.bad_ack[2]),
                        static_cast<unsigned long long>(ch.bad_ack[3]), static_cast<unsigned long long>(ch.bad_ack[4]),
                        static_cast<unsigned long long>(ch.bad_ack[5]));
    case ChannelState::kGone:
      return make_error(Errc::kPeerGone,
                        "%s: rank (%u, %u) has %s; the message was not sent (a restarted process under that rank is "
                        "reachable again)",
                        op, ch.dst.node, ch.dst.local,
                        peers_[shape().flat(ch.dst)].died ? "died" : "left the job (it closed its endpoint)");
    case ChannelState::kResyncing: return Error(Errc::kWouldBlock);
    case ChannelState::kOk: break;
  }
  return Error(Errc::kIoError, "channel in an unexpected state");
}

// Whether a message may be sent on `ch` now. kWouldBlock while a link resync is pending.
Result<void> EndpointImpl::tx_admit(TxChannel& ch) noexcept {
  if (ch.state != ChannelState::kOk) {
    if (ch.state == ChannelState::kLinkDown) check_links();  // it may be back: look before failing
    if (ch.state == ChannelState::kResyncing) refresh_acks(ch);
    if (ch.state != ChannelState::kOk) return tl::unexpected(channel_error(ch, "send"));
  }
  if (ch.unreported != 0) {
    const uint64_t lost = std::exchange(ch.unreported, 0);
    return fail(Errc::kLinkDown,
                "send: the link to node %u went down and came back: the last %llu message(s) sent to rank (%u, %u) "
                "before the outage were not delivered (numbers %llu..%llu, Endpoint::take_lost), and this message "
                "was not sent either; send them again",
                ch.dst.node, static_cast<unsigned long long>(lost), ch.dst.node, ch.dst.local,
                static_cast<unsigned long long>(ch.messages - lost), static_cast<unsigned long long>(ch.messages - 1));
  }
  return {};
}

// The loss of the last `count` messages completed on `ch`: reported by take_lost(), and as the
// error of the next send to that receiver when the link is to blame.
void EndpointImpl::report_lost(TxChannel& ch, uint64_t count, Errc reason) noexcept {
  if (count == 0) return;
  ch.lost_for_target += count;
  if (reason == Errc::kLinkDown) {
    ch.unreported += count;
    stats_.lost_on_link_down += count;
  } else if (reason == Errc::kPeerGone) {
    stats_.lost_on_peer_gone += count;
  }
  lost_.push_back(LostMessages{ch.dst, ch.messages - count, count, reason});  // cold path: a fault
}

// Only the last postbox_slots sequence numbers are still in the shadows; every message that ended
// before them was acknowledged as delivered.
uint64_t EndpointImpl::message_ends(const TxChannel& ch, uint64_t from, uint64_t to) const noexcept {
  if (to - from > layout_.slots()) from = to - layout_.slots();
  uint64_t n = 0;
  for (uint64_t s = from; s < to; ++s) n += ch.shadow[s & slots_mask_].ends_message ? 1 : 0;
  return n;
}

std::optional<LostMessages> EndpointImpl::take_lost() noexcept {
  if (lost_.empty()) return std::nullopt;
  LostMessages l = lost_.front();
  lost_.pop_front();
  return l;
}

// Zeroes every postbox header and slot of `seg` (no line of it then passes any check byte).
// The payload rings hold only bytes that indicators point to: they need no clearing.
void EndpointImpl::clear_postboxes(TxSegment& seg) noexcept {
  const uint64_t zero[8] = {};
  for (uint16_t r = 0; r < ppn_; ++r)
    for (size_t off = layout_.postbox_off(r); off < layout_.ring_off(r); off += wire::kLine)
      seg.win.store_line(off, zero, StoreKind::kControl);
  seg.win.flush();  // cleared before anything written after it (epoch headers)
}

// c31, c34: the data segment on the receiver's node is created when first needed. Our
// incarnation goes first: a receiver that followed an earlier incarnation of ours stops reading
// this memory before anything in it changes. Then every postbox starts empty, with an epoch
// for the receiver's current incarnation; the magic last.
Result<void> EndpointImpl::ensure_segment(TxSegment& seg) noexcept {
  if (seg.created) return {};
  if (auto ok = dev_->commit_peer_memory(hal::NodeIdx(seg.node), layout_.segment_off(self_.local), layout_.segment_size());
      !ok)
    return tl::unexpected(with_context(ok.error(), "creating this process's segment on node " + std::to_string(seg.node)));
  // Release: pairs with the load of the incarnation after every payload copy (copy_checked).
  seg.win.store64_release(wire::seg::kIncarnation, incarnation_, StoreKind::kControl);
  seg.win.flush();  // receivers see the new incarnation before any postbox or pool byte changes
  clear_postboxes(seg);
  for (TxChannel& t : tx_)
    if (t.seg == &seg) start_epoch(t, t.target);  // (the incarnation check_peers() knows of)
  seg.win.store64(wire::seg::kFingerprint, layout_.fingerprint(), StoreKind::kControl);
  seg.win.store64(wire::seg::kPid, static_cast<uint64_t>(::getpid()), StoreKind::kControl);
  seg.win.flush();  // the cleared postboxes and the header fields land before the magic
  // Release: pairs with the acquire load of the magic in follow_segment().
  seg.win.store64_release(wire::seg::kMagic, wire::kSegmentMagic, StoreKind::kControl);
  seg.win.push();
  seg.created = true;
  ++stats_.segments_created;
  return {};
}

// Reads the receiver's ack block (local memory: c33) and reclaims what it acknowledged.
// Returns false if the ack block holds garbage (the channel is then closed).
bool EndpointImpl::refresh_acks(TxChannel& ch) noexcept {
  ++stats_.ack_reads;
  if (!ch.ack_follows_us) {
    // Acquire: pairs with the receiver's release store of word 2 in write_adoption_ack(); its
    // count words were reset before it, so nothing read after this is an earlier incarnation's.
    if (ch.ack.load64_acquire(wire::ack::kSender) != incarnation_) return true;  // not followed yet
    ch.ack_follows_us = true;
  }
  // Acquire: pairs with the release store of word 0 in write_ack(): the receiver finished
  // reading the memory it released before it wrote this count.
  const uint64_t w0 = ch.ack.load64_acquire(wire::ack::kReleased);
  if (ch.state == ChannelState::kResyncing) {
    if (wire::ack_epoch(w0) != ch.epoch) return true;  // not adopted yet
    const uint64_t w1 = ch.ack.load64(wire::ack::kTaken);  // written before word 0
    const uint64_t taken = wire::ack_count(w1);
    const uint64_t rel = wire::ack_count(w0);
    const uint64_t completed = ch.messages - ch.messages_at_target;
    --resyncing_;
    ch.fast_until = 0;
    if (wire::ack_epoch(w1) != ch.epoch || taken + ch.lost_for_target > completed || rel < ch.released ||
        rel > ch.head) {
      ++stats_.bad_acks;
      ch.state = ChannelState::kCorrupt;
      ch.bad_ack[0] = w0, ch.bad_ack[1] = w1, ch.bad_ack[2] = ch.epoch, ch.bad_ack[3] = ch.released;
      ch.bad_ack[4] = ch.head, ch.bad_ack[5] = completed;
      report_lost(ch, message_ends(ch, ch.released, ch.head), Errc::kProtocolError);  // their fate is unknown
      return false;
    }
    ++stats_.link_resyncs;
    ch.state = ChannelState::kOk;
    ch.resync_owed = false;
    // Nothing was sent since the outage: what the receiver did not take is the tail it lost.
    report_lost(ch, completed - taken - ch.lost_for_target, Errc::kLinkDown);
    reclaim(ch, rel);
    return true;
  }
  uint64_t v = 0;
  switch (wire::check_ack(w0, ch.epoch, ch.released, ch.head, v)) {
    case wire::AckCheck::kStale: return true;
    case wire::AckCheck::kBad:
      ++stats_.bad_acks;
      ch.state = ChannelState::kCorrupt;
      ch.bad_ack[0] = w0, ch.bad_ack[1] = ch.ack.load64(wire::ack::kTaken), ch.bad_ack[2] = ch.epoch;
      ch.bad_ack[3] = ch.released, ch.bad_ack[4] = ch.head, ch.bad_ack[5] = ch.messages - ch.messages_at_target;
      report_lost(ch, message_ends(ch, ch.released, ch.head), Errc::kProtocolError);  // their fate is unknown
      ch.fast_until = 0;
      return false;
    case wire::AckCheck::kOk: break;
  }
  if (v != ch.released) reclaim(ch, v);
  return true;
}

// c11-c13, c16-c20: acknowledged indicators free their postbox slots and buffer blocks; the
// receiver's block count drops, and a receiver holding none leaves the receiver list.
void EndpointImpl::reclaim(TxChannel& ch, uint64_t new_released) noexcept {
  const uint32_t mask = layout_.slots() - 1;
  for (uint64_t s = ch.released; s < new_released; ++s) {
    SlotShadow& sh = ch.shadow[s & mask];
    if (sh.ring_end != 0) ch.ring_released = sh.ring_end;  // ring messages are freed in order
    if (sh.blocks != 0) {
      ch.seg->pool.free(sh.first_block, sh.blocks);
      ch.blocks_held -= sh.blocks;
      stats_.blocks_reclaimed += sh.blocks;
      sh.blocks = 0;  // (ends_message stays until the slot is reused: loss accounting reads it)
    }
  }
  stats_.slots_reclaimed += new_released - ch.released;
  ch.released = new_released;
  if (ch.blocks_held == 0 && ch.hook.linked) receiver_list_.remove(&ch);
}

// c10, c28: under memory pressure, walk the receiver list in first-sent order and reclaim
// from the receivers on the node whose pool ran short. Returns whether blocks were freed.
bool EndpointImpl::reclaim_for_node(const TxSegment& seg) noexcept {
  ++stats_.receiver_list_walks;
  const uint32_t before = seg.pool.free_blocks();
  for (TxChannel* c = receiver_list_.front(); c != nullptr;) {
    TxChannel* next = IntrusiveList<TxChannel>::next(c);  // reclaiming may unlink c
    if (c->seg == &seg) refresh_acks(*c);
    c = next;
  }
  return seg.pool.free_blocks() > before;
}

void EndpointImpl::charge_blocks(TxChannel& ch, uint32_t blocks) noexcept {
  if (!ch.hook.linked) receiver_list_.push_back(&ch);  // c27: joins in the order of first (re)use
  ch.blocks_held += blocks;
}

void EndpointImpl::publish(TxChannel& ch, const uint64_t (&w)[8], StoreKind kind) noexcept {
  // Release: word 0 is stored after words 1..7 for the compiler and the CPU; pairs with the
  // acquire load of word 0 in peek_at() / recv_fast(). (On a WC mapping the per-word check
  // bytes, not this order, make the line safe to read.)
  ch.slots.store_line(slot_off(ch.head), w, kind);
  ch.slots.push();  // send the line out now on write-combining mappings
}

// A small message travels inside the indicator line and, above 49 bytes, in the lines right
// after it (c2): no pool, no fence; every word checks itself (wire.h, "Inline messages").
[[gnu::always_inline]] inline void EndpointImpl::send_inline(TxChannel& ch, const std::byte* data, size_t n,
                                                             uint32_t tag, uint8_t flags) noexcept {
  const auto lines = static_cast<uint32_t>(wire::inline_lines(n));
  alignas(64) uint64_t w[8];
  // Continuation lines first: x86 keeps stores in order, so a receiver that sees the
  // indicator line sees them too (on any mapping the check bytes make any order safe).
  for (uint32_t k = lines - 1; k >= 1; --k) {
    const uint64_t seq = ch.head + k;
    wire::pack_inline_line_fast(data, n, k, w, wire::check_byte(seq, slots_log2_));
    ch.shadow[seq & slots_mask_] = SlotShadow{0, 0, k + 1 == lines, 0};
    ch.slots.store_line(slot_off(seq), w, StoreKind::kSelfValidating);
  }
  const uint8_t check = wire::check_byte(ch.head, slots_log2_);
  w[0] = wire::encode_header({wire::Kind::kInline, flags, static_cast<uint16_t>(n), tag}, check);
  wire::pack_inline_line_fast(data, n, 0, w, check);
  ch.shadow[ch.head & slots_mask_] = SlotShadow{0, 0, lines == 1, 0};
  publish(ch, w, StoreKind::kSelfValidating);
  ch.head += lines;
  ++ch.messages;
  ++stats_.tx_inline;
  ++stats_.tx_msgs;
  stats_.tx_bytes += n;
}

// Copies a payload to `off` in `area` (a payload ring, or the segment for the pool) with its
// CRC32C from our buffer when checksums are on, and returns the indicator's checksum word.
uint64_t EndpointImpl::write_payload(hal::OutboundWindow& area, uint64_t off, const std::byte* data, uint64_t n) noexcept {
  if (!checksum_) {
    area.write(off, data, n, StoreKind::kPayload);
    return 0;
  }
  const uint32_t crc = area.write_with(off, data, n, StoreKind::kPayload, [](void* d, const void* s, size_t k) {
    return copy_with_crc32c(d, s, k, ChecksumSide::kSource);
  });
  return wire::kChecksumPresent | crc;
}

// A message of inline_max + 1 .. ring_max bytes goes into the receiver's payload ring, right
// after the previous one (one that would cross the ring's end starts at its beginning), so
// that the receiver reads on where it read last. False (nothing sent): no room in the ring
// until the receiver acknowledges more.
bool EndpointImpl::send_ring(TxChannel& ch, const std::byte* data, size_t n, uint32_t tag, uint8_t flags) noexcept {
  const uint64_t size = ring_mask_ + 1;
  const uint64_t need = (uint64_t{n} + wire::kLine - 1) & ~uint64_t{wire::kLine - 1};
  uint64_t at = ch.ring_head;
  if ((at & ring_mask_) + need > size) at += size - (at & ring_mask_);  // skip the ring's tail
  const uint64_t end = at + need;
  if (end - ch.ring_released > size) return false;
  if (end - ch.ring_released > size / 2) flags |= wire::flag::kAckNow;  // half full: ask for an ack now
  const uint64_t pos = at & ring_mask_;
  const uint64_t sum = write_payload(ch.ring, pos, data, n);
  ch.ring.flush();  // the payload lands before the indicator that publishes it (pairs with from_peer_barrier() on receipt)
  const uint8_t check = wire::check_byte(ch.head, slots_log2_);
  uint64_t w[8];
  w[0] = wire::encode_header({wire::Kind::kRing, flags, 0, tag}, check);
  w[1] = wire::checked(pos >> 6, check);
  w[2] = wire::checked(n, check);
  w[3] = wire::checked(sum, check);
  for (size_t i = 4; i < 8; ++i) w[i] = wire::checked(0, check);
  ch.shadow[ch.head & slots_mask_] = SlotShadow{0, 0, true, end};
  publish(ch, w, StoreKind::kIndicator);
  ch.ring_head = end;
  ++ch.head;
  ++ch.messages;
  ++stats_.tx_ring;
  ++stats_.tx_msgs;
  stats_.tx_bytes += n;
  return true;
}

// ---- one indicator: inline or pool message (<= CTS) ------------------------------------

Result<void> EndpointImpl::tx_one(TxChannel& ch, const std::byte* data, size_t n, uint32_t tag) noexcept {
  const Layout& L = layout_;
  const uint32_t K = L.slots();
  // c8: first, room for an indicator (and an inline message's lines) in the receiver's postbox...
  const uint64_t slots = n <= inline_max_ ? wire::inline_lines(n) : 1;
  if (ch.head + slots - ch.released > K) {
    if (!refresh_acks(ch)) return tl::unexpected(channel_error(ch, "send"));
    if (ch.head + slots - ch.released > K) {
      ++stats_.tx_would_block;
      return tl::unexpected(Error(Errc::kWouldBlock));
    }
  }
  TxSegment& seg = *ch.seg;
  if (auto ok = ensure_segment(seg); !ok) return ok;
  uint8_t flags = 0;
  if (ch.head - ch.released >= K / 2) {  // half full: look for acks, else ask for one now
    if (!refresh_acks(ch)) return tl::unexpected(channel_error(ch, "send"));
    if (ch.head - ch.released >= K / 2) flags |= wire::flag::kAckNow;
  }
  if (n <= inline_max_) {
    send_inline(ch, data, n, tag, flags);
    return {};
  }
  if (n <= ring_max_) {  // ...or room in the payload ring
    if (send_ring(ch, data, n, tag, flags)) return {};
    if (!refresh_acks(ch)) return tl::unexpected(channel_error(ch, "send"));
    if (send_ring(ch, data, n, tag, flags)) return {};
    ++stats_.tx_would_block;
    return tl::unexpected(Error(Errc::kWouldBlock));
  }
  // ...then enough unallocated pool (c8), reclaiming through the receiver list if short (c10).
  const auto nb = static_cast<uint32_t>((std::max<size_t>(n, 1) + L.block_size() - 1) >> L.block_log2());
  auto blk = seg.pool.alloc(nb);
  if (!blk && reclaim_for_node(seg)) blk = seg.pool.alloc(nb);
  if (!blk) {
    ++stats_.tx_would_block;
    return tl::unexpected(Error(Errc::kWouldBlock));
  }
  if (seg.pool.free_blocks() < seg.pool.blocks() / 4) flags |= wire::flag::kAckNow;
  const uint64_t pool_rel = uint64_t{*blk} << L.block_log2();
  const uint64_t sum = write_payload(seg.win, layout_.pool_off() + pool_rel, data, n);
  seg.win.flush();  // the payload lands before the indicator that publishes it (pairs with from_peer_barrier() in peek())
  const uint8_t check = wire::check_byte(ch.head, L.slots_log2());
  uint64_t w[8];
  w[0] = wire::encode_header({wire::Kind::kPool, flags, 0, tag}, check);
  w[1] = checked(pool_rel >> 6, check);
  w[2] = checked(n, check);
  w[3] = checked(sum, check);
  for (size_t i = 4; i < 8; ++i) w[i] = checked(0, check);
  ch.shadow[ch.head & (K - 1)] = SlotShadow{*blk, nb, true, 0};
  charge_blocks(ch, nb);
  publish(ch, w, StoreKind::kIndicator);
  ++ch.head;
  ++ch.messages;
  ++stats_.tx_pool;
  ++stats_.tx_msgs;
  stats_.tx_bytes += n;
  return {};
}

// ---- messages above the CTS: pieces (c22-c26) ------------------------------------------
//
// The message takes one region of CTS bytes from the pool (c25: the most memory one message
// uses), cut into cts_slices slices. Piece i goes into slice i % cts_slices; a slice is
// reused for a later piece once the receiver acknowledged the piece in it (c24), so the
// sender writes one piece while the receiver copies out the previous ones.
Result<bool> EndpointImpl::tx_large_step(SendRequest& r) noexcept {
  TxChannel& ch = *r.ch;
  TxSegment& seg = *ch.seg;
  const Layout& L = layout_;
  const uint32_t K = L.slots();
  if (!r.region_held) {
    if (auto ok = ensure_segment(seg); !ok) return tl::unexpected(ok.error());
    const auto nb = static_cast<uint32_t>(config().cts >> L.block_log2());
    auto blk = seg.pool.alloc(nb);
    // c26: recover memory of earlier messages (receiver list walk) to send this one.
    if (!blk && reclaim_for_node(seg)) blk = seg.pool.alloc(nb);
    if (!blk) return false;
    r.region_held = true;
    r.region_first = *blk;
    r.region_blocks = nb;
    r.next_slice = 0;
    std::fill(std::begin(r.slice_seq), std::end(r.slice_seq), 0);
    charge_blocks(ch, nb);
  }
  const uint64_t piece = config().piece_size();
  while (r.sent < r.size) {
    uint64_t& slice_owner = r.slice_seq[r.next_slice];  // seq + 1 of the piece in this slice, 0 if none
    if (slice_owner != 0 && ch.released < slice_owner) {
      if (!refresh_acks(ch)) return tl::unexpected(channel_error(ch, "send"));
      if (ch.released < slice_owner) return false;  // c24: reuse only after the ack
    }
    if (ch.head - ch.released >= K) {
      if (!refresh_acks(ch)) return tl::unexpected(channel_error(ch, "send"));
      if (ch.head - ch.released >= K) return false;
    }
    const uint64_t len = std::min(piece, r.size - r.sent);
    const uint64_t pool_rel = (uint64_t{r.region_first} << L.block_log2()) + r.next_slice * piece;
    const uint64_t sum = write_payload(seg.win, layout_.pool_off() + pool_rel, r.data + r.sent, len);
    seg.win.flush();  // the piece lands before the indicator that publishes it (pairs with from_peer_barrier() in peek())
    const bool last = r.sent + len == r.size;
    const uint8_t check = wire::check_byte(ch.head, L.slots_log2());
    const uint8_t flags = wire::flag::kAckNow | (last ? wire::flag::kLastPiece : 0);
    uint64_t w[8];
    w[0] = wire::encode_header({wire::Kind::kPiece, flags, 0, r.tag}, check);
    w[1] = checked(pool_rel >> 6, check);
    w[2] = checked(len, check);
    w[3] = checked(r.sent, check);
    w[4] = checked(r.size, check);
    w[5] = checked(sum, check);
    for (size_t i = 6; i < 8; ++i) w[i] = checked(0, check);
    // The last piece owns the region: acknowledging it frees the whole CTS.
    ch.shadow[ch.head & (K - 1)] = last ? SlotShadow{r.region_first, r.region_blocks, true, 0} : SlotShadow{};
    publish(ch, w, StoreKind::kIndicator);
    slice_owner = ch.head + 1;
    ++ch.head;
    r.sent += len;
    r.next_slice = (r.next_slice + 1) % config().cts_slices;
    ++stats_.tx_pieces;
  }
  r.region_held = false;  // owned by the last piece's slot now
  ++ch.messages;
  ++stats_.tx_msgs;
  stats_.tx_bytes += r.size;
  return true;
}

// A message in pieces gave up half-way: its region goes back to the pool once the pieces
// already published are acknowledged (or now, if none is outstanding).
void EndpointImpl::abort_large(SendRequest& r) noexcept {
  if (!r.region_held) return;
  TxChannel& ch = *r.ch;
  r.region_held = false;
  if (r.sent != 0 && ch.released < ch.head) {
    ch.shadow[(ch.head - 1) & (layout_.slots() - 1)] = SlotShadow{r.region_first, r.region_blocks, false, 0};
    return;
  }
  ch.seg->pool.free(r.region_first, r.region_blocks);
  ch.blocks_held -= r.region_blocks;
  if (ch.blocks_held == 0 && ch.hook.linked) receiver_list_.remove(&ch);
}

// ---- requests (isend, and send() of messages above the CTS) ----------------------------

Result<SendRequest*> EndpointImpl::start_request(TxChannel& ch, std::span<const std::byte> msg, uint32_t tag) noexcept {
  SendRequest* free_slot = nullptr;
  for (SendRequest& r : requests_)
    if (!r.in_use) {
      free_slot = &r;
      break;
    }
  if (free_slot == nullptr)
    return fail(Errc::kWouldBlock,
                "isend: %zu sends are outstanding (Config::max_pending_sends): wait for one with wait() or test() first",
                requests_.size());
  SendRequest& r = *free_slot;
  r.data = msg.data();
  r.size = msg.size();
  r.sent = 0;
  r.tag = tag;
  r.generation = ++request_generation_;
  r.ch = &ch;
  r.ticket = ch.next_ticket++;
  ch.fast_until = 0;  // later sends on this channel wait their turn (slow path)
  r.in_use = true;
  r.done = false;
  r.large = msg.size() > config().piece_size();
  r.region_held = false;
  r.error = Errc::kCancelled;
  r.error_message.clear();
  ++pending_requests_;
  return &r;
}

void EndpointImpl::finish_request(SendRequest& r, Result<void> res) noexcept {
  r.done = true;
  if (!res) {
    r.error = res.error().code();
    r.error_message = res.error().message();
  }
  ++r.ch->serving_ticket;
  --pending_requests_;
}

int EndpointImpl::progress_requests() noexcept {
  int work = 0;
  for (SendRequest& r : requests_) {
    if (!r.in_use || r.done || r.ticket != r.ch->serving_ticket) continue;
    TxChannel& ch = *r.ch;
    if (!r.large || !r.region_held) {  // not yet started: check the channel first
      if (auto a = tx_admit(ch); !a) {
        if (a.error().code() == Errc::kWouldBlock) continue;
        finish_request(r, a);
        ++work;
        continue;
      }
    } else if (ch.state != ChannelState::kOk) {  // the link went down under a message in pieces
      abort_large(r);
      finish_request(r, ch.state == ChannelState::kResyncing || ch.state == ChannelState::kLinkDown
                            ? fail(Errc::kLinkDown,
                                   "send: the link to node %u went down while the message of %llu bytes to rank (%u, "
                                   "%u) was going out in pieces (%llu bytes sent); it was not delivered: send it again",
                                   ch.dst.node, static_cast<unsigned long long>(r.size), ch.dst.node, ch.dst.local,
                                   static_cast<unsigned long long>(r.sent))
                            : tl::unexpected(channel_error(ch, "send")));
      ++work;
      continue;
    }
    if (!r.large) {
      auto res = tx_one(ch, r.data, r.size, r.tag);
      if (!res && res.error().code() == Errc::kWouldBlock) continue;
      finish_request(r, res);
      ++work;
      continue;
    }
    const uint64_t before = r.sent;
    auto step = tx_large_step(r);
    if (!step) {
      abort_large(r);
      finish_request(r, tl::unexpected(step.error()));
      ++work;
    } else if (*step) {
      finish_request(r, {});
      ++work;
    } else if (r.sent != before) {
      ++work;
    }
  }
  return work;
}

SendRequest* EndpointImpl::find_request(SendHandle h) noexcept {
  if (h.index >= requests_.size()) return nullptr;
  SendRequest& r = requests_[h.index];
  return (r.in_use && r.generation == h.generation) ? &r : nullptr;
}

// ---- API -------------------------------------------------------------------------------

// The common case in few instructions: a small message to a healthy channel with room.
// Everything else (and every error) goes through the slow paths.
[[gnu::always_inline]] inline bool EndpointImpl::try_send_fast(Rank dst, std::span<const std::byte> msg,
                                                               uint32_t tag) noexcept {
  const size_t n = msg.size();
  if (dst.node >= nodes_ || dst.local >= ppn_ || n > fast_max_) return false;
  TxChannel& ch = tx_[size_t{dst.node} * ppn_ + dst.local];
  // The receiver's presence line (local memory) says whether it left or was restarted.
  if (ch.head >= ch.fast_until || ch.presence.load64(wire::presence::kState) == wire::presence::kGone ||
      ch.presence.load64(wire::presence::kIncarnation) != ch.target)
    return false;
  if (n > inline_max_) return send_ring(ch, msg.data(), n, tag, 0);  // false: the ring is full (slow path)
  send_inline(ch, msg.data(), n, tag, 0);
  return true;
}

Result<void> EndpointImpl::try_send(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept {
  if (try_send_fast(dst, msg, tag)) [[likely]] return {};
  return try_send_slow(dst, msg, tag);
}

Result<void> EndpointImpl::try_send_slow(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept {
  auto ch = tx_channel(dst, msg, "try_send");
  if (!ch) return tl::unexpected(ch.error());
  if (msg.size() > config().cts)
    return fail(Errc::kInvalidArgument,
                "try_send: the message of %zu bytes is above the CTS (%llu bytes) and goes in pieces: use send() or "
                "isend()",
                msg.size(), static_cast<unsigned long long>(config().cts));
  maybe_check_links();
  TxChannel& c = **ch;
  if (c.presence.load64(wire::presence::kIncarnation) != c.target ||
      c.presence.load64(wire::presence::kState) == wire::presence::kGone)
    check_peers(now_ns());  // the receiver left or restarted: settle its channel first
  else
    maybe_check_peers();
  if (c.next_ticket != c.serving_ticket) {  // isends to this receiver go first (order per pair)
    progress_requests();
    if (c.next_ticket != c.serving_ticket) return tl::unexpected(Error(Errc::kWouldBlock));
  }
  if (auto a = tx_admit(c); !a) return a;
  auto r = tx_one(c, msg.data(), msg.size(), tag);
  // Healthy and sent: the fast path may take the next messages, up to half the postbox.
  if (r && c.state == ChannelState::kOk && c.unreported == 0 && c.next_ticket == c.serving_ticket &&
      c.seg->created)
    c.fast_until = c.released + half_slots_;
  return r;
}

Result<void> EndpointImpl::send(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept {
  if (try_send_fast(dst, msg, tag)) [[likely]] return {};
  return send_slow(dst, msg, tag);
}

Result<void> EndpointImpl::send_slow(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept {
  auto ch = tx_channel(dst, msg, "send");
  if (!ch) return tl::unexpected(ch.error());
  if (msg.size() > config().piece_size()) {
    auto h = isend(dst, msg, tag);
    if (!h) return tl::unexpected(h.error());
    return wait(*h);
  }
  BlockingWait waiter(*this, dst, "send", "room in its postbox or buffer pool (acknowledgements)");
  for (;;) {
    auto r = try_send(dst, msg, tag);
    if (r || r.error().code() != Errc::kWouldBlock) return r;
    if (auto w = waiter.check(); !w) return w;
    waiter.send_idle();
  }
}

Result<SendHandle> EndpointImpl::isend(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept {
  auto ch = tx_channel(dst, msg, "isend");
  if (!ch) return tl::unexpected(ch.error());
  maybe_check_links();
  auto r = start_request(**ch, msg, tag);
  if (!r) return tl::unexpected(r.error());
  progress_requests();
  return SendHandle{static_cast<uint32_t>(*r - requests_.data()), (*r)->generation};
}

Result<bool> EndpointImpl::test(SendHandle h) noexcept {
  SendRequest* r = find_request(h);
  if (r == nullptr)
    return fail(Errc::kInvalidArgument, "test: send handle %u/%u is unknown or already completed", h.index,
                h.generation);
  if (!r->done) progress_requests();
  if (!r->done) return false;
  r->in_use = false;
  if (r->error_message.empty()) return true;
  return tl::unexpected(Error(r->error, std::move(r->error_message)));
}

Result<void> EndpointImpl::wait(SendHandle h) noexcept {
  SendRequest* r = find_request(h);
  if (r == nullptr)
    return fail(Errc::kInvalidArgument, "wait: send handle %u/%u is unknown or already completed", h.index,
                h.generation);
  BlockingWait waiter(*this, r->ch->dst, "send", "acknowledgements to reuse its memory");
  uint64_t progress_seen = r->sent;
  for (;;) {
    auto t = test(h);
    if (!t) return tl::unexpected(t.error());
    if (*t) return {};
    if (r->sent != progress_seen) {  // the receiver made room for another piece: news
      progress_seen = r->sent;
      waiter.restart();
    }
    if (auto w = waiter.check(); !w) {
      // Give up: the receiver sees the message cut short (or never sees it).
      abort_large(*r);
      if (!r->done) finish_request(*r, w);
      r->in_use = false;
      return w;
    }
    waiter.send_idle();
  }
}

}  // namespace pbx::detail
