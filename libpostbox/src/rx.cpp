// Receiver side of the postbox protocol: polling postboxes in local memory (c3), reading
// messages by their indicators, acknowledging into the sender's node (c32-c33), checking
// every word a peer wrote before using it.
#include <algorithm>

#include "checksum.h"
#include "endpoint_impl.h"
#include "inline_codec.h"

namespace pbx::detail {

using hal::StoreKind;
using wire::Indicator;

// ---- errors found while polling ---------------------------------------------------------

void EndpointImpl::push_error(Error e) noexcept {
  if (pending_errors_.size() < 16) pending_errors_.push_back(std::move(e));  // capacity reserved
}

void EndpointImpl::on_bad_indicator(RxChannel& ch, const wire::Refusal& why) noexcept {
  ++stats_.bad_indicators;
  ch.state = ChannelState::kCorrupt;
  push_error(make_error(Errc::kProtocolError,
                        "rank (%u, %u) wrote a malformed indicator into this process's postbox (%s = %llu, limit %llu, "
                        "sequence %llu); its messages are dropped from now on (counted in Stats::bad_indicators); "
                        "other senders are unaffected",
                        ch.src.node, ch.src.local, why.what, static_cast<unsigned long long>(why.value),
                        static_cast<unsigned long long>(why.limit), static_cast<unsigned long long>(ch.expected)));
}

Result<RecvInfo> EndpointImpl::take_pending_error() noexcept {
  Error e = std::move(pending_errors_.front());
  pending_errors_.erase(pending_errors_.begin());
  return tl::unexpected(std::move(e));
}

Result<RecvInfo> EndpointImpl::peer_gone_error(Rank src, const char* op) noexcept {
  RxChannel& ch = rx_channel(src);
  const PeerState& ps = peers_[shape().flat(src)];
  const bool died = ps.died;
  if (ch.partial.active && ch.sender == ps.incarnation) {  // (not a message of a newer incarnation)
    const uint64_t total = ch.partial.total, got = ch.partial.received;
    drop_partial(ch, nullptr);
    return fail(Errc::kPeerGone,
                "%s: rank (%u, %u) %s in the middle of a message of %llu bytes to this process (%llu bytes had "
                "arrived; the partial message was dropped); everything it sent before has been received",
                op, src.node, src.local, died ? "died" : "left the job", static_cast<unsigned long long>(total),
                static_cast<unsigned long long>(got));
  }
  return fail(Errc::kPeerGone, "%s: rank (%u, %u) %s; every message it sent was received", op, src.node, src.local,
              died ? "died" : "left the job (it closed its endpoint)");
}

// ---- reading one indicator -------------------------------------------------------------

// Looks at the slot of sequence number `seq` in `ch`'s postbox. kReady: a whole, bounds-checked
// indicator is in `ind`. kNone: nothing there yet (or not every word has landed). kBad: garbage
// (reported).
Peek EndpointImpl::peek_at(RxChannel& ch, uint64_t seq, Indicator& ind) noexcept {
  const size_t off = slot_off(seq);
  uint64_t w[8];
  // Acquire: pairs with the sender's release store of word 0 in publish(); the other words
  // are read after it, and each carries its own check byte.
  w[0] = ch.slots.load64_acquire(off);
  const uint8_t check = wire::check_byte(seq, slots_log2_);
  if (wire::check_of(w[0]) != check) return Peek::kNone;
  for (size_t i = 1; i < 8; ++i) w[i] = ch.slots.load64(off + 8 * i);
  wire::Refusal why;
  switch (wire::decode_indicator(w, check, limits_, ind, why)) {
    case wire::Decode::kNotYet: return Peek::kNone;
    case wire::Decode::kBad: on_bad_indicator(ch, why); return Peek::kBad;
    case wire::Decode::kOk: break;
  }
  // Orders the indicator loads before the payload loads (pairs with the wc_flush() the
  // sender made between the payload and the indicator).
  from_peer_barrier();
  return Peek::kReady;
}

// Line k of an n-byte inline message, in the slot at `off` whose words carry `check`.
[[gnu::always_inline]] inline bool EndpointImpl::unpack_line_at(const RxChannel& ch, size_t off, uint8_t check,
                                                                size_t n, size_t k, std::byte* dst) const noexcept {
  // One 64-byte load where the CPU has the vector codec; else word by word. Either way after
  // the acquire load of the indicator's word 0 (by the caller), every word checked on its own.
  if (wire::kVectorInlineCodec) return wire::unpack_inline_line_avx512(ch.slots.at(off), n, k, check, dst);
  // Only the words that carry the line's bytes (an 8-byte message: one word past the header).
  const wire::InlineSpan sp = wire::inline_span(n, k);
  const size_t end = sp.word0 + wire::inline_words(sp.count);
  uint64_t w[8] = {};  // (the words outside the line's span are never read)
  for (size_t i = sp.word0; i < end; ++i) w[i] = ch.slots.load64(off + 8 * i);
  return wire::unpack_inline_line(w, n, k, check, dst);
}

bool EndpointImpl::unpack_line(const RxChannel& ch, uint64_t seq, size_t n, size_t k, std::byte* dst) const noexcept {
  return unpack_line_at(ch, slot_off(seq), wire::check_byte(seq, slots_log2_), n, k, dst);
}

void EndpointImpl::unpack_inline(const RxChannel& ch, const Indicator& ind, std::byte* dst) const noexcept {
  // Line 0 is in ind.words, checked by decode_indicator(); the others were checked by
  // inline_landed() and cannot change before they are released.
  (void)wire::unpack_inline_line(ind.words, ind.len, 0, wire::check_byte(ch.expected, slots_log2_), dst);
  for (size_t k = 1; k < wire::inline_lines(ind.len); ++k) (void)unpack_line(ch, ch.expected + k, ind.len, k, dst);
}

bool EndpointImpl::inline_landed(const RxChannel& ch, size_t n) const noexcept {
  const size_t lines = wire::inline_lines(n);
  for (size_t k = 1; k < lines; ++k) {
    const uint64_t seq = ch.expected + k;
    const size_t off = slot_off(seq);
    const uint8_t check = wire::check_byte(seq, slots_log2_);
    const size_t words = wire::inline_words(wire::inline_span(n, k).count);
    for (size_t i = 0; i < words; ++i)
      if (wire::check_of(ch.slots.load64(off + 8 * i)) != check) return false;
  }
  return true;
}

// Copies the payload `ind` points to into dst and checks it: its checksum (when the sender
// put one), and that the sender was not restarted under us while we copied (a restarted
// sender writes its new incarnation into the segment header before it touches its pool).
bool EndpointImpl::copy_checked(const RxChannel& ch, const Indicator& ind, std::byte* dst) noexcept {
  const hal::InboundWindow& area = ind.kind == wire::Kind::kRing ? ch.ring : ch.pool;
  bool ok = true;
  if ((ind.checksum & wire::kChecksumPresent) != 0) {
    const uint32_t crc = area.read_with(ind.pool_off, dst, ind.len, [](void* d, const void* s, size_t n) {
      return copy_with_crc32c(d, s, n, ChecksumSide::kDestination);
    });
    ok = crc == static_cast<uint32_t>(ind.checksum);
  } else {
    area.read(ind.pool_off, dst, ind.len);  // c3: by the location in the indicator
  }
  // Orders the payload loads before the incarnation load (x86: loads stay in order).
  from_peer_barrier();
  return ok;
}

// ---- releasing and acknowledging -------------------------------------------------------

void EndpointImpl::fill_view(MessageView& v, const RxChannel& ch, uint32_t tag, uint64_t size, uint64_t seq,
                             HeldMessage* held) noexcept {
  v.owner_ = this;
  v.source_ = ch.src;
  v.tag_ = tag;
  v.size_ = size;
  v.channel_ = shape().flat(ch.src);
  v.seq_ = seq;
  v.slots_ = 1;
  v.sender_ = ch.sender;
  v.held_ = held;
  if (held != nullptr) v.ptr_ = held->data.get();
}

Error EndpointImpl::buffer_too_small(const RxChannel& ch, uint64_t size, size_t have) const {
  return make_error(Errc::kBufferTooSmall,
                    "recv: the next message from rank (%u, %u) has %llu bytes but the buffer holds %zu: receive it "
                    "with a larger buffer (probe() tells the size); it stays pending",
                    ch.src.node, ch.src.local, static_cast<unsigned long long>(size), have);
}

Error EndpointImpl::checksum_error(const RxChannel& ch, uint64_t size, uint32_t tag, const char* op) noexcept {
  ++stats_.bad_checksums;
  return make_error(Errc::kDataCorrupt,
                    "%s: the message of %llu bytes (tag %u) from rank (%u, %u) failed its checksum (CRC32C): it was "
                    "dropped; the messages after it are unaffected",
                    op, static_cast<unsigned long long>(size), tag, ch.src.node, ch.src.local);
}

// Marks sequence number `seq` of `ch` released (the sender may reuse its memory once acked).
void EndpointImpl::mark_released(RxChannel& ch, uint64_t seq) noexcept {
  if (seq == ch.released) {
    ++ch.released;
    // Absorb later messages that were released first (borrowed views released out of order).
    while (ch.out_of_order != 0 && bit_test(ch.release_bits, ch.released & slots_mask_)) {
      bit_clear(ch.release_bits, ch.released & slots_mask_);
      --ch.out_of_order;
      ++ch.released;
    }
  } else {
    bit_set(ch.release_bits, seq & slots_mask_);
    ++ch.out_of_order;
  }
}

void EndpointImpl::release_seq(RxChannel& ch, uint64_t seq) noexcept {
  mark_released(ch, seq);
  if (ch.ack_now || ch.released - ch.acked >= ack_batch_) write_ack(ch);
}

void EndpointImpl::write_ack(RxChannel& ch) noexcept {
  if (!ch.ack_follows) return;  // the adoption ack (epoch.cpp) comes first, and creates the ack segment
  // Release: every read of the released messages is done before the sender can see this
  // count and reuse their memory (pairs with the acquire load in refresh_acks()).
  ch.ack.store64_release(wire::ack::kReleased, wire::ack_word(ch.released, ch.epoch), StoreKind::kSelfValidating);
  ch.ack.push();
  ch.acked = ch.released;
  ch.ack_now = false;
  ++stats_.acks_written;
}

// When there is nothing to receive, acknowledge everything released so far: a sender
// waiting for room never waits on a batch that will not fill.
void EndpointImpl::write_idle_acks() noexcept {
  for (RxChannel* ch : active_)
    if (ch->released != ch->acked && ch->active) write_ack(*ch);
}

void EndpointImpl::idle_poll() noexcept {
  write_idle_acks();
  if ((++idle_polls_ & 255) == 0) scan_channels();
}

// Whether a channel other than `except` has a message ready (held, or in its postbox).
bool EndpointImpl::others_waiting(const RxChannel* except) const noexcept {
  for (const RxChannel* ch : active_) {
    if (ch == except || !ch->active || ch->state == ChannelState::kCorrupt) continue;
    if (ch->held) return true;
    // Acquire: pairs with the sender's release store of word 0 in publish().
    if (wire::check_of(ch->slots.load64_acquire(slot_off(ch->expected))) == wire::check_byte(ch->expected, slots_log2_))
      return true;
  }
  return false;
}

// ---- delivering ------------------------------------------------------------------------

// The next message of `ch` for `want`: held messages first, then a message in pieces that is
// arriving, then the postbox. Leftover pieces of a message its sender gave up are skipped.
Took EndpointImpl::take(RxChannel& ch, Want want, std::span<std::byte> buf, RecvInfo& info, MessageView* view,
                        Error& err) noexcept {
  // While a message in pieces is assembled in the caller's buffer, no other channel may
  // deliver into it.
  if (want == Want::kCopy && partial_in_buf_ != nullptr && partial_in_buf_ != &ch) return Took::kNothing;
  for (;;) {
    if (ch.held && want != Want::kDrain) return take_held(ch, want, buf, info, view, err);
    if (ch.partial.active) {
      const Took t = pull_pieces(ch, want, buf, info, view, err);
      if (t != Took::kNothing || ch.partial.active) return t;
      continue;  // the partial message was dropped: look again
    }
    if (!ch.active || ch.state == ChannelState::kCorrupt) return Took::kNothing;
    Indicator ind;
    if (peek(ch, ind) != Peek::kReady) return Took::kNothing;  // (kBad was reported)
    if (ind.kind == wire::Kind::kInline && !inline_landed(ch, ind.len)) return Took::kNothing;  // not yet whole
    if (ind.kind == wire::Kind::kPiece && ind.msg_off != 0) {  // its message's receive was given up
      consume(ch, ind.flags);
      continue;
    }
    return take_indicator(ch, ind, want, buf, info, view, err);
  }
}

Took EndpointImpl::take_indicator(RxChannel& ch, const Indicator& ind, Want want, std::span<std::byte> buf,
                                  RecvInfo& info, MessageView* view, Error& err) noexcept {
  if (want == Want::kProbe) {
    info = RecvInfo{ch.src, ind.tag, ind.total};
    return Took::kDelivered;
  }
  if (ind.kind == wire::Kind::kPiece) {
    if (want == Want::kView && ind.total <= config().cts && config().cts_slices < layout_.slots())
      return view_pieces(ch, ind, *view, err);
    return start_partial(ch, ind, want, buf, info, view, err);
  }
  if (want == Want::kCopy && buf.size() < ind.total) {
    err = buffer_too_small(ch, ind.total, buf.size());
    return Took::kError;
  }
  std::unique_ptr<HeldMessage> held;
  std::byte* dst = buf.data();
  if (want == Want::kDrain) {
    if (!hold_unlimited_ && held_bytes_ + ind.len > config().hold_limit) return Took::kNothing;
    held.reset(new (std::nothrow) HeldMessage);
    if (held) held->data.reset(new (std::nothrow) std::byte[std::max<uint64_t>(ind.len, 1)]);
    if (!held || !held->data) return Took::kNothing;  // no memory: leave it in the postbox
    dst = held->data.get();
  }
  if (want == Want::kView) {
    MessageView& v = *view;
    fill_view(v, ch, ind.tag, ind.len, ch.expected, nullptr);
    if (ind.kind == wire::Kind::kInline) {
      unpack_inline(ch, ind, v.inline_);
      v.ptr_ = v.inline_;
      v.slots_ = 0;  // a copy inside the view: its slots go back at once
      consume(ch, ind.flags, static_cast<uint32_t>(wire::inline_lines(ind.len)));
      ++ch.taken;
      ++stats_.rx_msgs;
      stats_.rx_bytes += ind.len;
      return Took::kDelivered;
    } else {
      // Zero-copy: the message stays in the ring or pool until released.
      v.ptr_ = (ind.kind == wire::Kind::kRing ? ch.ring : ch.pool).at(ind.pool_off);
      const bool sum_ok = (ind.checksum & wire::kChecksumPresent) == 0 ||
                          crc32c(v.ptr_, ind.len) == static_cast<uint32_t>(ind.checksum);
      from_peer_barrier();  // the payload loads above come before the incarnation load below
      if (sender_restarted(ch)) {
        v.owner_ = nullptr;
        reset_rx_channel(ch);
        return Took::kNothing;
      }
      if (!sum_ok) {
        v.owner_ = nullptr;
        consume(ch, ind.flags);
        ++ch.taken;
        err = checksum_error(ch, ind.len, ind.tag, "recv_view");
        return Took::kError;
      }
    }
    ++ch.expected;  // released by release()
    ++ch.taken;
    ++ch.views_out;
    if ((ind.flags & wire::flag::kAckNow) != 0) ch.ack_now = true;
    ++stats_.rx_msgs;
    stats_.rx_bytes += ind.len;
    return Took::kDelivered;
  }
  bool sum_ok = true;
  uint32_t slots = 1;
  if (ind.kind == wire::Kind::kInline) {
    unpack_inline(ch, ind, dst);
    slots = static_cast<uint32_t>(wire::inline_lines(ind.len));
  } else {
    sum_ok = copy_checked(ch, ind, dst);
    if (sender_restarted(ch)) {  // what we copied may be the new incarnation's
      reset_rx_channel(ch);
      return Took::kNothing;
    }
  }
  consume(ch, ind.flags, slots);
  ++ch.taken;
  if (!sum_ok) {
    err = checksum_error(ch, ind.len, ind.tag, "recv");
    return Took::kError;
  }
  ++stats_.rx_msgs;
  stats_.rx_bytes += ind.len;
  if (want == Want::kDrain) {
    held->tag = ind.tag;
    held->size = ind.len;
    hold(ch, std::move(held));
    return Took::kDelivered;
  }
  info = RecvInfo{ch.src, ind.tag, ind.len};
  return Took::kDelivered;
}

// From `src`, or from every followed channel in round-robin order (fairness between senders).
// kPending: nothing delivered, but a message in pieces is arriving on *from.
Took EndpointImpl::take_from(Rank src, Want want, std::span<std::byte> buf, RecvInfo& info, MessageView* view,
                             Error& err, RxChannel** from) noexcept {
  if (src != kAnySource) {
    RxChannel& ch = rx_channel(src);
    if (!ch.active && ch.sender == 0) follow_segment(ch);
    *from = &ch;
    return take(ch, want, buf, info, view, err);
  }
  Took pending = Took::kNothing;
  const auto n = static_cast<uint32_t>(active_.size());
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t idx = rr_cursor_ + i;
    if (idx >= n) idx -= n;
    RxChannel* ch = active_[idx];
    const Took t = take(*ch, want, buf, info, view, err);
    if (t == Took::kNothing) continue;
    if (t == Took::kPending) {
      if (pending == Took::kNothing) *from = ch;
      pending = t;
      continue;
    }
    *from = ch;
    rr_cursor_ = idx + 1 == n ? 0 : idx + 1;
    return t;
  }
  return pending;
}

