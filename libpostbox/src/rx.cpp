// Receiver side of the postbox protocol: polling postboxes in local memory (c3), reading
// messages by their indicators, acknowledging into the sender's node (c32-c33), checking
// every word a peer wrote before using it.
#include <algorithm>

#include "endpoint_impl.h"
#include "inline_codec.h"

namespace pbx::detail {

using hal::StoreKind;

namespace {
// Out-of-order release bits, one per postbox slot (index = seq & mask).
bool bit_test(const uint64_t* bits, uint64_t idx) { return ((bits[idx / 64] >> (idx % 64)) & 1) != 0; }
void bit_set(uint64_t* bits, uint64_t idx) { bits[idx / 64] |= uint64_t{1} << (idx % 64); }
void bit_clear(uint64_t* bits, uint64_t idx) { bits[idx / 64] &= ~(uint64_t{1} << (idx % 64)); }
}  // namespace

[[gnu::always_inline]] inline void EndpointImpl::consume(RxChannel& ch, uint8_t flags) noexcept {
  const uint64_t seq = ch.expected;
  advance_expected(ch);
  if ((flags & wire::flag::kAckNow) != 0) ch.ack_now = true;
  if (seq != ch.released || ch.out_of_order != 0) [[unlikely]] {
    release_seq(ch, seq);
    return;
  }
  ++ch.released;  // in order, nothing borrowed: the common case
  if (ch.ack_now || ch.released - ch.acked >= ack_batch_) write_ack(ch);
}

// ---- discovering senders ----------------------------------------------------------------

// A sender's segment becomes visible when its header carries the magic (c31). Checks that
// the sender runs the same layout before polling anything of it.
bool EndpointImpl::try_activate(RxChannel& ch) noexcept {
  if (ch.active || ch.state == ChannelState::kCorrupt) return ch.active;
  // Acquire: pairs with the release store of the magic in ensure_segment().
  if (ch.seg_header.load64_acquire(wire::seg::kMagic) != wire::kSegmentMagic) return false;
  const uint64_t fp = ch.seg_header.load64(wire::seg::kFingerprint);
  if (fp != layout_.fingerprint()) {
    ch.state = ChannelState::kCorrupt;
    if (pending_errors_.size() < 16)
      pending_errors_.push_back(make_error(Errc::kConfigMismatch,
                                      "rank (%u, %u) runs with a different postbox configuration or job shape "
                                      "(fingerprint %016llx, ours %016llx); its messages are ignored: start every "
                                      "process with the same Config",
                                      ch.src.node, ch.src.local, static_cast<unsigned long long>(fp),
                                      static_cast<unsigned long long>(layout_.fingerprint())));
    return false;
  }
  ch.active = true;
  active_.push_back(&ch);  // capacity reserved at creation: no allocation
  check_epoch(ch);
  return true;
}

void EndpointImpl::scan_segments() noexcept {
  for (RxChannel& ch : rx_) {
    if (!ch.active) try_activate(ch);
    else if (ch.state != ChannelState::kCorrupt) check_epoch(ch);
  }
}

void EndpointImpl::on_bad_indicator(RxChannel& ch, const char* what, uint64_t value, uint64_t limit) noexcept {
  ++stats_.bad_indicators;
  ch.state = ChannelState::kCorrupt;
  if (pending_errors_.size() < 16)
    pending_errors_.push_back(make_error(Errc::kProtocolError,
                                    "rank (%u, %u) wrote a malformed indicator into this process's postbox (%s = %llu, "
                                    "limit %llu, sequence %llu); its messages are dropped from now on (counted in "
                                    "Stats::bad_indicators); other senders are unaffected",
                                    ch.src.node, ch.src.local, what, static_cast<unsigned long long>(value),
                                    static_cast<unsigned long long>(limit),
                                    static_cast<unsigned long long>(ch.expected)));
}

Result<RecvInfo> EndpointImpl::take_pending_error() noexcept {
  Error e = std::move(pending_errors_.front());
  pending_errors_.erase(pending_errors_.begin());
  return tl::unexpected(std::move(e));
}

// ---- reading one indicator -------------------------------------------------------------

// Looks at the next slot of `ch`'s postbox. kReady: a whole, bounds-checked indicator is in
// `ind`. kNone: nothing there yet (or not every word has landed). kBad: garbage (reported).
Peek EndpointImpl::peek(RxChannel& ch, Indicator& ind) noexcept {
  const Layout& L = layout_;
  const Config& cfg = L.config();
  const size_t off = static_cast<size_t>(ch.expected & (L.slots() - 1)) * wire::kLine;
  // Acquire: pairs with the sender's release store of word 0 in publish().
  const uint64_t w0 = ch.slots.load64_acquire(off);
  const uint8_t check = wire::check_byte(ch.expected, L.slots_log2());
  if (wire::check_of(w0) != check) return Peek::kNone;
  const wire::SlotHeader h = wire::decode_header(w0);
  size_t nwords = 0;
  switch (h.kind) {
    case wire::Kind::kInline:
      if (h.inline_len > cfg.inline_max) {
        on_bad_indicator(ch, "inline length", h.inline_len, cfg.inline_max);
        return Peek::kBad;
      }
      nwords = wire::inline_words(h.inline_len);
      break;
    case wire::Kind::kPool: nwords = 2; break;
    case wire::Kind::kPiece: nwords = 4; break;
    default: on_bad_indicator(ch, "kind", static_cast<uint8_t>(h.kind), 3); return Peek::kBad;
  }
  ind.words[0] = w0;
  for (size_t i = 1; i <= nwords; ++i) {
    const uint64_t w = ch.slots.load64(off + 8 * i);  // ordered after the acquire load of word 0
    if (wire::check_of(w) != check) return Peek::kNone;  // this word has not landed yet
    ind.words[i] = w;
  }
  ind.kind = h.kind;
  ind.flags = h.flags;
  ind.tag = h.tag;
  if (h.kind == wire::Kind::kInline) {
    ind.len = ind.total = h.inline_len;
    ind.msg_off = 0;
    return Peek::kReady;
  }
  // Every offset and length from the peer is checked against our own layout before use.
  ind.pool_off = (ind.words[1] & wire::kLow56) << 6;
  ind.len = ind.words[2] & wire::kLow56;
  if (ind.pool_off > cfg.pool_size || ind.len > cfg.pool_size - ind.pool_off) {
    on_bad_indicator(ch, "pool offset + length", ind.pool_off + ind.len, cfg.pool_size);
    return Peek::kBad;
  }
  if (h.kind == wire::Kind::kPool) {
    if (ind.len > cfg.cts) {
      on_bad_indicator(ch, "message length", ind.len, cfg.cts);
      return Peek::kBad;
    }
    ind.msg_off = 0;
    ind.total = ind.len;
  } else {
    ind.msg_off = ind.words[3] & wire::kLow56;
    ind.total = ind.words[4] & wire::kLow56;
    if (ind.len == 0 || ind.len > cfg.piece_size()) {
      on_bad_indicator(ch, "piece length", ind.len, cfg.piece_size());
      return Peek::kBad;
    }
    if (ind.total <= cfg.cts || ind.total > cfg.max_message) {
      on_bad_indicator(ch, "message length", ind.total, cfg.max_message);
      return Peek::kBad;
    }
    const bool last = (h.flags & wire::flag::kLastPiece) != 0;
    if (ind.msg_off > ind.total || ind.len > ind.total - ind.msg_off || last != (ind.msg_off + ind.len == ind.total)) {
      on_bad_indicator(ch, "piece offset", ind.msg_off, ind.total);
      return Peek::kBad;
    }
  }
  // Orders the indicator loads before the payload loads (pairs with the wc_flush() the
  // sender made between the payload and the indicator).
  from_peer_barrier();
  return Peek::kReady;
}

// Finds the next ready indicator from `src` (or, round robin, from any active sender).
// Leftover pieces of a message whose receive already failed are dropped here.
Peek EndpointImpl::find_ready(Rank src, RxChannel*& out, Indicator& ind) noexcept {
  for (;;) {
    Peek p = Peek::kNone;
    if (src != kAnySource) {
      RxChannel& ch = rx_channel(src);
      if ((ch.active || try_activate(ch)) && ch.state != ChannelState::kCorrupt) {
        p = peek(ch, ind);
        out = &ch;
      }
    } else {
      const auto n = static_cast<uint32_t>(active_.size());
      for (uint32_t i = 0; i < n; ++i) {
        uint32_t idx = rr_cursor_ + i;
        if (idx >= n) idx -= n;
        RxChannel* ch = active_[idx];
        if (ch->state == ChannelState::kCorrupt) continue;
        p = peek(*ch, ind);
        if (p == Peek::kNone) continue;
        out = ch;
        rr_cursor_ = idx + 1 == n ? 0 : idx + 1;  // fairness between senders
        break;
      }
    }
    if (p != Peek::kReady || ind.kind != wire::Kind::kPiece || ind.msg_off == 0) return p;
    consume(*out, ind.flags);  // a piece of a message that was already reported as failed
  }
}

// ---- releasing and acknowledging -------------------------------------------------------



void EndpointImpl::release_seq(RxChannel& ch, uint64_t seq) noexcept {
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
  if (ch.ack_now || ch.released - ch.acked >= ack_batch_) write_ack(ch);
}

// c35: the ack segment on the sender's node is created when a receiver first needs it.
void EndpointImpl::write_ack(RxChannel& ch) noexcept {
  const uint16_t node = ch.src.node;
  if (ack_segment_created_[node] == 0) {
    auto ok = dev_->commit_peer_memory(hal::NodeIdx(node), layout_.ack_segment_off(), layout_.ack_segment_size());
    if (!ok) {
      if (pending_errors_.size() < 16)
        pending_errors_.push_back(with_context(ok.error(), "creating the ack segment on node " + std::to_string(node)));
      return;
    }
    ack_segment_created_[node] = 1;
    ++stats_.ack_segments_created;
  }
  // Release: every read of the released messages is done before the sender can see this
  // count and reuse their memory (pairs with the acquire load in refresh_acks()).
  ch.ack.store64_release(wire::ack::kReleased, ch.released, StoreKind::kSelfValidating);
  ch.ack.push();
  ch.acked = ch.released;
  ch.ack_now = false;
  ++stats_.acks_written;
}

// When there is nothing to receive, acknowledge everything released so far: a sender
// waiting for room never waits on a batch that will not fill.
void EndpointImpl::write_idle_acks() noexcept {
  for (RxChannel* ch : active_)
    if (ch->released != ch->acked) write_ack(*ch);
}

void EndpointImpl::idle_poll() noexcept {
  write_idle_acks();
  if ((++idle_polls_ & 255) == 0) scan_segments();
}

// After a link outage the sender starts a new epoch at sequence `start` (its next one).
// Messages whose indicators landed before the outage are whole (their payload was flushed
// first) and are still delivered; the ones after them never landed. The receiver tells the
// sender how many it will have delivered, so the sender reports exactly the lost ones, and
// skips their sequence numbers: nothing is delivered twice, nothing lost silently.
void EndpointImpl::check_epoch(RxChannel& ch) noexcept {
  // Acquire: pairs with the sender's release store of the epoch after the start sequence.
  const uint64_t e = ch.postbox_header.load64_acquire(wire::postbox::kEpoch);
  if (e == ch.epoch) return;
  const uint64_t start = ch.postbox_header.load64(wire::postbox::kStartSeq);
  if (e < ch.epoch || start < ch.expected || start - ch.released > layout_.slots()) {
    on_bad_indicator(ch, "epoch start", start, ch.expected);
    return;
  }
  uint64_t present = ch.expected;  // indicators already here, in sequence
  while (present < start) {
    const size_t off = static_cast<size_t>(present & slots_mask_) * wire::kLine;
    // Acquire: pairs with the sender's release store of word 0 in publish().
    if (wire::check_of(ch.slots.load64_acquire(off)) != wire::check_byte(present, slots_log2_)) break;
    ++present;
  }
  for (uint64_t s = present; s < start; ++s) {  // never landed: their memory is free
    bit_set(ch.release_bits, s & slots_mask_);
    ++ch.out_of_order;
  }
  ch.epoch = e;
  if (present == ch.expected) {
    ch.expected = start;
  } else {
    ch.skip_from = present;
    ch.skip_to = start;
  }
  if (ch.released < start && bit_test(ch.release_bits, ch.released & slots_mask_)) {
    bit_clear(ch.release_bits, ch.released & slots_mask_);  // absorb the freed run (unless a view holds an earlier one)
    --ch.out_of_order;
    release_seq(ch, ch.released);
  }
  ch.delivered_at_epoch = present;
  write_resync_ack(ch);
}

void EndpointImpl::write_resync_ack(RxChannel& ch) noexcept {
  ch.ack.store64(wire::ack::kDelivered, ch.delivered_at_epoch, StoreKind::kControl);
  ch.ack.store64(wire::ack::kReleased, ch.released, StoreKind::kControl);
  ch.ack.flush();  // the counts land before the epoch that validates them
  // Release: pairs with the acquire load of the epoch in refresh_acks().
  ch.ack.store64_release(wire::ack::kEpoch, ch.epoch, StoreKind::kControl);
  ch.ack.push();
  ch.acked = ch.released;
}

// ---- delivering ------------------------------------------------------------------------

Result<RecvInfo> EndpointImpl::deliver(RxChannel& ch, const Indicator& ind, std::span<std::byte> buf) noexcept {
  if (buf.size() < ind.total)
    return fail(Errc::kBufferTooSmall,
                "recv: the next message from rank (%u, %u) has %llu bytes but the buffer holds %zu: receive it with a "
                "larger buffer (probe() tells the size); it stays pending",
                ch.src.node, ch.src.local, static_cast<unsigned long long>(ind.total), buf.size());
  if (ind.kind == wire::Kind::kPiece) return receive_pieces(ch, ind, buf);
  if (ind.kind == wire::Kind::kInline) wire::unpack_inline(ind.words, ind.len, buf.data());
  else ch.pool.read(ind.pool_off, buf.data(), ind.len);  // c3: by the location in the indicator
  consume(ch, ind.flags);
  ++stats_.rx_msgs;
  stats_.rx_bytes += ind.len;
  return RecvInfo{ch.src, ind.tag, ind.len};
}

// c22-c26 on the receiving side: copy each piece out, acknowledge it at once (the sender
// reuses its slice), wait for the next one.
Result<RecvInfo> EndpointImpl::receive_pieces(RxChannel& ch, Indicator ind, std::span<std::byte> buf) noexcept {
  const uint64_t total = ind.total;
  const uint32_t tag = ind.tag;
  uint64_t received = 0;
  for (;;) {
    ch.pool.read(ind.pool_off, buf.data() + ind.msg_off, ind.len);
    received += ind.len;
    consume(ch, ind.flags);
    ++stats_.rx_pieces;
    if ((ind.flags & wire::flag::kLastPiece) != 0) {
      ++stats_.rx_msgs;
      stats_.rx_bytes += total;
      return RecvInfo{ch.src, tag, total};
    }
    uint64_t deadline = 0;
    for (uint32_t spin = 0;; ++spin) {
      const Peek p = peek(ch, ind);
      if (p == Peek::kReady) {
        if (ind.kind != wire::Kind::kPiece || ind.msg_off != received || ind.total != total)
          return fail(Errc::kCancelled,
                      "recv: the message of %llu bytes from rank (%u, %u) was cut short by its sender after %llu bytes "
                      "(its send failed or timed out); the partial message was dropped",
                      static_cast<unsigned long long>(total), ch.src.node, ch.src.local,
                      static_cast<unsigned long long>(received));
        break;
      }
      if (p == Peek::kBad) return take_pending_error();
      if (ch.state == ChannelState::kLinkDown)
        return fail(Errc::kLinkDown,
                    "recv: the link to node %u went down while a message of %llu bytes from rank (%u, %u) was arriving "
                    "(%llu bytes in); the partial message was dropped",
                    ch.src.node, static_cast<unsigned long long>(total), ch.src.node, ch.src.local,
                    static_cast<unsigned long long>(received));
      if (wait_check_due(spin)) {
        if (deadline == 0) deadline = now_ns() + uint64_t{config().timeout_ms} * 1'000'000;
        if (auto w = wait_check(deadline, ch.src, "recv", "the next piece of a message"); !w)
          return tl::unexpected(with_context(w.error(), "message of " + std::to_string(total) + " bytes stopped after " +
                                                            std::to_string(received) + " bytes"));
      }
      progress();
      cpu_pause();
    }
  }
}

// ---- API -------------------------------------------------------------------------------

namespace {
// The portable inline decode: checks words 1..inline_words(n) of the line at `off` against
// `check` and unpacks n bytes into dst. Out of line: its buffers stay off the fast path's frame.
[[gnu::noinline]] bool unpack_inline_scalar(const hal::InboundWindow& slots, size_t off, uint64_t w0, size_t n,
                                            uint8_t check, std::byte* dst) noexcept {
  uint64_t w[8];
  w[0] = w0;
  const size_t nw = wire::inline_words(n);
  for (size_t i = 1; i <= nw; ++i) {
    w[i] = slots.load64(off + 8 * i);  // ordered after the acquire load of word 0 (by the caller)
    if (wire::check_of(w[i]) != check) return false;  // not every word has landed yet
  }
  wire::unpack_inline(w, n, dst);
  return true;
}
}  // namespace

// One look at `ch` for the common case, in few instructions: an inline message that fits
// `buf` is delivered right here. kSlow: something else is there (use peek() and deliver()).
[[gnu::always_inline]] inline Fast EndpointImpl::recv_inline_fast(RxChannel& ch, std::span<std::byte> buf,
                                                                  RecvInfo& info) noexcept {
  const size_t off = static_cast<size_t>(ch.expected & slots_mask_) * wire::kLine;
  // Acquire: pairs with the sender's release store of word 0 in publish() / send_inline().
  const uint64_t w0 = ch.slots.load64_acquire(off);
  const uint8_t check = wire::check_byte(ch.expected, slots_log2_);
  if (wire::check_of(w0) != check) return Fast::kNone;
  const wire::SlotHeader h = wire::decode_header(w0);
  if (h.kind != wire::Kind::kInline || h.inline_len > inline_max_ || h.inline_len > buf.size()) return Fast::kSlow;
  // One 64-byte load after the acquire load of word 0; every word is checked on its own.
  const bool whole = wire::kVectorInlineCodec
                         ? wire::unpack_inline_avx512(reinterpret_cast<const uint64_t*>(ch.slots.at(off)),  // NOLINT
                                                      h.inline_len, check, buf.data())
                         : unpack_inline_scalar(ch.slots, off, w0, h.inline_len, check, buf.data());
  if (!whole) return Fast::kNone;
  consume(ch, h.flags);
  ++stats_.rx_msgs;
  stats_.rx_bytes += h.inline_len;
  info = RecvInfo{ch.src, h.tag, h.inline_len};
  return Fast::kDelivered;
}

// One look at the channel of `src`, or at the active ones in round-robin order, for a small
// message that fits `buf`: delivered right here. kSlow: `ch` holds something else.
[[gnu::always_inline]] inline Fast EndpointImpl::poll_fast(Rank src, std::span<std::byte> buf, RecvInfo& info,
                                                           RxChannel*& ch) noexcept {
  if (src != kAnySource) {
    RxChannel& c = rx_channel(src);
    if (!(c.active || try_activate(c)) || c.state == ChannelState::kCorrupt) return Fast::kNone;
    ch = &c;
    return recv_inline_fast(c, buf, info);
  }
  const auto n = static_cast<uint32_t>(active_.size());
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t idx = rr_cursor_ + i;
    if (idx >= n) idx -= n;
    RxChannel* c = active_[idx];
    if (c->state == ChannelState::kCorrupt) continue;
    const Fast f = recv_inline_fast(*c, buf, info);
    if (f == Fast::kNone) continue;
    ch = c;
    rr_cursor_ = idx + 1 == n ? 0 : idx + 1;  // fairness between senders
    return f;
  }
  return Fast::kNone;
}

