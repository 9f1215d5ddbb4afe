// The link bring-up state machine: deadlines from a fake clock, training failures, link loss.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "b2b_pair.h"
#include "pbx/ntb/intel/regs.h"

namespace pbx::ntb::intel {
namespace {

using State = LinkBringUp::State;
using test::B2bPair;
using test::FakeClock;
using test::IntelNtbModel;
using test::IntelNtbModelSpec;
using ::testing::HasSubstr;

constexpr uint64_t kTimeout = 5'000'000'000;  // 5 s

class LinkTimeout : public ::testing::TestWithParam<Part> {};

TEST_P(LinkTimeout, TrainingTimesOutExactlyAtTheDeadlineWhenThePeerNeverEnables) {
  B2bPair p(GetParam());
  ASSERT_TRUE(p.attach());
  LinkBringUp up(*p.a, p.clock, kTimeout);  // only this side brings its link up
  for (int i = 0; i < 10; ++i) {
    auto s = up.poll();
    ASSERT_TRUE(s.has_value()) << s.error().message();
    EXPECT_EQ(*s, State::kTraining);
    p.clock.advance_ms(100);
  }
  p.clock.advance_ns(kTimeout - 1'000'000'000 - 1);  // 1 ns before the deadline
  auto before = up.poll();
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(*before, State::kTraining);
  p.clock.advance_ns(1);
  auto at = up.poll();
  ASSERT_FALSE(at.has_value());
  EXPECT_EQ(at.error().code(), Errc::kTimedOut);
  const std::string m = at.error().message();
  EXPECT_THAT(m, HasSubstr("0000:af:00.0"));
  EXPECT_THAT(m, HasSubstr("USD side"));
  EXPECT_THAT(m, HasSubstr("within 5000 ms"));
  EXPECT_THAT(m, HasSubstr("Crosslink Control override"));
  // Sticky: the next poll reports the same failure without touching the device.
  auto again = up.poll();
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), Errc::kTimedOut);
  EXPECT_FALSE(p.usd.link_up());
}

INSTANTIATE_TEST_SUITE_P(AllParts, LinkTimeout, ::testing::Values(Part::kSkx, Part::kIcx, Part::kSpr, Part::kDmr),
                         test::part_name);

TEST(Link, TwoUpstreamSidesNeverTrain) {
  // Both hosts set to USD in BIOS (crosslink misconfigured): the model refuses to train.
  IntelNtbModel a({.part = Part::kSpr, .side = Side::kUsd});
  IntelNtbModel b({.part = Part::kSpr, .side = Side::kUsd});
  test::connect_b2b(a, b);
  auto da = IntelNtb::attach(a.attach_params("0000:af:00.0"));
  auto db = IntelNtb::attach(b.attach_params("0000:17:00.0"));
  ASSERT_TRUE(da && db);
  FakeClock clock;
  LinkBringUp ua(*da, clock, kTimeout), ub(*db, clock, kTimeout);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(*ua.poll(), State::kTraining);
    ASSERT_EQ(*ub.poll(), State::kTraining);
  }
  clock.advance_ns(kTimeout);
  EXPECT_EQ(ua.poll().error().code(), Errc::kTimedOut);
}

TEST(Link, Gen4LinkThatDoesNotStartTrainingFailsAtOnce) {
  B2bPair p(Part::kSpr);
  p.usd.set_linktrn_latches(false);
  ASSERT_TRUE(p.attach());
  LinkBringUp up(*p.a, p.clock, kTimeout);
  auto s = up.poll();
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), Errc::kIoError);
  EXPECT_THAT(s.error().message(), HasSubstr("PPD0 (BAR0+0xb0d4)"));
  EXPECT_THAT(s.error().message(), HasSubstr("not training"));
  EXPECT_THAT(s.error().message(), HasSubstr("'Port Subsystem Mode' = Gen4 Only"));
}

TEST(Link, Gen3LockedControlRegisterIsReported) {
  B2bPair p(Part::kSkx);
  p.usd.stick(0x0, gen3::kCtlCfgLock, gen3::kCtlCfgLock);
  ASSERT_TRUE(p.attach());
  auto r = p.a->link_enable();
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("NTBCNTL (BAR0+0x0) reads 0x"));
}

TEST(Link, PeerDisablingTheLinkIsSeenAsALinkEvent) {
  for (Part part : {Part::kSkx, Part::kIcx}) {
    B2bPair p(part);
    ASSERT_TRUE(p.attach());
    ASSERT_TRUE(p.bring_up());
    ASSERT_TRUE(p.a->poll_link().has_value());  // acknowledge the "up" event
    EXPECT_EQ(p.usd.status() & kDbLinkMask, 0u);
    ASSERT_TRUE(p.b->link_disable().has_value());
    EXPECT_NE(p.usd.status() & kDbLinkMask, 0u) << "link-down sets status bit 32";
    EXPECT_EQ(p.a->db_read() & kDbLinkMask, 0u) << "db_read() hides the link bit";
    auto l = p.a->poll_link();
    ASSERT_TRUE(l.has_value());
    EXPECT_FALSE(l->active);
    EXPECT_EQ(p.usd.status() & kDbLinkMask, 0u) << "poll_link() acknowledges the event";
  }
}

TEST(Link, Gen3LinkStatusReadFailureIsAnError) {
  B2bPair p(Part::kSkx);
  ASSERT_TRUE(p.attach());
  p.usd.fail_cfg_reads_at(gen3::kCfgLinkStatus);
  LinkBringUp up(*p.a, p.clock, kTimeout);
  auto s = up.poll();
  ASSERT_FALSE(s.has_value());
  EXPECT_THAT(s.error().message(), HasSubstr("read link status (config 0x1a2)"));
}

}  // namespace
}  // namespace pbx::ntb::intel
