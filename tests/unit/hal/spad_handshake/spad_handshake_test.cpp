// The scratchpad handshake against a scripted scratchpad/doorbell model and a fake clock.
#include "pbx/hal/spad_handshake.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/spad_model.h"

namespace pbx::hal {
namespace {

using test::FakeClock;
using test::SpadFabric;
using ::testing::HasSubstr;
using State = SpadHandshake::State;
using S = SpadHandshake::Spad;

constexpr uint32_t kEpochA = 0xa0a0a001, kEpochB = 0xb0b0b001;

HandshakeOptions opts(uint32_t epoch) {
  HandshakeOptions o;
  o.epoch = epoch;
  o.timeout_ns = 30'000'000'000;
  o.reannounce_ns = 1'000'000'000;
  return o;
}

// Steps both sides in turn until both are up; the number of rounds it took (bounded).
int run_until_up(SpadHandshake& a, SpadHandshake& b, int max_rounds = 8) {
  for (int round = 1; round <= max_rounds; ++round) {
    EXPECT_TRUE(a.step());
    EXPECT_TRUE(b.step());
    if (a.up() && b.up()) return round;
  }
  return -1;
}

struct Pair {
  SpadFabric fabric{2};
  FakeClock clock;
  std::unique_ptr<SpadFabric::Node> n0 = fabric.node(0), n1 = fabric.node(1);
};

TEST(SpadHandshake, TwoNodesComeUpAndEachTransitionChangesTheGeneration) {
  Pair p;
  ASSERT_TRUE(SpadHandshake::check(*p.n0, NodeIdx(1), opts(kEpochA)));
  SpadHandshake a(*p.n0, NodeIdx(1), opts(kEpochA), p.clock);
  SpadHandshake b(*p.n1, NodeIdx(0), opts(kEpochB), p.clock);
  EXPECT_EQ(a.state(), State::kLinkDown);
  const uint32_t gen0 = a.generation();
  EXPECT_GT(run_until_up(a, b), 0);
  EXPECT_EQ(a.generation(), gen0 + 1) << "down -> up is one transition";
  EXPECT_EQ(a.peer_epoch(), kEpochB);
  EXPECT_EQ(b.peer_epoch(), kEpochA);
  // Steady: more steps change nothing and write nothing.
  const int writes = p.fabric.spad_writes;
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(a.step());
    EXPECT_TRUE(b.step());
  }
  EXPECT_TRUE(a.up() && b.up());
  EXPECT_EQ(a.generation(), gen0 + 1);
  EXPECT_EQ(p.fabric.spad_writes, writes);
  // The handshake rings no doorbell: the bits belong to the applications.
  EXPECT_EQ(*p.n0->db_read(NodeIdx(1)), 0u);
  EXPECT_EQ(*p.n1->db_read(NodeIdx(0)), 0u);
}

TEST(SpadHandshake, WritesItsAnnouncementIntoThePeersScratchpadsInTheDocumentedLayout) {
  Pair p;
  SpadHandshake a(*p.n0, NodeIdx(1), opts(kEpochA), p.clock);
  ASSERT_TRUE(a.step());
  EXPECT_EQ(a.state(), State::kWaiting);
  EXPECT_EQ(p.fabric.peek(1, 0, S::kSpadMagic), SpadHandshake::kMagic);
  EXPECT_EQ(p.fabric.peek(1, 0, S::kSpadVersion), SpadHandshake::kVersion);
  EXPECT_EQ(p.fabric.peek(1, 0, S::kSpadWindowPages), (2u << 20) / 4096);
  EXPECT_EQ(p.fabric.peek(1, 0, S::kSpadNodes), 2u);
  EXPECT_EQ(p.fabric.peek(1, 0, S::kSpadEpoch), kEpochA);
  EXPECT_EQ(p.fabric.peek(1, 0, S::kSpadAck), 0u) << "no peer seen yet";

  // A scripted peer answers: it announces itself and acks our epoch.
  p.fabric.poke(0, 1, S::kSpadMagic, SpadHandshake::kMagic);
  p.fabric.poke(0, 1, S::kSpadVersion, SpadHandshake::kVersion);
  p.fabric.poke(0, 1, S::kSpadWindowPages, (2u << 20) / 4096);
  p.fabric.poke(0, 1, S::kSpadNodes, 2);
  p.fabric.poke(0, 1, S::kSpadEpoch, 0x77);
  p.fabric.poke(0, 1, S::kSpadAck, kEpochA);
  ASSERT_TRUE(a.step());
  EXPECT_TRUE(a.up());
  EXPECT_EQ(p.fabric.peek(1, 0, S::kSpadAck), 0x77u) << "we ack the peer's epoch";
}

TEST(SpadHandshake, APeerRestartTakesTheLinkDownAndRerunsTheHandshake) {
  Pair p;
  SpadHandshake a(*p.n0, NodeIdx(1), opts(kEpochA), p.clock);
  auto b = std::make_unique<SpadHandshake>(*p.n1, NodeIdx(0), opts(kEpochB), p.clock);
  ASSERT_GT(run_until_up(a, *b), 0);
  const uint32_t gen_up = a.generation();

  // Node 1's manager restarts (crashes: no leave()) with a new epoch.
  b = std::make_unique<SpadHandshake>(*p.n1, NodeIdx(0), opts(kEpochB + 2), p.clock);
  ASSERT_TRUE(b->step());  // announces its new epoch (and acks ours, still in its scratchpads)
  EXPECT_EQ(p.fabric.peek(0, 1, S::kSpadEpoch), kEpochB + 2);
  ASSERT_TRUE(a.step());
  // The new epoch took the link down; the new instance had already acked us, so it is up
  // again at once: two transitions, which a client sees as a new generation (resync).
  EXPECT_EQ(a.generation(), gen_up + 2);
  EXPECT_EQ(a.peer_epoch(), kEpochB + 2);
  EXPECT_EQ(p.fabric.peek(1, 0, S::kSpadAck), kEpochB + 2) << "we ack the new instance";
  EXPECT_GT(run_until_up(a, *b), 0);
  EXPECT_EQ(a.generation(), gen_up + 2);
}

TEST(SpadHandshake, APeerThatLostOurScratchpadsIsAnnouncedToAgain) {
  Pair p;
  SpadHandshake a(*p.n0, NodeIdx(1), opts(kEpochA), p.clock);
  SpadHandshake b(*p.n1, NodeIdx(0), opts(kEpochB), p.clock);
  ASSERT_GT(run_until_up(a, b), 0);
  // Node 1's device was reset: what node 0 wrote there is gone, and node 1 sees no manager.
  p.fabric.clear(1, 0);
  ASSERT_TRUE(b.step());
  EXPECT_FALSE(b.up());
  EXPECT_EQ(p.fabric.peek(0, 1, S::kSpadAck), 0u) << "node 1 withdraws its ack";
  ASSERT_TRUE(a.step());
  EXPECT_FALSE(a.up()) << "node 0 sees its ack withdrawn";
  EXPECT_EQ(p.fabric.peek(1, 0, S::kSpadEpoch), kEpochA) << "and announces itself again";
  EXPECT_GT(run_until_up(a, b), 0);
}

TEST(SpadHandshake, APeerThatNeverAnswersTimesOutOnceWithAnErrorNamingIt) {
  SpadFabric fabric(3);
  FakeClock clock;
  auto n0 = fabric.node(0);
  SpadHandshake a(*n0, NodeIdx(2), opts(kEpochA), clock);
  ASSERT_TRUE(a.step());
  clock.advance_ms(29'999);
  EXPECT_TRUE(a.step()) << "not yet";
  clock.advance_ms(1);
  auto r = a.step();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kTimedOut);
  EXPECT_THAT(r.error().message(), HasSubstr("node 2"));
  EXPECT_THAT(r.error().message(), HasSubstr("start postboxd on node 2"));
  EXPECT_THAT(r.error().message(), HasSubstr("show no node manager"));
  clock.advance_ms(60'000);
  EXPECT_TRUE(a.step()) << "reported once per attempt";
  EXPECT_FALSE(a.up());
  // The peer comes after all: the handshake completes.
  auto n2 = fabric.node(2);
  SpadHandshake c(*n2, NodeIdx(0), opts(kEpochB), clock);
  EXPECT_GT(run_until_up(a, c), 0);
}

TEST(SpadHandshake, WaitingReannouncesPeriodically) {
  Pair p;
  SpadHandshake a(*p.n0, NodeIdx(1), opts(kEpochA), p.clock);
  ASSERT_TRUE(a.step());
  p.fabric.clear(1, 0);
  p.clock.advance_ms(999);
  ASSERT_TRUE(a.step());
  EXPECT_EQ(p.fabric.peek(1, 0, S::kSpadEpoch), 0u);
  p.clock.advance_ms(1);
  ASSERT_TRUE(a.step());
  EXPECT_EQ(p.fabric.peek(1, 0, S::kSpadEpoch), kEpochA);
}

TEST(SpadHandshake, ACleanLeaveTakesThePeersLinkDown) {
  Pair p;
  SpadHandshake a(*p.n0, NodeIdx(1), opts(kEpochA), p.clock);
  SpadHandshake b(*p.n1, NodeIdx(0), opts(kEpochB), p.clock);
  ASSERT_GT(run_until_up(a, b), 0);
  const uint32_t gen = a.generation();
  b.leave();
  EXPECT_EQ(p.fabric.peek(0, 1, S::kSpadMagic), 0u);
  EXPECT_EQ(p.fabric.peek(0, 1, S::kSpadEpoch), 0u);
  ASSERT_TRUE(a.step());
  EXPECT_EQ(a.state(), State::kWaiting);
  EXPECT_EQ(a.generation(), gen + 1);
}

TEST(SpadHandshake, DeviceLinkDownTakesItDownAndLinkUpRerunsIt) {
  Pair p;
  SpadHandshake a(*p.n0, NodeIdx(1), opts(kEpochA), p.clock);
  SpadHandshake b(*p.n1, NodeIdx(0), opts(kEpochB), p.clock);
  ASSERT_GT(run_until_up(a, b), 0);
  const uint32_t gen = a.generation();
  p.fabric.set_link(0, 1, false);
  ASSERT_TRUE(a.step());
  EXPECT_EQ(a.state(), State::kLinkDown);
  EXPECT_EQ(a.generation(), gen + 1);
  // Down for longer than the time-out: reported, naming the cause.
  p.clock.advance_ms(30'000);
  auto r = a.step();
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("device link to it is down"));
  p.fabric.set_link(0, 1, true);
  EXPECT_GT(run_until_up(a, b), 0);
  EXPECT_EQ(a.generation(), gen + 2);
}

TEST(SpadHandshake, ALinkThatBouncedBetweenTwoStepsIsSeenByItsGeneration) {
  Pair p;
  SpadHandshake a(*p.n0, NodeIdx(1), opts(kEpochA), p.clock);
  SpadHandshake b(*p.n1, NodeIdx(0), opts(kEpochB), p.clock);
  ASSERT_GT(run_until_up(a, b), 0);
  const uint32_t gen = a.generation();
  p.fabric.set_link(0, 1, false);
  p.fabric.set_link(0, 1, true);
  p.fabric.poke(1, 0, S::kSpadEpoch, 0);  // what we wrote may have been lost with the link
  ASSERT_TRUE(a.step());
  // Down and up again (the peer still acks us): two transitions, so clients resync.
  EXPECT_EQ(a.generation(), gen + 2);
  EXPECT_EQ(p.fabric.peek(1, 0, S::kSpadEpoch), kEpochA) << "announced again after the bounce";
  EXPECT_GT(run_until_up(a, b), 0);
  EXPECT_EQ(a.generation(), gen + 2);
}

TEST(SpadHandshake, AMismatchedPeerIsReportedOnceWithBothGeometries) {
  SpadFabric fabric(2);
  FakeClock clock;
  auto n0 = fabric.node(0);
  auto n1 = fabric.node(1, 4u << 20);  // other window size
  SpadHandshake a(*n0, NodeIdx(1), opts(kEpochA), clock);
  SpadHandshake b(*n1, NodeIdx(0), opts(kEpochB), clock);
  ASSERT_TRUE(a.step());
  (void)b.step();
  auto r = a.step();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kConfigMismatch);
  EXPECT_THAT(r.error().message(), HasSubstr("node 1"));
  EXPECT_THAT(r.error().message(), HasSubstr("4096 KiB windows"));
  EXPECT_THAT(r.error().message(), HasSubstr("2048 KiB windows"));
  EXPECT_EQ(a.state(), State::kMismatch);
  EXPECT_TRUE(a.step()) << "reported once";
  EXPECT_FALSE(a.up());
}

TEST(SpadHandshake, RefusesDevicesWithoutEnoughScratchpadsAndBadOptions) {
  Pair p;
  EXPECT_FALSE(SpadHandshake::check(*p.n0, NodeIdx(1), opts(0))) << "epoch 0 means 'left'";
  EXPECT_FALSE(SpadHandshake::check(*p.n0, NodeIdx(0), opts(kEpochA))) << "not a peer";
  EXPECT_FALSE(SpadHandshake::check(*p.n0, NodeIdx(2), opts(kEpochA))) << "no such node";
}

// The pure judgement step() makes of one read of the peer's scratchpads.
TEST(JudgePeerSpads, EachFieldDecidesInTheDocumentedOrder) {
  const OwnSpads own{512, 2, kEpochA};
  const PeerSpads good{SpadHandshake::kMagic, SpadHandshake::kVersion, 512, 2, kEpochB, kEpochA};
  EXPECT_EQ(judge_peer_spads(good, own), PeerVerdict::kAcked);
  PeerSpads p = good;
  p.ack = 0;
  EXPECT_EQ(judge_peer_spads(p, own), PeerVerdict::kUnacked);
  p = good;
  p.window_pages = 1024;
  EXPECT_EQ(judge_peer_spads(p, own), PeerVerdict::kMismatch);
  p.ack = 0;
  EXPECT_EQ(judge_peer_spads(p, own), PeerVerdict::kMismatch) << "a mismatch wins over a missing ack";
  p = good;
  p.nodes = 3;
  EXPECT_EQ(judge_peer_spads(p, own), PeerVerdict::kMismatch);
  p = good;
  p.version = SpadHandshake::kVersion + 1;
  EXPECT_EQ(judge_peer_spads(p, own), PeerVerdict::kMismatch);
  p.epoch = 0;
  EXPECT_EQ(judge_peer_spads(p, own), PeerVerdict::kAbsent) << "epoch 0: it left, whatever else is there";
  p = good;
  p.magic = 0;
  EXPECT_EQ(judge_peer_spads(p, own), PeerVerdict::kAbsent);
}

}  // namespace
}  // namespace pbx::hal
