#include "pbx/ntb/amd/link_bringup.h"

#include <cinttypes>

namespace pbx::ntb::amd {

Result<AmdLinkBringUp::State> AmdLinkBringUp::failed(Error e) {
  error_ = e;
  return tl::unexpected(std::move(e));
}

void AmdLinkBringUp::announce() {
  ntb_->set_ready();
  deadline_ns_ = clock_->now_ns() + timeout_ns_;
  state_ = State::kWaitPeer;
}

void AmdLinkBringUp::go_down() {
  state_ = State::kWaitPeer;
  ++generation_;
  link_ = PcieLink{};
  deadline_ns_ = clock_->now_ns() + timeout_ns_;
}

Result<AmdLinkBringUp::State> AmdLinkBringUp::poll() {
  if (error_) return tl::unexpected(*error_);
  const uint64_t now = clock_->now_ns();
  switch (state_) {
    case State::kIdle:
      if (ntb_->ready()) {
        // Dirty shutdown: make the peer see us go away before we come back.
        dirty_ = true;
        ntb_->clear_ready();
        ntb_->ring_goodbye();
        deadline_ns_ = now + dirty_wait_ns_;
        state_ = State::kDirtyWait;
        return state_;
      }
      announce();
      break;
    case State::kDirtyWait:
      if (now < deadline_ns_) return state_;
      announce();
      break;
    case State::kWaitPeer:
    case State::kUp: break;
  }

  // Events: acknowledge what is pending; a link-down on the primary clears the peer's READY.
  const uint32_t ev = ntb_->events();
  if (ev != 0) {
    if (auto ok = ntb_->ack_events(ev); !ok) return failed(ok.error());
    if ((ev & kEventLinkDown) != 0 && ntb_->side() == Side::kPrimary) ntb_->clear_peer_ready();
  }
  const bool goodbye = ntb_->goodbye_pending();
  if (goodbye) ntb_->goodbye_clear();

  if (state_ == State::kUp) {
    if (goodbye || (ev & kEventLinkDown) != 0 || !ntb_->peer_ready()) go_down();
    return state_;
  }
  if (ntb_->peer_ready() && !goodbye) {
    state_ = State::kUp;
    ++generation_;
    if (auto l = ntb_->link_status()) link_ = *l;
    return state_;
  }
  if (clock_->now_ns() < deadline_ns_) return state_;
  auto e = fail(Errc::kTimedOut,
                "%s (%s, %s side): the peer's driver did not come up within %" PRIu64
                " ms (its SIDEINFO.READY, seen at BAR0+0x808, stayed clear): check that the other host is running the "
                "postbox node manager and that the NTB is enabled in both BIOSes",
                ntb_->name().c_str(), ntb_->part().name, to_string(ntb_->side()), timeout_ns_ / 1'000'000);
  return failed(e.value());
}

}  // namespace pbx::ntb::amd