// ---- the fast path ---------------------------------------------------------------------


// One look at `ch` for the common case, in few instructions: an inline or ring message that
// fits `buf` and carries no checksum is delivered right here. kSlow: something else is there
// (take() delivers it, or reports what is wrong with it).
[[gnu::always_inline]] inline Fast EndpointImpl::recv_fast(RxChannel& ch, std::span<std::byte> buf,
                                                           RecvInfo& info) noexcept {
  const size_t off = slot_off(ch.expected);
  // Acquire: pairs with the sender's release store of word 0 in publish(); the loads of the
  // message's words and lines below come after it.
  const uint64_t w0 = ch.slots.load64_acquire(off);
  const uint8_t check = wire::check_byte(ch.expected, slots_log2_);
  if (wire::check_of(w0) != check) return Fast::kNone;
  const wire::SlotHeader h = wire::decode_header(w0);
  uint64_t len;
  uint32_t slots = 1;
  if (h.kind == wire::Kind::kInline) {
    if (h.inline_len > inline_max_ || h.inline_len > buf.size()) return Fast::kSlow;
    len = h.inline_len;
    if (len <= wire::kInlineCapacity) [[likely]] {
      // One line (the common case): its words after the header, each checked on its own.
      if (!unpack_line_at(ch, off, check, len, 0, buf.data())) return Fast::kNone;
    } else {
      slots = static_cast<uint32_t>(wire::inline_lines(len));
      // Line by line, every word checked on its own; a line not yet whole: look again later.
      for (uint32_t k = 0; k < slots; ++k)
        if (!unpack_line(ch, ch.expected + k, len, k, buf.data())) return Fast::kNone;
    }
  } else if (h.kind == wire::Kind::kRing) {
    // Words 1..3 (loads ordered after the acquire above), each checked on its own.
    const uint64_t w1 = ch.slots.load64(off + 8), w2 = ch.slots.load64(off + 16), w3 = ch.slots.load64(off + 24);
    if (wire::check_of(w1) != check || wire::check_of(w2) != check || wire::check_of(w3) != check)
      return Fast::kNone;  // not every word has landed yet
    uint64_t pos;
    if (!wire::payload_extent(w1, w2, limits_.ring_size, pos, len) || len > buf.size() ||
        len > limits_.max_message || (w3 & wire::kLow56) != 0 || (h.flags & wire::flag::kLastPiece) != 0)
      return Fast::kSlow;  // a checksum to check, a buffer too small, or garbage: take() says which
    // Orders the indicator loads before the payload loads (pairs with the flush the sender made
    // between the payload and the indicator).
    from_peer_barrier();
    ch.ring.read(pos, buf.data(), len);
    // Orders the payload loads before the incarnation load of sender_restarted() below.
    from_peer_barrier();
  } else {
    return Fast::kSlow;
  }
  // A line that a restarted sender wrote is not this sender's next message: its new
  // incarnation is in the segment header before any of its lines (loads stay in order).
  if (sender_restarted(ch)) [[unlikely]] return Fast::kSlow;
  consume(ch, h.flags, slots);
  ++ch.taken;
  ++stats_.rx_msgs;
  stats_.rx_bytes += len;
  info = RecvInfo{ch.src, h.tag, len};
  return Fast::kDelivered;
}

