// A modelled Switchtec switch, a fake clock and a pacer that moves it: the fixture of the
// Switchtec driver tests. attach(p) attaches a driver as the host of partition p does.
#pragma once

#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include "pbx/ntb/switchtec/switchtec_ntb.h"
#include "support/fake_clock.h"
#include "support/fake_pacer.h"
#include "support/ntb/switchtec_model.h"

namespace pbx::test {

struct SwitchFixture {
  explicit SwitchFixture(SwitchtecModelSpec spec) : sw(std::move(spec)), pacer(clock) {
    timing.lock_timeout_ns = 1'000'000'000;
    timing.cfg_timeout_ns = 1'000'000'000;
    timing.poll_ns = 1'000'000;
  }

  ntb::switchtec::SwitchtecNtb::AttachParams params(unsigned p) {
    auto a = sw.attach_params(p, clock, pacer);
    a.timing = timing;
    return a;
  }
  Result<ntb::switchtec::SwitchtecNtb> attach(unsigned p) { return ntb::switchtec::SwitchtecNtb::attach(params(p)); }

  // Attaches every partition's host; fails the test on an error.
  std::vector<ntb::switchtec::SwitchtecNtb> attach_all() {
    std::vector<ntb::switchtec::SwitchtecNtb> v;
    for (unsigned p = 0; p < sw.spec().partition_count; ++p) {
      auto d = attach(p);
      EXPECT_TRUE(d.has_value()) << "partition " << p << ": " << (d ? "" : d.error().message());
      if (d) v.push_back(std::move(*d));
    }
    return v;
  }

  SwitchtecModel sw;
  FakeClock clock;
  FakePacer pacer;
  ntb::switchtec::TxnTiming timing;
};

}  // namespace pbx::test
