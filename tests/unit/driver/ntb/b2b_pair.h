// Two Intel NTB register models joined back to back, with drivers attached to both: the
// fixture of the driver tests.
#pragma once

#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "pbx/ntb/intel/intel_ntb.h"
#include "pbx/ntb/intel/link_bringup.h"
#include "support/fake_clock.h"
#include "support/ntb/intel_model.h"

namespace pbx::test {

// Names parameterised tests after the part ("SKX", "SPR").
inline std::string part_name(const ::testing::TestParamInfo<ntb::intel::Part>& p) {
  return ntb::intel::part_info(p.param).code;
}

inline IntelNtbModelSpec spec_for(ntb::intel::Part part, ntb::intel::Side side, IntelNtbModelSpec s = {}) {
  s.part = part;
  s.side = side;
  return s;
}

struct B2bPair {
  explicit B2bPair(ntb::intel::Part part, const IntelNtbModelSpec& base = {})
      : usd(spec_for(part, ntb::intel::Side::kUsd, base)), dsd(spec_for(part, ntb::intel::Side::kDsd, base)) {
    connect_b2b(usd, dsd);
  }

  // Attaches drivers to both sides.
  ::testing::AssertionResult attach() {
    auto x = ntb::intel::IntelNtb::attach(usd.attach_params("0000:af:00.0"));
    if (!x) return ::testing::AssertionFailure() << "attach usd: " << x.error().message();
    auto y = ntb::intel::IntelNtb::attach(dsd.attach_params("0000:17:00.0"));
    if (!y) return ::testing::AssertionFailure() << "attach dsd: " << y.error().message();
    a.emplace(std::move(*x));
    b.emplace(std::move(*y));
    return ::testing::AssertionSuccess();
  }

  // Runs both sides' link bring-up, alternating polls, until both are up (at most `max_polls`
  // rounds: the model trains in a few status reads). Time does not move.
  ::testing::AssertionResult bring_up(unsigned max_polls = 16) {
    ntb::intel::LinkBringUp ua(*a, clock, 1'000'000'000);
    ntb::intel::LinkBringUp ub(*b, clock, 1'000'000'000);
    for (unsigned i = 0; i < max_polls; ++i) {
      auto sa = ua.poll();
      if (!sa) return ::testing::AssertionFailure() << "usd: " << sa.error().message();
      auto sb = ub.poll();
      if (!sb) return ::testing::AssertionFailure() << "dsd: " << sb.error().message();
      if (*sa == ntb::intel::LinkBringUp::State::kUp && *sb == ntb::intel::LinkBringUp::State::kUp) {
        rounds = i + 1;
        link = ua.link();
        return ::testing::AssertionSuccess();
      }
    }
    return ::testing::AssertionFailure() << "link not up after " << max_polls << " polls";
  }

  IntelNtbModel usd;
  IntelNtbModel dsd;
  std::optional<ntb::intel::IntelNtb> a;  // driver of usd
  std::optional<ntb::intel::IntelNtb> b;  // driver of dsd
  FakeClock clock;
  unsigned rounds = 0;
  ntb::PcieLink link{};
};

}  // namespace pbx::test
