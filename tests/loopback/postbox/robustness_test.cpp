// Bad input gets a clear error and nothing is lost (issue point 8): invalid shapes, ranks,
// sizes and options; peers that never come up or leave; garbage written by a buggy peer into
// shared memory; a link that goes down and comes back.
#include <cstdlib>
#include <random>

#include <gtest/gtest.h>

#include "endpoint_impl.h"
#include "layout.h"
#include "support/loopback_job.h"
#include "wire.h"

namespace pbx {
namespace {

using detail::impl_of;
using detail::Layout;
using test::bytes;
using test::make_endpoints;
using test::make_job;
using test::pattern;

// Another process's view of node `node`'s window to node `peer`: how a buggy peer on `node`
// writes into `peer`'s memory.
struct Scribbler {
  std::unique_ptr<hal::LoopbackDevice> dev;
  hal::OutboundWindow win;
  Scribbler(const hal::LoopbackJob& job, uint16_t node, uint16_t peer) {
    dev = std::move(*hal::LoopbackDevice::open(job.spec().name, hal::NodeIdx(node)));
    win = *dev->peer_mw(hal::NodeIdx(peer));
  }
  void put(size_t off, uint64_t v) { win.store64(off, v, hal::StoreKind::kControl); }
};

TEST(Robustness, InvalidJobShapeAndRanksAreRejected) {
  const JobShape shape{2, 1};
  auto job = make_job(shape);
  auto dev = hal::LoopbackDevice::open(job.spec().name, hal::NodeIdx(0));
  ASSERT_TRUE(dev);
  auto ep = Endpoint::create(std::move(*dev), JobShape{3, 1}, Rank{0, 0});
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(ep.error().message().find("3 nodes"), std::string::npos) << ep.error().message();
  dev = hal::LoopbackDevice::open(job.spec().name, hal::NodeIdx(0));
  ep = Endpoint::create(std::move(*dev), shape, Rank{0, 4});
  ASSERT_FALSE(ep);
  EXPECT_NE(ep.error().message().find("local indexes 0..0"), std::string::npos) << ep.error().message();
  dev = hal::LoopbackDevice::open(job.spec().name, hal::NodeIdx(0));
  Config bad;
  bad.postbox_slots = 3;
  ep = Endpoint::create(std::move(*dev), shape, Rank{0, 0}, bad);
  ASSERT_FALSE(ep);
  EXPECT_NE(ep.error().message().find("postbox_slots = 3"), std::string::npos);
}

TEST(Robustness, BadRanksAndSizesOnTheDataPathAreErrorsNotCrashes) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.max_message = 1u << 20;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  auto r = eps[0].send(Rank{2, 0}, bytes(std::string("x")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(r.error().message().find("rank (node 2, local 0)"), std::string::npos) << r.error().message();
  r = eps[0].try_send(Rank{0, 1}, bytes(std::string("x")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
  std::vector<std::byte> b(16);
  auto g = eps[1].recv(b, Rank{7, 7});
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code(), Errc::kInvalidArgument);
  auto huge = pattern((1u << 20) + 1, 0, 0);
  r = eps[0].send(Rank{1, 0}, bytes(huge));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kMessageTooLarge);
  EXPECT_EQ(eps[0].stats().tx_msgs, 0u);
}

TEST(Robustness, APeerThatNeverComesUpIsNamedAfterTheTimeout) {
  const JobShape shape{2, 2};
  Config cfg;
  cfg.timeout_ms = 100;
  auto job = make_job(shape, cfg);
  auto ep = test::open_endpoint(job, shape, Rank{0, 0}, cfg);  // the other three never start
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error().code(), Errc::kPeerNotUp);
  EXPECT_NE(ep.error().message().find("(0, 1), (1, 0), (1, 1)"), std::string::npos) << ep.error().message();
  EXPECT_NE(ep.error().message().find("100 ms"), std::string::npos);
}

TEST(Robustness, PeersWithDifferentConfigurationsRefuseToTalk) {
  const JobShape shape{2, 1};
  Config a, b;
  b.pool_size = a.pool_size * 2;
  a.timeout_ms = b.timeout_ms = 2000;
  auto job = make_job(shape, b);
  auto fa = std::async(std::launch::async, [&] { return test::open_endpoint(job, shape, Rank{0, 0}, a); });
  auto eb = test::open_endpoint(job, shape, Rank{1, 0}, b);
  auto ea = fa.get();
  ASSERT_FALSE(ea);
  ASSERT_FALSE(eb);
  EXPECT_EQ(ea.error().code(), Errc::kConfigMismatch);
  EXPECT_NE(ea.error().message().find("same Config"), std::string::npos);
}

TEST(Robustness, FromEnvironmentWithoutALauncherSaysToUsePbxrun) {
  unsetenv("PBX_JOB");
  auto ep = Endpoint::from_env();
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(ep.error().message().find("pbxrun"), std::string::npos);
}

TEST(Robustness, SendingToAProcessThatLeftFailsWithPeerGone) {
  const JobShape shape{2, 1};
  auto job = make_job(shape);
  auto eps = make_endpoints(job, shape);
  ASSERT_TRUE(eps[1].close());
  auto r = eps[0].send(Rank{1, 0}, bytes(std::string("anyone?")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kPeerGone);
  EXPECT_NE(r.error().message().find("rank (1, 0)"), std::string::npos);
}

TEST(Robustness, ClosingWithUnreceivedMessagesReportsThem) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.timeout_ms = 200;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(std::string("one"))));
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(std::string("two"))));
  std::vector<std::byte> b(16);
  ASSERT_TRUE(eps[1].recv(b));  // (forces the receiver to discover the sender)
  auto c = eps[1].close();
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("1 message(s) from rank (0, 0) were never received"), std::string::npos)
      << c.error().message();
  c = eps[0].close();  // the sender learns it too: one message was not acknowledged
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("1 message(s) to rank (1, 0) were not acknowledged"), std::string::npos)
      << c.error().message();
}

