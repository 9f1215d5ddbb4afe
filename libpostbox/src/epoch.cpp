// Epochs: how a channel starts, resumes after a link outage, and starts over when either end
// is restarted (a new incarnation).
//
// A sender writes its postbox header (a seqlock: epoch, start sequence, receiver incarnation,
// sender incarnation) when its segment is created, when a link comes back, and when it sees the
// receiver restarted. A receiver adopts an epoch only if the header names its own incarnation
// and the incarnation of the sender whose segment it follows; then it tells the sender, in its
// ack block, how many messages of this pair of incarnations it has taken. A resyncing sender
// sent nothing since the outage, so the rest of what it sent is the tail the outage lost: it
// reports those as lost, and both skip their sequence numbers. Nothing is delivered twice,
// nothing lost silently, nothing written for one incarnation read by another.
// Cold paths.
#include "endpoint_impl.h"

namespace pbx::detail {

using hal::StoreKind;

// Sender side: a new epoch for `t` starting at its next sequence number, for receiver
// incarnation `target`.
void EndpointImpl::start_epoch(TxChannel& t, uint64_t target) noexcept {
  if (++t.epoch == 0) t.epoch = 1;  // 0 means "none"
  if (!t.target_started || target != t.target) {
    t.messages_at_target = t.messages;
    t.lost_for_target = 0;
    t.target_started = true;
  }
  t.target = target;
  t.fast_until = 0;
  hal::OutboundWindow& h = t.postbox_header;
  h.store64(wire::postbox::kEpoch, 0, StoreKind::kControl);
  h.flush();  // readers see the header as being rewritten before any other word of it changes
  h.store64(wire::postbox::kStartSeq, t.head, StoreKind::kControl);
  h.store64(wire::postbox::kTarget, target, StoreKind::kControl);
  h.store64(wire::postbox::kSender, incarnation_, StoreKind::kControl);
  h.flush();  // the fields land before the epoch that validates them
  // Release: pairs with the seqlock's acquire load of the epoch in check_epoch().
  h.store64_release(wire::postbox::kEpoch, wire::epoch_word(incarnation_, t.epoch), StoreKind::kControl);
  h.push();
}

// Receiver side: forget everything of the sender incarnation `ch` followed (it was restarted).
// Messages already held stay: they were whole and come first.
void EndpointImpl::reset_rx_channel(RxChannel& ch) noexcept {
  drop_partial(ch, nullptr);
  ch.active = false;
  ch.sender = 0;
  ch.epoch = 0;
  ch.taken = 0;
  ch.expected = ch.released = ch.acked = 0;
  ch.out_of_order = 0;
  std::fill(ch.release_bits, ch.release_bits + (slots_mask_ + 64) / 64, 0);
  ch.views_out = 0;  // views into the old pool release nothing (MessageView::sender_)
  ch.ack_follows = false;
  ch.ack_now = false;
  ch.state = ChannelState::kOk;
}

// Looks at the segment of `ch`'s sender: a new one (c31), or one a restarted sender rewrites.
void EndpointImpl::follow_segment(RxChannel& ch) noexcept {
  // Acquire: pairs with the release store of the magic in ensure_segment().
  if (ch.seg_header.load64_acquire(wire::seg::kMagic) != wire::kSegmentMagic) return;
  // Acquire: the incarnation is stored first (with release) by a restarting sender; what we
  // read of its segment after this is at least as new.
  const uint64_t inc = ch.seg_header.load64_acquire(wire::seg::kIncarnation);
  if (inc == 0) return;
  if (inc != ch.sender) {
    if (ch.sender != 0) reset_rx_channel(ch);
    const uint64_t fp = ch.seg_header.load64(wire::seg::kFingerprint);
    ch.sender = inc;
    if (!ch.listed) {
      ch.listed = true;
      active_.push_back(&ch);  // capacity reserved at creation: no allocation
    }
    if (fp != layout_.fingerprint()) {
      ch.state = ChannelState::kCorrupt;
      push_error(make_error(Errc::kConfigMismatch,
                            "rank (%u, %u) runs with a different postbox configuration or job shape (fingerprint "
                            "%016llx, ours %016llx); its messages are ignored: start every process with the same Config",
                            ch.src.node, ch.src.local, static_cast<unsigned long long>(fp),
                            static_cast<unsigned long long>(layout_.fingerprint())));
      return;
    }
  }
  check_epoch(ch);
}

void EndpointImpl::scan_channels() noexcept {
  for (RxChannel& ch : rx_) follow_segment(ch);
}

// Reads the postbox header of `ch` (a seqlock) and adopts a new epoch meant for us.
void EndpointImpl::check_epoch(RxChannel& ch) noexcept {
  if (ch.sender == 0 || ch.state == ChannelState::kCorrupt) return;
  // Acquire: pairs with the sender's release store of the epoch in start_epoch().
  const uint64_t e = ch.postbox_header.load64_acquire(wire::postbox::kEpoch);
  if (e == 0 || !wire::epoch_word_of(e, ch.sender) || wire::epoch_of(e) == 0) return;  // not (yet) its
  if (ch.active && wire::epoch_of(e) == ch.epoch) return;
  wire::PostboxHeader h;
  h.epoch = wire::epoch_of(e);
  h.start = ch.postbox_header.load64(wire::postbox::kStartSeq);
  h.target = ch.postbox_header.load64(wire::postbox::kTarget);
  h.sender = ch.postbox_header.load64(wire::postbox::kSender);
  // Orders the field loads before the second load of the epoch (x86 keeps loads in order).
  from_peer_barrier();
  if (ch.postbox_header.load64(wire::postbox::kEpoch) != e) return;  // being rewritten: look again later
  if (h.sender != ch.sender || h.target != incarnation_) return;     // not (yet) for us
  adopt_epoch(ch, h);
}

void EndpointImpl::adopt_epoch(RxChannel& ch, const wire::PostboxHeader& h) noexcept {
  const auto epoch = static_cast<uint16_t>(h.epoch);
  if (!ch.active) {  // the first epoch of this sender incarnation for us
    ch.active = true;
    ch.epoch = epoch;
    ch.expected = ch.released = ch.acked = h.start;
    ch.out_of_order = 0;
    std::fill(ch.release_bits, ch.release_bits + (slots_mask_ + 64) / 64, 0);
    write_adoption_ack(ch);
    return;
  }
  // A resync: the sender's new epoch starts at its next sequence number, never more than a
  // postbox ahead of what we released. (It may be behind `expected`: a sender that had nothing
  // unacknowledged resumes at once, and we may read its new messages before this look.)
  if (h.start > ch.released + layout_.slots()) {
    on_bad_indicator(ch, wire::Refusal{"epoch start", h.start, ch.released + layout_.slots()});
    return;
  }
  // Every indicator of the old epoch that landed is whole (its payload was flushed before it):
  // take them in, so that they are delivered; a message in pieces that stopped is dropped.
  (void)park(ch);
  hold_unlimited_ = true;
  for (uint32_t i = 0; i <= slots_mask_ && ch.expected < h.start; ++i) {
    RecvInfo info;
    Error err(Errc::kWouldBlock);
    const Took t = take(ch, Want::kDrain, {}, info, nullptr, err);
    if (t == Took::kError) push_error(std::move(err));
    else if (t != Took::kDelivered) break;
  }
  hold_unlimited_ = false;
  if (ch.state == ChannelState::kCorrupt) return;
  if (ch.partial.active && ch.partial.first_seq < h.start) {
    drop_partial(ch, "cut short by a link outage (its sender got an error)");
  }
  // The sequence numbers up to the new start never landed (or belong to a dropped message):
  // released at once.
  for (uint64_t s = ch.expected; s < h.start; ++s) mark_released(ch, s);
  if (ch.expected < h.start) ch.expected = h.start;
  ch.epoch = epoch;
  write_adoption_ack(ch);
}

// Tells the sender that we follow its epoch: its incarnation (once), how many of its messages
// we took, then the released count, each word after the one before it.
void EndpointImpl::write_adoption_ack(RxChannel& ch) noexcept {
  const uint16_t node = ch.src.node;
  if (ack_segment_created_[node] == 0) {  // c35: the ack segment is created on first use
    auto ok = dev_->commit_peer_memory(hal::NodeIdx(node), layout_.ack_segment_off(), layout_.ack_segment_size());
    if (!ok) {
      push_error(with_context(ok.error(), "creating the ack segment on node " + std::to_string(node)));
      return;
    }
    ack_segment_created_[node] = 1;
    ++stats_.ack_segments_created;
  }
  if (!ch.ack_follows) {
    ch.ack.store64(wire::ack::kReleased, 0, StoreKind::kControl);
    ch.ack.flush();  // the old count is gone before the block names the new sender incarnation
    ch.ack.store64(wire::ack::kSender, ch.sender, StoreKind::kControl);
    ch.ack.flush();  // the sender reads counts only after it reads its incarnation here
    ch.ack_follows = true;
  }
  ch.ack.store64(wire::ack::kTaken, wire::ack_word(ch.taken, ch.epoch), StoreKind::kControl);
  ch.ack.flush();  // the number lands before the count of the epoch it belongs to
  // Release: pairs with the acquire load of word 0 in refresh_acks().
  ch.ack.store64_release(wire::ack::kReleased, wire::ack_word(ch.released, ch.epoch), StoreKind::kControl);
  ch.ack.push();
  ch.acked = ch.released;
  ch.ack_now = false;
  ++stats_.acks_written;
}

}  // namespace pbx::detail
