// Time source for deadlines on control paths (link bring-up, handshakes, heartbeats). Injected,
// so that state machines never block and tests drive time with a fake clock instead of sleeping.
// The data path reads pbx::now_ns() (barrier.h) directly and never through this interface.
#pragma once

#include <cstdint>

#include "pbx/base/barrier.h"

namespace pbx {

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

}  // namespace pbx
