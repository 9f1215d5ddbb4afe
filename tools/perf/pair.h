// Runs a benchmark as two processes pinned to two CPUs (what `taskset` does), sharing one
// anonymous mapping for results and hand-shakes.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "pbx/base/error.h"

namespace pbx::perf {

// Runs side(0) in one child pinned to cpu_a and side(1) in another pinned to cpu_b. `shared`
// (zeroed, `shared_size` bytes) is mapped in both. Fails if a side exits non-zero or dies.
Result<void> run_pair(int cpu_a, int cpu_b, void* shared, const std::function<int(int side)>& side);

// Pins the calling thread to `cpu`.
Result<void> pin_to_cpu(int cpu);

// A zeroed MAP_SHARED anonymous mapping (inherited by forked children). Unmapped by ~SharedMem.
class SharedMem {
 public:
  explicit SharedMem(size_t size);
  ~SharedMem();
  SharedMem(const SharedMem&) = delete;
  SharedMem& operator=(const SharedMem&) = delete;
  void* get() const { return p_; }
  size_t size() const { return size_; }

 private:
  void* p_ = nullptr;
  size_t size_ = 0;
};

}  // namespace pbx::perf