// ---- garbage in shared memory ------------------------------------------------------------

// Sender (0, 1) is "buggy": its postbox for (1, 0) gets a malformed indicator. Sender (0, 0)
// is healthy. The receiver reports the bad one once, by name, keeps receiving the healthy
// one, and never reads outside the sender's segment (the ASan build would catch it).
void run_garbage_case(const std::function<void(uint64_t w[8], uint8_t check)>& make, const char* expect) {
  const JobShape shape{2, 2};
  Config cfg;
  cfg.pool_size = 256u << 10;
  cfg.cts = 64u << 10;
  cfg.max_message = 1u << 20;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  const Layout L = *Layout::compute(shape, cfg, 0);
  ASSERT_TRUE(eps[1].send(Rank{1, 0}, bytes(std::string("before"))));  // creates (0, 1)'s segment
  Scribbler bug(job, 0, 1);
  const size_t slot = L.segment_off(1) + L.slots_off(0) + 64;  // sequence 1
  uint64_t w[8] = {};
  const uint8_t check = wire::check_byte(1, L.slots_log2());
  make(w, check);
  for (int i = 7; i >= 0; --i) bug.put(slot + 8 * i, w[i]);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(pattern(100 + i, 0, i)), 7));
  std::vector<std::byte> b(1u << 20);
  int healthy = 0, reported = 0, before = 0;
  for (int i = 0; i < 6 && (healthy < 3 || reported < 1); ++i) {
    auto g = eps[2].recv(b);
    if (!g) {
      ++reported;
      EXPECT_EQ(g.error().code(), Errc::kProtocolError);
      EXPECT_NE(g.error().message().find("rank (0, 1)"), std::string::npos) << g.error().message();
      EXPECT_NE(g.error().message().find(expect), std::string::npos) << g.error().message();
      continue;
    }
    if (g->source == (Rank{0, 1})) {
      ++before;
      continue;
    }
    EXPECT_EQ(g->tag, 7u);
    const auto want = pattern(100 + healthy, 0, healthy);
    EXPECT_TRUE(std::equal(want.begin(), want.end(), b.begin()));
    ++healthy;
  }
  EXPECT_EQ(healthy, 3);
  EXPECT_EQ(reported, 1);
  EXPECT_EQ(before, 1);
  EXPECT_EQ(eps[2].stats().bad_indicators, 1u);
  auto direct = eps[2].recv(b, Rank{0, 1});  // the channel stays closed, with a reason
  ASSERT_FALSE(direct);
  EXPECT_EQ(direct.error().code(), Errc::kProtocolError);
}

TEST(Robustness, GarbageIndicatorUnknownKind) {
  run_garbage_case([](uint64_t w[8], uint8_t c) {
    w[0] = wire::checked(uint64_t{0x0b} << 48, c);
    for (int i = 1; i < 8; ++i) w[i] = wire::checked(0, c);
  }, "kind");
}

