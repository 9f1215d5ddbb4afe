// A job of Switchtec HAL devices over one modelled switch: one device per partition (node k is
// partition k of a mesh), a fake clock and a pacer that moves it. Shared by the Switchtec HAL
// tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pbx/hal/switchtec_ntb.h"
#include "support/fake_clock.h"
#include "support/fake_pacer.h"
#include "support/ntb/switchtec_fabric.h"

namespace pbx::test {

struct SwitchtecJob {
  explicit SwitchtecJob(unsigned n, uint16_t lut_entries = 128) : SwitchtecJob(SwitchtecFabric::mesh(n, lut_entries)) {}
  explicit SwitchtecJob(SwitchtecModelSpec spec) : f(std::move(spec)), pacer(clock) {
    opts.pages = hal::PagePolicy::kSmall;
    opts.clock = &clock;
    opts.pacer = &pacer;
    opts.timing.lock_timeout_ns = 1'000'000'000;
    opts.timing.cfg_timeout_ns = 1'000'000'000;
    opts.timing.poll_ns = 1'000'000;
    devs.resize(f.model().spec().partition_count);
  }

  unsigned size() const { return static_cast<unsigned>(devs.size()); }

  ::testing::AssertionResult open(unsigned p, const hal::SwitchtecNtbOptions& o) {
    auto d = hal::SwitchtecNtbDevice::attach(f.port(p), o);
    if (!d) return ::testing::AssertionFailure() << "partition " << p << ": " << d.error().message();
    devs[p] = std::move(*d);
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult open(unsigned p) { return open(p, opts); }
  ::testing::AssertionResult open_all() {
    for (unsigned p = 0; p < size(); ++p)
      if (auto r = open(p); !r) return r;
    return ::testing::AssertionSuccess();
  }

  // Polls every device's link to every other node (one step each) until all are up.
  ::testing::AssertionResult all_up(unsigned max_rounds = 10) {
    for (unsigned round = 0; round < max_rounds; ++round) {
      bool all = true;
      for (unsigned a = 0; a < size(); ++a)
        for (unsigned b = 0; b < size(); ++b)
          if (devs[a] && devs[b]) all &= devs[a]->link_status(hal::NodeIdx(static_cast<uint16_t>(b))).up;
      if (all) return ::testing::AssertionSuccess();
    }
    auto r = ::testing::AssertionFailure() << "not all up after " << max_rounds << " rounds:";
    for (unsigned a = 0; a < size(); ++a)
      for (unsigned b = 0; b < size(); ++b)
        if (devs[a] && a != b && !devs[a]->link_status(hal::NodeIdx(static_cast<uint16_t>(b))).up)
          r << "\n  " << a << " -> " << b << ": " << devs[a]->link_diagnostic(hal::NodeIdx(static_cast<uint16_t>(b)));
    return r;
  }
  // One polling round of every device's links.
  void poll_all() {
    for (unsigned a = 0; a < size(); ++a)
      for (unsigned b = 0; b < size(); ++b)
        if (devs[a]) (void)devs[a]->link_status(hal::NodeIdx(static_cast<uint16_t>(b)));
  }

  FakeClock clock;
  SwitchtecFabric f;
  FakePacer pacer;
  hal::SwitchtecNtbOptions opts;
  std::vector<std::unique_ptr<hal::SwitchtecNtbDevice>> devs;  // index = partition = node
};

}  // namespace pbx::test
