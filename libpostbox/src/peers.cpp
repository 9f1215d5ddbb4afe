// Peers' liveness: who left, who died, who came back as a new incarnation. Every process reads
// the others' presence lines (local memory); how a death without a goodbye shows depends on the
// backend (hal::Liveness): the process table (loopback), the node manager marking its dead
// clients gone (postboxd), or a heartbeat that stops (NTB, ivshmem). Cold paths.
#include <algorithm>
#include <chrono>

#include "pbx/base/cpu_features.h"

#include "endpoint_impl.h"

namespace pbx::detail {

using hal::StoreKind;

wire::Presence EndpointImpl::read_presence(Rank r) const noexcept {
  const hal::InboundWindow& in = in_[r.node];
  const size_t off = layout_.presence_off(r.local);
  // Acquire: pairs with the release store of the magic in write_presence().
  const uint64_t magic = in.load64_acquire(off + wire::presence::kMagic);
  // Acquire: pairs with the release store of the incarnation, which follows the other fields.
  const uint64_t inc = in.load64_acquire(off + wire::presence::kIncarnation);
  return wire::decode_presence(magic, inc, in.load64(off + wire::presence::kState),
                               in.load64(off + wire::presence::kFingerprint), in.load64(off + wire::presence::kPid),
                               in.load64(off + wire::presence::kHeartbeat),
                               in.load64(off + wire::presence::kHeartbeatMs));
}

bool EndpointImpl::peer_gone(Rank r) noexcept {
  if (!peers_[shape().flat(r)].gone) return false;
  check_peers(now_ns());
  return peers_[shape().flat(r)].gone;
}

void EndpointImpl::maybe_check_peers() noexcept {
  if ((++peer_polls_ & 63) != 0) return;
  const uint64_t now = now_ns();
  if (now >= next_peer_check_ns_) check_peers(now);
}

void EndpointImpl::check_peers(uint64_t now) noexcept {
  next_peer_check_ns_ = now + peer_check_period_ns_;
  if (beat_in_calls_ && now >= next_beat_ns_) {  // (no beacon thread: the calls beat)
    next_beat_ns_ = now + uint64_t{beat_period_ms()} * 1'000'000;
    write_heartbeat();
  }
  const uint64_t timeout_ns = uint64_t{config().effective_peer_timeout_ms()} * 1'000'000;
  const hal::Liveness liveness = dev_->info().liveness;
  for (uint32_t r = 0; r < shape().size(); ++r) {
    if (r == self_flat_) continue;
    PeerState& ps = peers_[r];
    const Rank rank = shape().rank_of(r);
    const wire::Presence p = read_presence(rank);
    if (p.state == wire::presence::kAbsent) continue;
    if (p.incarnation != ps.incarnation) {
      if (p.state != wire::presence::kUp) continue;  // the goodbye of some other incarnation
      on_peer_restart(r, p);
      continue;
    }
    if (ps.gone) continue;
    if (p.state == wire::presence::kGone) {
      on_peer_gone(r, false);
      continue;
    }
    bool dead = false;
    switch (liveness) {
      case hal::Liveness::kProcessTable:
        dead = dev_->process_state(hal::NodeIdx(rank.node), p.pid) == hal::ProcessState::kDead;
        break;
      case hal::Liveness::kNodeManager: break;  // it writes kGone into the line of a client that died
      case hal::Liveness::kHeartbeat:
        if (p.heartbeat_ms == 0) break;
        if (p.heartbeat != ps.heartbeat) {
          ps.heartbeat = p.heartbeat;
          ps.heartbeat_seen_ns = now;
        } else if (now - ps.heartbeat_seen_ns > timeout_ns && link_up_[rank.node] != 0) {
          dead = true;  // (while the link is down its heartbeats cannot arrive: that is a link error)
        }
        break;
    }
    if (dead) on_peer_gone(r, true);
  }
}

// Requests on `t` that have started fail (their receiver is gone or restarted); their memory
// comes back with the reclaim that follows.
void EndpointImpl::fail_requests(TxChannel& t, const Error& e) noexcept {
  for (SendRequest& r : requests_) {
    if (!r.in_use || r.done || r.ch != &t) continue;
    abort_large(r);
    finish_request(r, tl::unexpected(e));
  }
}

void EndpointImpl::on_peer_gone(uint32_t flat, bool died) noexcept {
  PeerState& ps = peers_[flat];
  if (ps.gone) return;
  ps.gone = true;
  ps.died = died;
  ++stats_.peers_gone;
  TxChannel& t = tx_[flat];
  if (t.state != ChannelState::kCorrupt) {
    if (t.state == ChannelState::kOk) refresh_acks(t);  // what it acknowledged before it went
    if (t.state == ChannelState::kResyncing) --resyncing_;
    t.state = ChannelState::kGone;
    t.fast_until = 0;
    fail_requests(t, channel_error(t, "send"));
    report_lost(t, message_ends(t, t.released, t.head), Errc::kPeerGone);
    reclaim(t, t.head);
  }
  // What it sent before it went is still delivered; a message it was sending in pieces is not
  // coming any more. (Unless the channel already follows its next incarnation, which may have
  // rewritten its segment before its presence line was read here.)
  RxChannel& x = rx_[flat];
  if (x.partial.active && x.sender == ps.incarnation) {
    (void)park(x);
    RecvInfo info;
    Error err(Errc::kWouldBlock);
    hold_unlimited_ = true;
    const Took took = pull_pieces(x, Want::kDrain, {}, info, nullptr, err);
    hold_unlimited_ = false;
    if (took == Took::kError) push_error(std::move(err));
    if (x.partial.active) drop_partial(x, died ? "cut short: its sender died" : "cut short: its sender left");
  }
}

// `flat` came back as a new incarnation: messages its earlier incarnation did not acknowledge
// are reported lost, and the channel to it starts over with an epoch for the new one.
void EndpointImpl::on_peer_restart(uint32_t flat, const wire::Presence& p) noexcept {
  PeerState& ps = peers_[flat];
  const bool first_sight = ps.incarnation == 0;
  if (!first_sight) {
    if (!ps.gone) on_peer_gone(flat, true);  // it died without our noticing
    ++stats_.peer_restarts;
  }
  // Anything still unacknowledged was meant for the earlier incarnation (none, normally: its
  // death settled the channel).
  TxChannel& t = tx_[flat];
  if (t.head != t.released && t.state != ChannelState::kCorrupt) {
    report_lost(t, message_ends(t, t.released, t.head), Errc::kPeerGone);
    reclaim(t, t.head);
  }
  ps = PeerState{};
  ps.incarnation = p.incarnation;
  ps.pid = p.pid;
  ps.heartbeat = p.heartbeat;
  ps.heartbeat_seen_ns = now_ns();
  if (t.state == ChannelState::kResyncing) --resyncing_;
  t.fast_until = 0;
  t.target_started = false;
  t.resync_owed = false;
  if (link_up_[t.dst.node] == 0) {  // (the epoch for it starts when the link is back)
    t.state = ChannelState::kLinkDown;
    t.target = p.incarnation;
    return;
  }
  t.state = ChannelState::kOk;
  if (t.dst.node != self_.node) rewrite_node_lines(t.dst.node);
  if (t.seg->created) start_epoch(t, p.incarnation);
  else t.target = p.incarnation;
}

// ---- heartbeats (Liveness::kHeartbeat) -----------------------------------------------

uint32_t EndpointImpl::beat_period_ms() const noexcept {
  return std::max<uint32_t>(1, config().effective_peer_timeout_ms() / 4);
}

// One heartbeat into our presence line in every node (only the beacon thread, or only the
// calls, ever write it).
void EndpointImpl::write_heartbeat() noexcept {
  ++beats_;
  for (hal::OutboundWindow& w : beacon_lines_) {
    w.store64(wire::presence::kHeartbeat, beats_, StoreKind::kControl);
    w.push();
  }
}

// A thread that only beats, so that a process busy elsewhere (not calling postbox) is not
// taken for dead. ThreadSanitizer builds beat from inside the calls instead (TSan cannot start
// threads in a child forked from a threaded parent, as the tests do).
void EndpointImpl::start_beacon() {
  if (dev_->info().liveness != hal::Liveness::kHeartbeat) return;
  if (kScalarSharedMemory) {
    beat_in_calls_ = true;
    return;
  }
  const uint32_t period_ms = beat_period_ms();
  beacon_ = std::thread([this, period_ms] {
    std::unique_lock<std::mutex> lock(beacon_mu_);
    while (!beacon_cv_.wait_for(lock, std::chrono::milliseconds(period_ms), [this] { return beacon_stop_; }))
      write_heartbeat();
  });
}

void EndpointImpl::stop_beacon() noexcept {
  if (!beacon_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(beacon_mu_);
    beacon_stop_ = true;
  }
  beacon_cv_.notify_all();
  beacon_.join();
}

}  // namespace pbx::detail