TEST(Robustness, GarbageIndicatorInlineLengthAboveTheLimit) {
  run_garbage_case([](uint64_t w[8], uint8_t c) {
    w[0] = wire::encode_header({wire::Kind::kInline, 0, 200, 0}, c);
    for (int i = 1; i < 8; ++i) w[i] = wire::checked(~0ull, c);
  }, "inline length");
}

TEST(Robustness, GarbageIndicatorPoolOffsetOutsideThePool) {
  run_garbage_case([](uint64_t w[8], uint8_t c) {
    w[0] = wire::encode_header({wire::Kind::kPool, 0, 0, 0}, c);
    w[1] = wire::checked((256u << 10) / 64 - 1, c);  // last 64 bytes of the pool...
    w[2] = wire::checked(4096, c);                     // ...and 4 KiB long
    for (int i = 3; i < 8; ++i) w[i] = wire::checked(0, c);
  }, "pool offset + length");
}

TEST(Robustness, GarbageIndicatorRingMessageOutsideThePayloadRing) {
  run_garbage_case([](uint64_t w[8], uint8_t c) {
    w[0] = wire::encode_header({wire::Kind::kRing, 0, 0, 0}, c);
    w[1] = wire::checked((64u << 10) / 64 - 1, c);  // last 64 bytes of the ring...
    w[2] = wire::checked(128, c);                     // ...and 128 bytes long
    for (int i = 3; i < 8; ++i) w[i] = wire::checked(0, c);
  }, "ring offset + length");
}

TEST(Robustness, GarbageIndicatorHugeOffsetDoesNotWrapTheBoundsCheck) {
  run_garbage_case([](uint64_t w[8], uint8_t c) {
    w[0] = wire::encode_header({wire::Kind::kPool, 0, 0, 0}, c);
    w[1] = wire::checked(wire::kLow56, c);  // offset ~2^62
    w[2] = wire::checked(wire::kLow56, c);  // length ~2^56: the sum wraps in 64 bits
    for (int i = 3; i < 8; ++i) w[i] = wire::checked(0, c);
  }, "pool offset + length");
}

TEST(Robustness, GarbageIndicatorPieceAboveMaxMessage) {
  run_garbage_case([](uint64_t w[8], uint8_t c) {
    w[0] = wire::encode_header({wire::Kind::kPiece, 0, 0, 0}, c);
    w[1] = wire::checked(0, c);
    w[2] = wire::checked(1024, c);
    w[3] = wire::checked(0, c);
    w[4] = wire::checked(uint64_t{1} << 40, c);
    for (int i = 5; i < 8; ++i) w[i] = wire::checked(0, c);
  }, "message length");
}

TEST(Robustness, RandomGarbageNeverCrashesTheReceiverOrStopsOtherSenders) {
  std::mt19937_64 rng(20261124);
  for (int round = 0; round < 24; ++round) {
    const uint64_t seed = rng();
    SCOPED_TRACE("seed " + std::to_string(seed));
    const JobShape shape{2, 2};
    Config cfg;
    cfg.pool_size = 256u << 10;
    cfg.cts = 64u << 10;
    cfg.max_message = 1u << 20;
    cfg.timeout_ms = 300;  // garbage that starts a message in pieces times out waiting for the rest
    auto job = make_job(shape, cfg);
    auto eps = make_endpoints(job, shape, cfg);
    const Layout L = *Layout::compute(shape, cfg, 0);
    ASSERT_TRUE(eps[1].send(Rank{1, 0}, bytes(std::string("hello"))));
    Scribbler bug(job, 0, 1);
    std::mt19937_64 r(seed);
    // Random words with valid check bytes over the next 4 slots, plus a random postbox epoch.
    for (uint64_t seq = 1; seq < 5; ++seq) {
      const size_t slot = L.segment_off(1) + L.slots_off(0) + 64 * seq;
      const uint8_t c = wire::check_byte(seq, L.slots_log2());
      for (int i = 7; i >= 0; --i) bug.put(slot + 8 * i, wire::checked(r() >> (r() % 60), c));
    }
    if (r() % 2) bug.put(L.segment_off(1) + L.postbox_off(0) + wire::postbox::kStartSeq, r());
    if (r() % 2) bug.put(L.segment_off(1) + L.postbox_off(0) + wire::postbox::kEpoch, r() % 4);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(pattern(300, 0, i)), 9));
    std::vector<std::byte> b(1u << 20);
    int healthy = 0;
    for (int i = 0; i < 40 && healthy < 3; ++i) {
      auto g = eps[2].try_recv(b);
      if (g && g->source == (Rank{0, 0})) {
        EXPECT_EQ(g->tag, 9u);
        ++healthy;
      }
      if (!g && g.error().code() == Errc::kWouldBlock) eps[2].progress();
    }
    for (int i = 0; i < 2000 && healthy < 3; ++i) {  // pieces from garbage may time out first
      auto g = eps[2].recv(b, Rank{0, 0});
      if (g) ++healthy;
    }
    EXPECT_EQ(healthy, 3);
  }
}

