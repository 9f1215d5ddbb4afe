// new_epoch(): random bits, else the clock and the pid, mixed with a count of opens.
#include "new_epoch.h"

#include <sys/random.h>
#include <unistd.h>

#include <atomic>

#include "pbx/base/barrier.h"

namespace pbx::hal::detail {

uint32_t new_epoch() noexcept {
  // Relaxed: the count only makes two opens differ; nothing is published through it.
  static std::atomic<uint32_t> opens{0};
  uint32_t e = 0;
  if (::getrandom(&e, sizeof e, 0) != static_cast<ssize_t>(sizeof e))
    e = static_cast<uint32_t>(now_ns() * 0x9e3779b97f4a7c15ull >> 32) ^ static_cast<uint32_t>(::getpid());
  e ^= opens.fetch_add(1, std::memory_order_relaxed) * 0x85ebca6bu;
  return e != 0 ? e : 1;
}

}  // namespace pbx::hal::detail
