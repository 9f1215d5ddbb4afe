// Receiver side, messages held in this process's memory: messages in pieces that arrive while
// no receive call waits for them, and messages drained out of the postboxes while this process
// is blocked in a send. Cold paths: they run only when a sender stalls, a non-blocking call
// returns, or senders and receivers block on each other.
#include <algorithm>
#include <cstring>
#include <new>

#include "checksum.h"
#include "endpoint_impl.h"

namespace pbx::detail {

void EndpointImpl::refresh_slow(RxChannel& ch) noexcept {
  const bool slow = ch.held != nullptr || ch.partial.active;
  if (slow == ch.slow_counted) return;
  ch.slow_counted = slow;
  if (slow) ++rx_slow_;
  else --rx_slow_;
}

void EndpointImpl::hold(RxChannel& ch, std::unique_ptr<HeldMessage> m) noexcept {
  held_bytes_ += m->size;
  ++stats_.held_messages;
  HeldMessage* raw = m.get();
  if (ch.held_tail != nullptr) ch.held_tail->next = std::move(m);
  else ch.held = std::move(m);
  ch.held_tail = raw;
  refresh_slow(ch);
}

std::unique_ptr<HeldMessage> EndpointImpl::unhold(RxChannel& ch) noexcept {
  std::unique_ptr<HeldMessage> m = std::move(ch.held);
  ch.held = std::move(m->next);
  if (!ch.held) ch.held_tail = nullptr;
  held_bytes_ -= m->size;
  refresh_slow(ch);
  return m;
}

// The oldest held message of `ch`, which comes before anything still in its postbox.
Took EndpointImpl::take_held(RxChannel& ch, Want want, std::span<std::byte> buf, RecvInfo& info, MessageView* view,
                             Error& err) noexcept {
  HeldMessage& m = *ch.held;
  switch (want) {
    case Want::kProbe: info = RecvInfo{ch.src, m.tag, m.size}; return Took::kDelivered;
    case Want::kDrain: return Took::kNothing;
    case Want::kCopy:
      if (buf.size() < m.size) {
        err = buffer_too_small(ch, m.size, buf.size());
        return Took::kError;
      }
      if (m.size != 0) std::memcpy(buf.data(), m.data.get(), m.size);
      info = RecvInfo{ch.src, m.tag, m.size};
      (void)unhold(ch);
      return Took::kDelivered;
    case Want::kView: {
      const uint32_t tag = m.tag;
      const uint64_t size = m.size;
      // The view owns the held message now (release() frees it).
      fill_view(*view, ch, tag, size, 0, unhold(ch).release());
      return Took::kDelivered;
    }
  }
  return Took::kNothing;
}

// The first piece of a message above the CTS is next in `ch`: its bytes go into the caller's
// buffer (a copying receive, if no other message in pieces is using that buffer) or into
// memory of its own.
Took EndpointImpl::start_partial(RxChannel& ch, const wire::Indicator& ind, Want want, std::span<std::byte> buf,
                                 RecvInfo& info, MessageView* view, Error& err) noexcept {
  PartialMessage& p = ch.partial;
  if (want == Want::kCopy && partial_in_buf_ == nullptr) {
    if (buf.size() < ind.total) {
      err = buffer_too_small(ch, ind.total, buf.size());
      return Took::kError;
    }
    p.dst = buf.data();
    partial_in_buf_ = &ch;
  } else {
    if (want == Want::kCopy) return Took::kNothing;  // (take() keeps this from happening)
    if (want == Want::kDrain && !hold_unlimited_ && held_bytes_ + ind.total > config().hold_limit)
      return Took::kNothing;
    p.heap.reset(new (std::nothrow) std::byte[ind.total]);
    if (!p.heap) {
      if (want == Want::kDrain) return Took::kNothing;
      err = make_error(Errc::kNoMemory,
                       "recv_view: no memory for the message of %llu bytes from rank (%u, %u) (messages above the "
                       "CTS are assembled in the endpoint's memory for a view): receive it with recv()",
                       static_cast<unsigned long long>(ind.total), ch.src.node, ch.src.local);
      return Took::kError;
    }
    held_bytes_ += ind.total;
    p.dst = p.heap.get();
  }
  p.active = true;
  p.corrupt = false;
  p.tag = ind.tag;
  p.total = ind.total;
  p.received = 0;
  p.first_seq = ch.expected;
  refresh_slow(ch);
  return pull_pieces(ch, want, buf, info, view, err);
}

Took EndpointImpl::view_pieces(RxChannel& ch, const wire::Indicator& first, MessageView& v, Error& err) noexcept {
  const uint64_t piece = config().piece_size();
  const auto n = static_cast<uint32_t>((first.total + piece - 1) / piece);
  bool sum_ok = true;
  for (uint32_t k = 0; k < n; ++k) {
    wire::Indicator ind = first;
    if (k != 0) {
      const Peek pk = peek_at(ch, ch.expected + k, ind);
      if (pk != Peek::kReady) return Took::kNothing;  // not landed yet (kBad was reported)
      // Piece k of the same message, in slice k of the same region: anything else means its
      // sender gave up on it (its send failed) and went on with a new message.
      if (ind.kind != wire::Kind::kPiece || ind.msg_off != k * piece || ind.total != first.total ||
          ind.tag != first.tag || ind.pool_off != first.pool_off + k * piece) {
        for (uint32_t j = 0; j < k; ++j) consume(ch, wire::flag::kAckNow);
        ++stats_.partials_dropped;
        err = make_error(Errc::kCancelled,
                         "recv_view: the message of %llu bytes (tag %u) from rank (%u, %u) was cut short by its sender "
                         "(its send failed or timed out) after %u pieces; it was dropped",
                         static_cast<unsigned long long>(first.total), first.tag, ch.src.node, ch.src.local, k);
        return Took::kError;
      }
    }
    if ((ind.checksum & wire::kChecksumPresent) != 0 &&
        crc32c(ch.pool.at(ind.pool_off), ind.len) != static_cast<uint32_t>(ind.checksum))
      sum_ok = false;
  }
  from_peer_barrier();  // the payload loads above come before the incarnation load below
  if (sender_restarted(ch)) {
    reset_rx_channel(ch);
    return Took::kNothing;
  }
  if (!sum_ok) {
    for (uint32_t k = 0; k < n; ++k) consume(ch, wire::flag::kAckNow);
    ++ch.taken;
    err = checksum_error(ch, first.total, first.tag, "recv_view");
    return Took::kError;
  }
  fill_view(v, ch, first.tag, first.total, ch.expected, nullptr);
  v.ptr_ = ch.pool.at(first.pool_off);  // zero-copy: the region stays the view's until released
  v.slots_ = n;
  ch.expected += n;  // released by release()
  ++ch.taken;
  ++ch.views_out;
  ch.ack_now = true;  // its sender waits for this region to send more
  ++stats_.rx_msgs;
  stats_.rx_bytes += first.total;
  stats_.rx_pieces += n;
  return Took::kDelivered;
}

// Copies the pieces of `ch`'s message that have arrived. kPending: more are to come;
// kDelivered: the message is whole (in the caller's buffer, or held, or handed to `view`).
Took EndpointImpl::pull_pieces(RxChannel& ch, Want want, std::span<std::byte> buf, RecvInfo& info,
                               MessageView* view, Error& err) noexcept {
  PartialMessage& p = ch.partial;
  if (want == Want::kProbe) {
    info = RecvInfo{ch.src, p.tag, p.total};
    return Took::kDelivered;
  }
  for (;;) {
    wire::Indicator ind;
    const Peek pk = ch.state == ChannelState::kCorrupt ? Peek::kBad : peek(ch, ind);
    if (pk == Peek::kBad) {  // reported by peek(); nothing more comes from this channel
      drop_partial(ch, nullptr);
      return Took::kNothing;
    }
    if (pk == Peek::kNone) return Took::kPending;
    if (ind.kind != wire::Kind::kPiece || ind.msg_off != p.received || ind.total != p.total || ind.tag != p.tag) {
      drop_partial(ch, "cut short by its sender (its send failed or timed out)");
      return Took::kNothing;
    }
    if (!copy_checked(ch, ind, p.dst + ind.msg_off)) p.corrupt = true;
    if (sender_restarted(ch)) {  // what we copied may be the new incarnation's
      reset_rx_channel(ch);
      return Took::kNothing;
    }
    consume(ch, ind.flags);
    p.received += ind.len;
    ++stats_.rx_pieces;
    if ((ind.flags & wire::flag::kLastPiece) != 0) break;
  }
  // Whole.
  ++ch.taken;
  const bool in_buf = partial_in_buf_ == &ch;
  if (in_buf) partial_in_buf_ = nullptr;
  else held_bytes_ -= p.total;
  std::unique_ptr<std::byte[]> heap = std::move(p.heap);
  p.active = false;
  p.dst = nullptr;
  refresh_slow(ch);
  if (p.corrupt) {
    err = checksum_error(ch, p.total, p.tag, "recv (a piece of it)");
    return Took::kError;
  }
  ++stats_.rx_msgs;
  stats_.rx_bytes += p.total;
  if (in_buf && want == Want::kCopy) {
    info = RecvInfo{ch.src, p.tag, p.total};
    return Took::kDelivered;
  }
  std::unique_ptr<HeldMessage> m(new (std::nothrow) HeldMessage);
  if (!m) {
    err = make_error(Errc::kNoMemory, "recv: no memory to hold a message of %llu bytes from rank (%u, %u); it was dropped",
                     static_cast<unsigned long long>(p.total), ch.src.node, ch.src.local);
    return Took::kError;
  }
  m->tag = p.tag;
  m->size = p.total;
  m->data = std::move(heap);
  hold(ch, std::move(m));
  if (want == Want::kDrain) return Took::kDelivered;
  return take_held(ch, want, buf, info, view, err);
}

// The receive call whose buffer holds `ch`'s message in pieces returns (or lets other senders
// deliver into it): the bytes so far move into memory of their own.
bool EndpointImpl::park(RxChannel& ch) noexcept {
  PartialMessage& p = ch.partial;
  if (!p.active || partial_in_buf_ != &ch) return true;
  partial_in_buf_ = nullptr;
  p.heap.reset(new (std::nothrow) std::byte[p.total]);
  if (!p.heap) {
    drop_partial(ch, "dropped: there was no memory to hold it when the receive call returned");
    return false;
  }
  std::memcpy(p.heap.get(), p.dst, p.received);
  p.dst = p.heap.get();
  held_bytes_ += p.total;
  return true;
}

void EndpointImpl::park_partials_in(std::span<std::byte> /*buf*/) noexcept {
  if (partial_in_buf_ != nullptr) (void)park(*partial_in_buf_);
}

// Gives up `ch`'s message in pieces; `why` (if any) becomes the next receive call's error.
void EndpointImpl::drop_partial(RxChannel& ch, const char* why) noexcept {
  PartialMessage& p = ch.partial;
  if (!p.active) return;
  if (why != nullptr)
    push_error(make_error(Errc::kCancelled,
                          "recv: the message of %llu bytes (tag %u) from rank (%u, %u) was %s after %llu bytes; the "
                          "partial message was dropped",
                          static_cast<unsigned long long>(p.total), p.tag, ch.src.node, ch.src.local, why,
                          static_cast<unsigned long long>(p.received)));
  if (partial_in_buf_ == &ch) partial_in_buf_ = nullptr;
  else held_bytes_ -= p.total;
  p.heap.reset();
  p.dst = nullptr;
  p.active = false;
  ++stats_.partials_dropped;
  refresh_slow(ch);
}

bool EndpointImpl::drain_incoming() noexcept {
  if (config().hold_limit == 0) return false;
  bool took = false;
  for (RxChannel* ch : active_) {
    for (uint32_t i = 0; i <= slots_mask_; ++i) {
      if (held_bytes_ >= config().hold_limit) break;
      RecvInfo info;
      Error err(Errc::kWouldBlock);
      const Took t = take(*ch, Want::kDrain, {}, info, nullptr, err);
      if (t == Took::kError) push_error(std::move(err));
      if (t != Took::kDelivered && t != Took::kError) break;
      took = true;
    }
  }
  if (took) write_idle_acks();
  return took;
}

}  // namespace pbx::detail