TEST(Robustness, AGarbageAcknowledgementClosesOnlyThatChannel) {
  const JobShape shape{3, 1};
  Config cfg;
  cfg.postbox_slots = 8;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  const Layout L = *Layout::compute(shape, cfg, 0);
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(std::string("x"))));
  std::vector<std::byte> got(16);
  ASSERT_TRUE(eps[1].recv(got));  // the receiver follows the channel (its ack block names the sender)
  Scribbler bug(job, 1, 0);  // node 1 writes into node 0's ack segment
  bug.put(L.ack_off(0, 0) + wire::ack::kReleased, wire::ack_word(1000, 1));  // more than was ever sent, in its epoch
  Result<void> r;
  for (int i = 0; i < 20 && r; ++i) r = eps[0].try_send(Rank{1, 0}, bytes(std::string("y")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kProtocolError);
  EXPECT_NE(r.error().message().find("rank (1, 0)"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("acknowledgement"), std::string::npos);
  EXPECT_EQ(eps[0].stats().bad_acks, 1u);
  EXPECT_TRUE(eps[0].send(Rank{2, 0}, bytes(std::string("still fine"))));  // other receivers unaffected
}

// ---- a link that goes down and comes back ------------------------------------------------

void notice_links(Endpoint& ep, uint64_t events_before) {
  for (int i = 0; i < 100000 && ep.stats().link_down_events == events_before; ++i) ep.progress();
}

TEST(Robustness, LinkDownFailsSendsAndTheResyncReportsExactlyWhatWasLost) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.timeout_ms = 2000;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  const Layout L = *Layout::compute(shape, cfg, 0);
  for (uint32_t i = 0; i < 5; ++i) ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(pattern(8 + i * 300, 0, i)), i));
  std::vector<std::byte> b(4096);
  ASSERT_TRUE(eps[1].recv(b));  // message 0 delivered
  // The link goes down. Messages 3 and 4 were "in flight": their writes never landed (a real
  // link drops posted writes), which the test makes happen by wiping their indicators.
  Scribbler wipe(job, 0, 1);  // (mapped while the link is up: it keeps writing through)
  ASSERT_TRUE(hal::LoopbackJob::set_link(job.spec().name, hal::NodeIdx(0), hal::NodeIdx(1), false));
  for (uint64_t seq : {3u, 4u})
    for (int i = 0; i < 8; ++i) wipe.put(L.segment_off(0) + L.slots_off(0) + 64 * seq + 8 * i, 0);
  notice_links(eps[0], 0);
  notice_links(eps[1], 0);
  auto r = eps[0].send(Rank{1, 0}, bytes(std::string("during")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kLinkDown);
  EXPECT_NE(r.error().message().find("node 1"), std::string::npos) << r.error().message();
  // The link comes back; the sender starts a new epoch, the receiver answers.
  ASSERT_TRUE(hal::LoopbackJob::set_link(job.spec().name, hal::NodeIdx(0), hal::NodeIdx(1), true));
  notice_links(eps[0], 1);
  notice_links(eps[1], 1);
  for (int i = 0; i < 100000 && eps[0].stats().link_resyncs == 0; ++i) {
    eps[1].progress();
    eps[0].progress();
  }
  EXPECT_EQ(eps[0].stats().link_resyncs, 1u);
  EXPECT_EQ(eps[0].stats().lost_on_link_down, 2u);
  // The next send reports the loss (and is not sent); later ones go through.
  r = eps[0].send(Rank{1, 0}, bytes(std::string("after")), 100);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kLinkDown);
  EXPECT_NE(r.error().message().find("the last 2 message(s)"), std::string::npos) << r.error().message();
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(std::string("after")), 100));
  // The receiver gets 1 and 2 (they had landed), never 3 or 4, then the new message: each once.
  for (uint32_t want : {1u, 2u, 100u}) {
    auto g = eps[1].recv(b);
    ASSERT_TRUE(g) << g.error().message();
    EXPECT_EQ(g->tag, want);
  }
  auto none = eps[1].try_recv(b);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), Errc::kWouldBlock);
}

}  // namespace
}  // namespace pbx