// One look at the channel of `src`, or at the followed ones in round-robin order, for a small
// message that fits `buf`: delivered right here.
[[gnu::always_inline]] inline Fast EndpointImpl::poll_fast(Rank src, std::span<std::byte> buf,
                                                           RecvInfo& info) noexcept {
  if (src != kAnySource) {
    RxChannel& c = rx_channel(src);
    if (!c.active || c.state == ChannelState::kCorrupt) return Fast::kNone;
    return recv_fast(c, buf, info);
  }
  const auto n = static_cast<uint32_t>(active_.size());
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t idx = rr_cursor_ + i;
    if (idx >= n) idx -= n;
    RxChannel* c = active_[idx];
    if (!c->active || c->state == ChannelState::kCorrupt) continue;
    const Fast f = recv_fast(*c, buf, info);
    if (f == Fast::kNone) continue;
    rr_cursor_ = idx + 1 == n ? 0 : idx + 1;  // fairness between senders
    return f;
  }
  return Fast::kNone;
}

// ---- API -------------------------------------------------------------------------------

Result<RecvInfo> EndpointImpl::recv(std::span<std::byte> buf, Rank src, bool blocking) noexcept {
  if (pending_errors_.empty() && rx_slow_ == 0 && (src == kAnySource || shape().contains(src))) [[likely]] {
    RecvInfo info;
    if (poll_fast(src, buf, info) == Fast::kDelivered) [[likely]] return info;
  }
  return recv_wait(buf, src, blocking);
}