Result<RecvInfo> EndpointImpl::recv(std::span<std::byte> buf, Rank src, bool blocking) noexcept {
  if (pending_errors_.empty() && (src == kAnySource || shape().contains(src))) [[likely]] {
    RecvInfo info;
    RxChannel* ch = nullptr;
    if (poll_fast(src, buf, info, ch) == Fast::kDelivered) [[likely]] return info;
  }
  return recv_wait(buf, src, blocking);
}

// Everything but an inline message found at the first look: errors, pool messages, pieces,
// waiting.
Result<RecvInfo> EndpointImpl::recv_wait(std::span<std::byte> buf, Rank src, bool blocking) noexcept {
  if (src != kAnySource && !shape().contains(src)) return tl::unexpected(shape().check_rank(src, "recv").error());
  maybe_check_links();
  uint64_t deadline = 0;
  RecvInfo info;
  for (uint32_t spin = 0;; ++spin) {
    if (!pending_errors_.empty()) return take_pending_error();
    RxChannel* ch = nullptr;
    const Fast f = poll_fast(src, buf, info, ch);
    if (f == Fast::kDelivered) return info;
    if (f == Fast::kSlow) {
      Indicator ind;
      const Peek p = peek(*ch, ind);
      if (p == Peek::kReady) {
        if (ind.kind != wire::Kind::kPiece || ind.msg_off == 0) return deliver(*ch, ind, buf);
        consume(*ch, ind.flags);  // a leftover piece of a message already reported as failed
        continue;
      }
      if (p == Peek::kBad) continue;  // reported by the next iteration
    }
    idle_poll();
    if (src != kAnySource && rx_channel(src).state == ChannelState::kCorrupt)
      return fail(Errc::kProtocolError, "recv: the channel from rank (%u, %u) was closed after it wrote malformed data",
                  src.node, src.local);
    if (!blocking) return tl::unexpected(Error(Errc::kWouldBlock));
    if (wait_check_due(spin)) {
      if (deadline == 0) deadline = now_ns() + uint64_t{config().timeout_ms} * 1'000'000;
      if (auto w = wait_check(deadline, src, "recv", "a message"); !w) return tl::unexpected(w.error());
    }
    if (pending_requests_ != 0) progress_requests();
    cpu_pause();
  }
}

