// AmdLinkBringUp: the AMD NTB link as a non-blocking state machine with deadlines from an
// injected clock. The link to the peer is up when the peer's SIDEINFO.READY says its driver is
// loaded (ntb_hw_amd.c amd_link_is_up); each poll() does one step and returns at once.
//
// The dirty-shutdown rule (truenas/linux PR #115, "ntb_hw_amd: Simulate link flap after unclean
// reboot"): READY survives a crash of its own side, and the primary side's physical link events
// are unreliable, so after one host reboots the other may never notice that anything happened
// and the link never comes back (the field's most common NTB failure). So at start, when our
// READY is already set, the last shutdown was dirty: clear READY, ring the peer's goodbye
// doorbell, and wait (1 s by default) so that the peer sees READY = 0 and takes the link down,
// before setting READY again.
//
//   kIdle --READY already set: clear it, ring goodbye--> kDirtyWait --dirty_wait passed--+
//     \--READY clear------------------------------------------------------------------+--> set READY
//   --> kWaitPeer --peer READY--> kUp --peer READY gone / goodbye doorbell / link-down event--> kWaitPeer
//   kWaitPeer --timeout--> error kTimedOut (sticky)
//
// On the primary side a link-down event also clears the peer's READY (the peer could not).
#pragma once

#include <cstdint>
#include <optional>

#include "pbx/base/clock.h"
#include "pbx/base/error.h"
#include "pbx/ntb/amd/amd_ntb.h"

namespace pbx::ntb::amd {

class AmdLinkBringUp {
 public:
  enum class State : uint8_t { kIdle, kDirtyWait, kWaitPeer, kUp };
  static constexpr uint64_t kDirtyWaitNs = 1'000'000'000;  // TrueNAS waits one second

  // `ntb` and `clock` must outlive this object. `timeout_ns`: how long to wait for the peer's
  // READY (from each start of waiting).
  AmdLinkBringUp(AmdNtb& ntb, const Clock& clock, uint64_t timeout_ns, uint64_t dirty_wait_ns = kDirtyWaitNs) noexcept
      : ntb_(&ntb), clock_(&clock), timeout_ns_(timeout_ns), dirty_wait_ns_(dirty_wait_ns) {}

  [[nodiscard]] Result<State> poll();

  State state() const noexcept { return state_; }
  bool up() const noexcept { return state_ == State::kUp; }
  // Every transition into or out of kUp bumps it (the HAL's link generation).
  uint32_t generation() const noexcept { return generation_; }
  // The last start found READY set: the previous shutdown of this side was dirty.
  bool dirty_shutdown_seen() const noexcept { return dirty_; }
  // Speed and width read when the link came up (zero if the link device could not be read).
  const PcieLink& link() const noexcept { return link_; }

 private:
  Result<State> failed(Error e);
  void announce();
  void go_down();

  AmdNtb* ntb_;
  const Clock* clock_;
  uint64_t timeout_ns_;
  uint64_t dirty_wait_ns_;
  uint64_t deadline_ns_ = 0;
  State state_ = State::kIdle;
  uint32_t generation_ = 0;
  bool dirty_ = false;
  PcieLink link_{};
  std::optional<Error> error_;
};

}  // namespace pbx::ntb::amd
