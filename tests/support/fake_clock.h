// A clock that moves only when the test says so: deadlines without sleeping.
#pragma once

#include <cstdint>

#include "pbx/base/clock.h"

namespace pbx::test {

class FakeClock final : public Clock {
 public:
  uint64_t now_ns() const noexcept override { return now_; }
  void advance_ns(uint64_t d) noexcept { now_ += d; }
  void advance_ms(uint64_t ms) noexcept { now_ += ms * 1'000'000; }

 private:
  uint64_t now_ = 1'000'000'000;  // not zero: catches code that treats 0 as "unset"
};

}  // namespace pbx::test