Result<RecvInfo> EndpointImpl::probe(Rank src) noexcept {
  if (src != kAnySource && !shape().contains(src)) return tl::unexpected(shape().check_rank(src, "probe").error());
  if (!pending_errors_.empty()) return take_pending_error();
  RxChannel* ch = nullptr;
  Indicator ind;
  if (find_ready(src, ch, ind) == Peek::kReady) return RecvInfo{ch->src, ind.tag, ind.total};
  if (!pending_errors_.empty()) return take_pending_error();
  idle_poll();
  return tl::unexpected(Error(Errc::kWouldBlock));
}

Result<MessageView> EndpointImpl::recv_view(Rank src, bool blocking) noexcept {
  if (src != kAnySource && !shape().contains(src)) return tl::unexpected(shape().check_rank(src, "recv_view").error());
  maybe_check_links();
  uint64_t deadline = 0;
  for (uint32_t spin = 0;; ++spin) {
    if (!pending_errors_.empty()) return tl::unexpected(take_pending_error().error());
    RxChannel* ch = nullptr;
    Indicator ind;
    if (find_ready(src, ch, ind) == Peek::kReady) {
      if (ind.kind == wire::Kind::kPiece)
        return fail(Errc::kMessageTooLarge,
                    "recv_view: the next message from rank (%u, %u) has %llu bytes, above the CTS (%llu bytes): it "
                    "arrives in pieces and cannot be borrowed in place; receive it with recv() (it stays pending)",
                    ch->src.node, ch->src.local, static_cast<unsigned long long>(ind.total),
                    static_cast<unsigned long long>(config().cts));
      MessageView v;
      v.owner_ = this;
      v.source_ = ch->src;
      v.tag_ = ind.tag;
      v.size_ = ind.len;
      v.channel_ = shape().flat(ch->src);
      v.seq_ = ch->expected;
      if (ind.kind == wire::Kind::kInline) {
        wire::unpack_inline(ind.words, ind.len, v.inline_);
        v.ptr_ = v.inline_;
      } else {
        v.ptr_ = ch->pool.at(ind.pool_off);  // zero-copy: the message stays in the pool until released
      }
      advance_expected(*ch);
      ++ch->views_out;
      if ((ind.flags & wire::flag::kAckNow) != 0) ch->ack_now = true;
      ++stats_.rx_msgs;
      stats_.rx_bytes += ind.len;
      return v;
    }
    idle_poll();
    if (!blocking) return tl::unexpected(Error(Errc::kWouldBlock));
    if (wait_check_due(spin)) {
      if (deadline == 0) deadline = now_ns() + uint64_t{config().timeout_ms} * 1'000'000;
      if (auto w = wait_check(deadline, src, "recv_view", "a message"); !w) return tl::unexpected(w.error());
    }
    if (pending_requests_ != 0) progress_requests();
    cpu_pause();
  }
}

void EndpointImpl::release(MessageView& v) noexcept {
  if (v.owner_ != this) return;
  RxChannel& ch = rx_[v.channel_];
  --ch.views_out;
  v.owner_ = nullptr;
  release_seq(ch, v.seq_);
}

}  // namespace pbx::detail
