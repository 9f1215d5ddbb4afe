#include "pbx/hal/spad_handshake.h"

#include <cinttypes>

#include "pbx/base/barrier.h"

namespace pbx::hal {

const char* to_string(SpadHandshake::State s) noexcept {
  switch (s) {
    case SpadHandshake::State::kLinkDown: return "link-down";
    case SpadHandshake::State::kWaiting: return "waiting";
    case SpadHandshake::State::kUp: return "up";
    case SpadHandshake::State::kMismatch: return "mismatch";
  }
  return "?";
}

Result<void> HandshakeOptions::validate() const {
  if (epoch == 0) return fail(Errc::kInvalidArgument, "link handshake: the epoch must be non-zero (0 means 'left')");
  if (timeout_ns == 0 || reannounce_ns == 0)
    return fail(Errc::kInvalidArgument, "link handshake: timeout_ns and reannounce_ns must be non-zero");
  return {};
}

PeerVerdict judge_peer_spads(const PeerSpads& peer, const OwnSpads& own) noexcept {
  if (peer.magic != SpadHandshake::kMagic || peer.epoch == 0) return PeerVerdict::kAbsent;
  if (peer.version != SpadHandshake::kVersion || peer.window_pages != own.window_pages || peer.nodes != own.nodes)
    return PeerVerdict::kMismatch;
  return peer.ack == own.epoch ? PeerVerdict::kAcked : PeerVerdict::kUnacked;
}

Result<void> SpadHandshake::check(const Device& dev, NodeIdx peer, const HandshakeOptions& opts) {
  if (auto ok = opts.validate(); !ok) return ok;
  const DeviceInfo& i = dev.info();
  if (peer.v >= i.node_count || peer == i.self)
    return fail(Errc::kInvalidArgument, "link handshake: node %u is not a peer of node %u (%u nodes)", peer.v, i.self.v,
                i.node_count);
  if (i.spad_count < kSpadsUsed)
    return fail(Errc::kNotSupported, "link handshake: the %s device %s has %u scratchpads per peer; it needs %u",
                i.backend.c_str(), i.name.c_str(), i.spad_count, unsigned{kSpadsUsed});
  return {};
}

SpadHandshake::SpadHandshake(Device& dev, NodeIdx peer, const HandshakeOptions& opts, Clock& clock) noexcept
    : dev_(dev), peer_(peer), opts_(opts), clock_(clock) {
  window_pages_ = static_cast<uint32_t>(dev.info().window_size >> 12);
  nodes_ = dev.info().node_count;
  attempt_start_ = clock_.now_ns();
}

void SpadHandshake::set_state(State s) noexcept {
  if ((state_ == State::kUp) != (s == State::kUp)) ++generation_;  // every up/down transition
  state_ = s;
}

void SpadHandshake::new_attempt(uint64_t now) noexcept {
  attempt_start_ = now;
  reported_ = false;
}

// Writes all our scratchpads at the peer: the description first, the epoch that validates it
// after it, then the ack. Each write is ordered after the previous one (release stores in
// shared memory, posted writes in order on a real link), so a peer that sees the epoch sees
// the rest.
Result<void> SpadHandshake::announce(uint64_t now) {
  last_announce_ = now;
  const uint32_t values[kSpadsUsed] = {kMagic, kVersion, window_pages_, nodes_, opts_.epoch, peer_epoch_};
  for (uint16_t i = 0; i < kSpadsUsed; ++i)
    if (auto ok = dev_.peer_spad_write(peer_, SpadIdx(i), values[i]); !ok) return ok;
  return {};
}

Result<void> SpadHandshake::maybe_reannounce(uint64_t now) {
  if (now - last_announce_ < opts_.reannounce_ns) return {};
  return announce(now);
}

Result<bool> SpadHandshake::read_peer(PeerSpads* v) {
  auto rd = [&](Spad i) { return dev_.spad_read(peer_, SpadIdx(i)); };
  auto e1 = rd(kSpadEpoch);
  if (!e1) return tl::unexpected(e1.error());
  auto magic = rd(kSpadMagic), version = rd(kSpadVersion), pages = rd(kSpadWindowPages), nodes = rd(kSpadNodes),
       ack = rd(kSpadAck), e2 = rd(kSpadEpoch);
  for (auto* r : {&magic, &version, &pages, &nodes, &ack, &e2})
    if (!*r) return tl::unexpected(r->error());
  if (*e1 != *e2) return false;  // the peer re-announced while we read: look again next step
  *v = PeerSpads{*magic, *version, *pages, *nodes, *e1, *ack};
  return true;
}

Result<void> SpadHandshake::check_deadline(uint64_t now, const char* why) {
  if (state_ == State::kUp || reported_ || now - attempt_start_ < opts_.timeout_ns) return {};
  reported_ = true;
  return fail(Errc::kTimedOut,
              "link handshake with node %u: no answer within %" PRIu64
              " ms (%s): start postboxd on node %u with the same postbox version and device geometry, or check the "
              "link; this node keeps waiting for it",
              peer_.v, opts_.timeout_ns / 1'000'000, why, peer_.v);
}

// A write that fails because the link just went down is not an error: the next step sees the
// link down. Anything else is.
static Result<void> unless_link_down(Result<void> r) {
  if (!r && r.error().code() == Errc::kLinkDown) return {};
  return r;
}

Result<void> SpadHandshake::step() {
  const uint64_t now = clock_.now_ns();
  const LinkStatus hw = dev_.link_status(peer_);
  if (!hw.up) {
    if (state_ != State::kLinkDown) {
      if (state_ == State::kUp) new_attempt(now);
      set_state(State::kLinkDown);
    }
    return check_deadline(now, "the device link to it is down");
  }
  if (state_ == State::kLinkDown || hw.generation != hw_generation_) {
    // The link came up, or went down and up between two steps: everything again.
    hw_generation_ = hw.generation;
    if (state_ == State::kUp) new_attempt(now);
    set_state(State::kWaiting);
    if (auto ok = unless_link_down(announce(now)); !ok) return ok;
  }

  PeerSpads v{};
  auto consistent = read_peer(&v);
  if (!consistent) return tl::unexpected(consistent.error());
  if (!*consistent) return {};

  const PeerVerdict verdict = judge_peer_spads(v, OwnSpads{window_pages_, nodes_, opts_.epoch});
  if (verdict == PeerVerdict::kAbsent) {  // no node manager there (never started, or left)
    if (state_ != State::kWaiting) {
      if (state_ == State::kUp) new_attempt(now);
      set_state(State::kWaiting);
    }
    if (peer_epoch_ != 0) {
      // Withdraw our ack: if the peer is in fact there and only lost what we wrote (a device
      // reset on its side), the missing ack makes it announce itself again.
      peer_epoch_ = 0;
      if (auto ok = unless_link_down(announce(now)); !ok) return ok;
    } else if (auto ok = unless_link_down(maybe_reannounce(now)); !ok) {
      return ok;
    }
    return check_deadline(now, "its scratchpads show no node manager");
  }
  if (v.epoch != peer_epoch_) {  // a new instance of the peer's node manager
    if (state_ == State::kUp) new_attempt(now);
    set_state(State::kWaiting);
    peer_epoch_ = v.epoch;
    // All of ours again, with the ack: a restarted peer may have lost what we wrote before.
    if (auto ok = unless_link_down(announce(now)); !ok) return ok;
  }
  if (verdict == PeerVerdict::kMismatch) {
    set_state(State::kMismatch);
    if (mismatch_epoch_ == v.epoch) return {};
    mismatch_epoch_ = v.epoch;
    return fail(Errc::kConfigMismatch,
                "link handshake with node %u: its node manager runs handshake version %u with %u nodes and %" PRIu64
                " KiB windows; this node runs version %u with %u nodes and %" PRIu64
                " KiB windows: start postboxd on every node with the same postbox version and device geometry",
                peer_.v, v.version, v.nodes, uint64_t{v.window_pages} * 4, kVersion, nodes_,
                uint64_t{window_pages_} * 4);
  }
  if (verdict == PeerVerdict::kAcked) {
    set_state(State::kUp);
    return {};
  }
  // The peer has not acknowledged us: not yet, or it lost our scratchpads.
  if (state_ == State::kUp) {
    new_attempt(now);
    set_state(State::kWaiting);
    if (auto ok = unless_link_down(announce(now)); !ok) return ok;
  } else {
    set_state(State::kWaiting);
    if (auto ok = unless_link_down(maybe_reannounce(now)); !ok) return ok;
  }
  return check_deadline(now, "it has not acknowledged this node");
}

void SpadHandshake::leave() noexcept {
  // The epoch first: a peer that reads between the two writes already sees us gone.
  (void)dev_.peer_spad_write(peer_, SpadIdx(kSpadEpoch), 0);
  (void)dev_.peer_spad_write(peer_, SpadIdx(kSpadMagic), 0);
  set_state(State::kLinkDown);
}

}  // namespace pbx::hal