namespace {
// A message in pieces assembled in the caller's buffer moves to memory of its own when the
// receive call returns without it (park()).
struct ParkOnReturn {
  EndpointImpl* ep;
  std::span<std::byte> buf;
  void (EndpointImpl::*park)(std::span<std::byte>) noexcept;
  ~ParkOnReturn() { (ep->*park)(buf); }
};
}  // namespace

// Everything but an inline message found at the first look: errors, pool messages, pieces,
// held messages, waiting.
Result<RecvInfo> EndpointImpl::recv_wait(std::span<std::byte> buf, Rank src, bool blocking) noexcept {
  if (src != kAnySource && !shape().contains(src)) return tl::unexpected(shape().check_rank(src, "recv").error());
  maybe_check_links();
  maybe_check_peers();
  const ParkOnReturn parker{this, buf, &EndpointImpl::park_partials_in};
  BlockingWait waiter(*this, src, "recv", "a message");
  uint32_t quiet = 0;  // spins without news while a message in pieces fills `buf`
  RecvInfo info;
  for (;;) {
    if (!pending_errors_.empty()) return take_pending_error();
    RxChannel* from = nullptr;
    Error err(Errc::kWouldBlock);
    const uint64_t before = partial_in_buf_ != nullptr ? partial_in_buf_->partial.received : 0;
    const Took t = take_from(src, Want::kCopy, buf, info, nullptr, err, &from);
    if (t == Took::kDelivered) return info;
    if (t == Took::kError) return tl::unexpected(std::move(err));
    if (!pending_errors_.empty()) continue;
    idle_poll();
    if (src != kAnySource && rx_channel(src).state == ChannelState::kCorrupt)
      return fail(Errc::kProtocolError, "recv: the channel from rank (%u, %u) was closed after it wrote malformed data",
                  src.node, src.local);
    if (!blocking) {
      if (src != kAnySource && peer_gone(src) && partial_in_buf_ == nullptr) return peer_gone_error(src, "try_recv");
      return tl::unexpected(Error(Errc::kWouldBlock));
    }
    // Receiving from anyone, a message in pieces whose sender pauses must not keep the others
    // waiting: after a while without a piece it moves out of `buf`.
    if (partial_in_buf_ != nullptr && src == kAnySource) {
      quiet = partial_in_buf_->partial.received != before ? 0 : quiet + 1;
      if (quiet >= 4096 && others_waiting(partial_in_buf_)) park(*partial_in_buf_);
    }
    if (auto w = waiter.check(); !w) {
      if (w.error().code() == Errc::kPeerGone && src != kAnySource) {
        // It wrote nothing after it died: one more look takes what it left behind.
        const Took last = take_from(src, Want::kCopy, buf, info, nullptr, err, &from);
        if (last == Took::kDelivered) return info;
        if (last == Took::kError) return tl::unexpected(std::move(err));
        return peer_gone_error(src, "recv");
      }
      return tl::unexpected(w.error());
    }
    if (pending_requests_ != 0) progress_requests();
    cpu_pause();
  }
}

