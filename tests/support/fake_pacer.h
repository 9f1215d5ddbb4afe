// A pacer that moves a fake clock instead of sleeping: drivers that poll a register "every
// millisecond until a deadline" run instantly and reach their time-outs deterministically.
#pragma once

#include <cstdint>

#include "pbx/ntb/pacer.h"
#include "support/fake_clock.h"

namespace pbx::test {

class FakePacer final : public ntb::Pacer {
 public:
  explicit FakePacer(FakeClock& clock) noexcept : clock_(&clock) {}
  void pause_ns(uint64_t ns) noexcept override {
    clock_->advance_ns(ns);
    ++pauses_;
    paused_ns_ += ns;
  }
  uint64_t pauses() const noexcept { return pauses_; }
  uint64_t paused_ns() const noexcept { return paused_ns_; }

 private:
  FakeClock* clock_;
  uint64_t pauses_ = 0;
  uint64_t paused_ns_ = 0;
};

}  // namespace pbx::test
