// Pacer: how a driver waits between two polls of a register that the hardware changes on its
// own time (a Switchtec partition lock, an AMD peer noticing a doorbell). The deadline always
// comes from an injected pbx::Clock; the pacer only spaces the polls. Hardware gets a sleeping
// pacer; tests get one that advances a fake clock, so that no test sleeps and every time-out
// is reached deterministically.
//
//   SleepPacer pacer;                         // nanosleep between polls
//   while (status() == kBusy) {
//     if (clock.now_ns() >= deadline) return timed_out(...);
//     pacer.pause_ns(poll_interval_ns);
//   }
#pragma once

#include <time.h>

#include <cerrno>
#include <cstdint>

namespace pbx::ntb {

class Pacer {
 public:
  virtual ~Pacer() = default;
  // Lets about `ns` nanoseconds pass (or, in tests, moves the fake clock by `ns`).
  virtual void pause_ns(uint64_t ns) noexcept = 0;
};

// Sleeps (nanosleep, restarted on EINTR until the time has passed).
class SleepPacer final : public Pacer {
 public:
  void pause_ns(uint64_t ns) noexcept override {
    timespec left{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
  }
};

}  // namespace pbx::ntb
