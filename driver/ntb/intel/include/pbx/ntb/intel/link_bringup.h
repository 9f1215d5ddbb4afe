// LinkBringUp: brings the NTB link up as a non-blocking state machine with a deadline from an
// injected clock (STYLE.md §7). Each poll() does at most one step and returns at once; nothing
// here sleeps or loops on the hardware.
//
//   LinkBringUp up(ntb, clock, 30'000'000'000);        // 30 s for the peer host to come up
//   for (;;) {
//     auto s = up.poll();
//     if (!s) return tl::unexpected(s.error());        // timed out / not training: says what to check
//     if (*s == LinkBringUp::State::kUp) break;
//     serve_other_work();                              // or wait on the link MSI-X eventfd
//   }
//
//   kIdle --poll: link_enable()--> kTraining --poll: LNKSTS active--> kUp
//                                      \--poll: now >= deadline--> error kTimedOut (sticky)
#pragma once

#include <cstdint>
#include <optional>

#include "pbx/base/error.h"
#include "pbx/base/clock.h"
#include "pbx/ntb/intel/intel_ntb.h"

namespace pbx::ntb::intel {

class LinkBringUp {
 public:
  enum class State : uint8_t { kIdle, kTraining, kUp };

  // `ntb` and `clock` must outlive this object. The deadline starts when training starts.
  LinkBringUp(IntelNtb& ntb, const Clock& clock, uint64_t timeout_ns) noexcept
      : ntb_(&ntb), clock_(&clock), timeout_ns_(timeout_ns) {}

  // One step. Returns the state reached, or the error that ended the bring-up (returned again by
  // every later call).
  [[nodiscard]] Result<State> poll();

  State state() const noexcept { return state_; }
  // The link as last read (speed and width valid once kUp).
  const PcieLink& link() const noexcept { return link_; }

 private:
  Result<State> failed(Error e);

  IntelNtb* ntb_;
  const Clock* clock_;
  uint64_t timeout_ns_;
  uint64_t deadline_ns_ = 0;
  State state_ = State::kIdle;
  PcieLink link_{};
  std::optional<Error> error_;
};

}  // namespace pbx::ntb::intel
