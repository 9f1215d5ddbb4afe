#include "pbx/ntb/intel/link_bringup.h"

#include <cinttypes>

namespace pbx::ntb::intel {

Result<LinkBringUp::State> LinkBringUp::failed(Error e) {
  error_ = e;
  return tl::unexpected(std::move(e));
}

Result<LinkBringUp::State> LinkBringUp::poll() {
  if (error_) return tl::unexpected(*error_);
  switch (state_) {
    case State::kUp: return state_;
    case State::kIdle:
      if (auto ok = ntb_->link_enable(); !ok) return failed(ok.error());
      deadline_ns_ = clock_->now_ns() + timeout_ns_;
      state_ = State::kTraining;
      [[fallthrough]];  // the link may already be up (the peer trained first)
    case State::kTraining: {
      auto l = ntb_->poll_link();
      if (!l) return failed(l.error());
      link_ = *l;
      if (link_.active) return state_ = State::kUp;
      if (clock_->now_ns() < deadline_ns_) return state_;
      const auto& p = ntb_->part();
      auto e = fail(Errc::kTimedOut,
                    "%s (%s, %s side): the NTB link did not come up within %" PRIu64
                    " ms of starting training: check that the peer host has brought its side up (postbox node "
                    "manager running there), the cable and retimers, and that BIOS 'Crosslink Control override' is "
                    "USD/DSP on one host and DSD/USP on the other",
                    ntb_->name().c_str(), p.code, ntb_->side() == Side::kUsd ? "USD" : "DSD",
                    timeout_ns_ / 1'000'000);
      return failed(e.value());
    }
  }
  return state_;
}

}  // namespace pbx::ntb::intel
