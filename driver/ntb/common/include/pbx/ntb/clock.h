// Time source for deadlines on the control path (link-up, handshakes). Injected, so that state
// machines never block and tests drive time with a fake clock instead of sleeping.
#pragma once

#include <cstdint>

#include "pbx/base/barrier.h"

namespace pbx::ntb {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint64_t now_ns() const noexcept = 0;
};

// CLOCK_MONOTONIC (vDSO, no system call).
class MonotonicClock final : public Clock {
 public:
  uint64_t now_ns() const noexcept override { return pbx::now_ns(); }
};

}  // namespace pbx::ntb
