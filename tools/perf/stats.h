// Samples and their statistics; the time-stamp counter calibrated against CLOCK_MONOTONIC.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "pbx/base/barrier.h"

namespace pbx::perf {

// Nanoseconds per TSC tick, measured once over ~50 ms.
double calibrate_tsc();

struct Summary {
  double median = 0;
  double p99 = 0;
  double min = 0;
};

inline Summary summarize(std::vector<double> v) {
  Summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.median = v[v.size() / 2];
  s.p99 = v[std::min(v.size() - 1, static_cast<size_t>(static_cast<double>(v.size()) * 0.99))];
  return s;
}

}  // namespace pbx::perf