Result<RecvInfo> EndpointImpl::probe(Rank src) noexcept {
  if (src != kAnySource && !shape().contains(src)) return tl::unexpected(shape().check_rank(src, "probe").error());
  if (!pending_errors_.empty()) return take_pending_error();
  RxChannel* from = nullptr;
  RecvInfo info;
  Error err(Errc::kWouldBlock);
  const Took t = take_from(src, Want::kProbe, {}, info, nullptr, err, &from);
  if (t == Took::kDelivered) return info;
  if (t == Took::kError) return tl::unexpected(std::move(err));
  if (!pending_errors_.empty()) return take_pending_error();
  idle_poll();
  maybe_check_peers();
  if (src != kAnySource && peer_gone(src) && t == Took::kNothing) return peer_gone_error(src, "probe");
  return tl::unexpected(Error(Errc::kWouldBlock));
}

Result<MessageView> EndpointImpl::recv_view(Rank src, bool blocking) noexcept {
  if (src != kAnySource && !shape().contains(src)) return tl::unexpected(shape().check_rank(src, "recv_view").error());
  maybe_check_links();
  maybe_check_peers();
  BlockingWait waiter(*this, src, "recv_view", "a message");
  for (;;) {
    if (!pending_errors_.empty()) return tl::unexpected(take_pending_error().error());
    RxChannel* from = nullptr;
    RecvInfo info;
    MessageView v;
    Error err(Errc::kWouldBlock);
    const Took t = take_from(src, Want::kView, {}, info, &v, err, &from);
    if (t == Took::kDelivered) return v;
    if (t == Took::kError) return tl::unexpected(std::move(err));
    idle_poll();
    if (!blocking) {
      if (src != kAnySource && peer_gone(src) && t == Took::kNothing)
        return tl::unexpected(peer_gone_error(src, "try_recv_view").error());
      return tl::unexpected(Error(Errc::kWouldBlock));
    }
    if (auto w = waiter.check(); !w) {
      if (w.error().code() == Errc::kPeerGone && src != kAnySource) {
        if (take_from(src, Want::kView, {}, info, &v, err, &from) == Took::kDelivered) return v;
        return tl::unexpected(peer_gone_error(src, "recv_view").error());
      }
      return tl::unexpected(w.error());
    }
    if (pending_requests_ != 0) progress_requests();
    cpu_pause();
  }
}

void EndpointImpl::release(MessageView& v) noexcept {
  if (v.owner_ != this) return;
  v.owner_ = nullptr;
  if (v.held_ != nullptr) {  // a message held in our memory: the view owned it
    std::unique_ptr<HeldMessage> m(static_cast<HeldMessage*>(v.held_));
    v.held_ = nullptr;
    return;
  }
  if (v.slots_ == 0) return;  // a copy inside the view (inline): nothing to hand back
  RxChannel& ch = rx_[v.channel_];
  if (ch.sender != v.sender_) return;  // the sender was restarted since: its old memory is not ours to release
  --ch.views_out;
  for (uint32_t k = 1; k < v.slots_; ++k) mark_released(ch, v.seq_ + k);  // a message in pieces: every slot
  release_seq(ch, v.seq_);
}

}  // namespace pbx::detail
