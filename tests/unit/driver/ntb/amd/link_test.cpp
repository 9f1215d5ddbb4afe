// The AMD link bring-up with the dirty-shutdown rule, against the pair model and a fake clock:
// after one host crashed and its driver loads again, the other host must see the link go down
// and come back up, even when the primary side's physical link events are not reported.
#include "pbx/ntb/amd/link_bringup.h"

#include <optional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/fake_clock.h"
#include "support/ntb/amd_model.h"

namespace pbx::ntb::amd {
namespace {

using State = AmdLinkBringUp::State;
using test::AmdNtbModelSpec;
using test::AmdNtbPair;
using test::FakeClock;
using ::testing::HasSubstr;

constexpr uint64_t kTimeout = 10'000'000'000;

struct Host {
  Host(test::AmdNtbModel& side, const FakeClock& clock, std::string name) {
    auto n = AmdNtb::attach(side.attach_params(std::move(name)));
    EXPECT_TRUE(n.has_value()) << n.error().message();
    ntb.emplace(std::move(*n));
    up.emplace(*ntb, clock, kTimeout);
  }
  State poll() {
    auto s = up->poll();
    EXPECT_TRUE(s.has_value()) << s.error().message();
    return s ? *s : State::kIdle;
  }
  std::optional<AmdNtb> ntb;
  std::optional<AmdLinkBringUp> up;
};

// Polls both until both are up (the model answers at once: a few rounds).
::testing::AssertionResult both_up(Host& x, Host& y) {
  for (int i = 0; i < 8; ++i) {
    const State sx = x.poll();
    const State sy = y.poll();
    if (sx == State::kUp && sy == State::kUp) return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "link not up";
}

TEST(AmdLink, CleanStartComesUpWhenBothSidesAreReady) {
  AmdNtbPair m;
  FakeClock clock;
  Host a(m.primary(), clock, "0000:41:00.1");
  EXPECT_EQ(a.poll(), State::kWaitPeer);
  EXPECT_TRUE(m.primary().ready());
  Host b(m.secondary(), clock, "0000:42:00.1");
  ASSERT_TRUE(both_up(a, b));
  EXPECT_FALSE(a.up->dirty_shutdown_seen());
  EXPECT_EQ(a.up->generation(), 1u);
  EXPECT_EQ(b.up->link().width, 8);
}

TEST(AmdLink, CleanShutdownTakesThePeersLinkDown) {
  AmdNtbPair m;
  FakeClock clock;
  Host a(m.primary(), clock, "a"), b(m.secondary(), clock, "b");
  ASSERT_TRUE(both_up(a, b));
  b.ntb->shutdown();  // READY cleared, then goodbye rung
  EXPECT_FALSE(m.secondary().ready());
  EXPECT_EQ(a.poll(), State::kWaitPeer);
  EXPECT_EQ(a.up->generation(), 2u);
}

TEST(AmdLink, DirtyShutdownRuleMakesTheOtherSideSeeTheLinkFlap) {
  AmdNtbModelSpec s;
  s.primary_events = false;  // the field's failure: the primary gets no link events
  AmdNtbPair m(s);
  FakeClock clock;
  Host a(m.primary(), clock, "0000:41:00.1");
  std::optional<Host> b;
  b.emplace(m.secondary(), clock, "0000:42:00.1");
  ASSERT_TRUE(both_up(a, *b));
  const uint32_t gen_up = a.up->generation();

  // The secondary's host crashes and reboots: its READY stays set, the primary hears nothing.
  m.crash(Side::kSecondary);
  b.reset();
  m.physical_link(false);
  m.physical_link(true);
  EXPECT_EQ(a.poll(), State::kUp) << "without help the primary still thinks the link is up";

  // The secondary's driver loads again: READY already set = dirty shutdown.
  b.emplace(m.secondary(), clock, "0000:42:00.1");
  EXPECT_EQ(b->poll(), State::kDirtyWait);
  EXPECT_TRUE(b->up->dirty_shutdown_seen());
  EXPECT_FALSE(m.secondary().ready()) << "READY cleared";
  // The primary sees the goodbye doorbell and READY = 0: the link goes down.
  EXPECT_EQ(a.poll(), State::kWaitPeer);
  EXPECT_EQ(a.up->generation(), gen_up + 1);
  // READY stays clear for the whole wait, whatever the secondary polls.
  clock.advance_ns(AmdLinkBringUp::kDirtyWaitNs - 1);
  EXPECT_EQ(b->poll(), State::kDirtyWait);
  EXPECT_FALSE(m.secondary().ready());
  EXPECT_EQ(a.poll(), State::kWaitPeer);
  // After one second the secondary announces itself again and both come up: a new generation.
  clock.advance_ns(1);
  ASSERT_TRUE(both_up(a, *b));
  EXPECT_TRUE(m.secondary().ready());
  EXPECT_EQ(a.up->generation(), gen_up + 2);
}

TEST(AmdLink, WithoutTheRuleTheFlapIsNeverSeen) {
  // What the field saw: a reloaded driver that just sets READY again.
  AmdNtbModelSpec s;
  s.primary_events = false;
  AmdNtbPair m(s);
  FakeClock clock;
  Host a(m.primary(), clock, "a");
  std::optional<Host> b;
  b.emplace(m.secondary(), clock, "b");
  ASSERT_TRUE(both_up(a, *b));
  const uint32_t gen = a.up->generation();
  b.reset();
  m.physical_link(false);
  m.physical_link(true);
  auto reloaded = AmdNtb::attach(m.secondary().attach_params("b"));
  ASSERT_TRUE(reloaded.has_value());
  reloaded->set_ready();  // no dirty check
  for (int i = 0; i < 5; ++i) EXPECT_EQ(a.poll(), State::kUp);
  EXPECT_EQ(a.up->generation(), gen) << "the primary never noticed the secondary's reboot";
}

TEST(AmdLink, LinkDownEventOnThePrimaryClearsThePeersReady) {
  AmdNtbPair m;  // events reported
  FakeClock clock;
  Host a(m.primary(), clock, "a"), b(m.secondary(), clock, "b");
  ASSERT_TRUE(both_up(a, b));
  m.physical_link(false);
  EXPECT_EQ(a.poll(), State::kWaitPeer);
  EXPECT_FALSE(m.secondary().ready()) << "cleared by the primary, as Linux does";
  EXPECT_EQ(a.ntb->events(), 0u) << "events acknowledged";
}

TEST(AmdLink, APeerThatNeverComesUpTimesOutAtTheDeadline) {
  AmdNtbPair m;
  FakeClock clock;
  Host a(m.primary(), clock, "0000:41:00.1");
  EXPECT_EQ(a.poll(), State::kWaitPeer);
  clock.advance_ns(kTimeout - 1);
  EXPECT_EQ(a.poll(), State::kWaitPeer);
  clock.advance_ns(1);
  auto s = a.up->poll();
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), Errc::kTimedOut);
  EXPECT_THAT(s.error().message(), HasSubstr("0000:41:00.1 (AMD NTB (148b), primary side)"));
  EXPECT_THAT(s.error().message(), HasSubstr("within 10000 ms"));
  EXPECT_FALSE(a.up->poll().has_value()) << "sticky";
}

}  // namespace
}  // namespace pbx::ntb::amd
