// The API a user sees: blocking and non-blocking calls, many messages in flight, zero-copy
// views, isend, probe, tags, time-outs.
#include <thread>

#include <gtest/gtest.h>

#include "endpoint_impl.h"
#include "layout.h"
#include "wire.h"
#include "support/loopback_job.h"

namespace pbx {
namespace {

using detail::impl_of;
using test::bytes;
using test::make_endpoints;
using test::make_job;
using test::pattern;

TEST(Api, NonBlockingCallsSayWouldBlockAndDoNothing) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.postbox_slots = 8;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  std::vector<std::byte> b(64);
  auto r = eps[1].try_recv(b);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kWouldBlock);
  EXPECT_NE(r.error().message().find("call again"), std::string::npos);
  auto p = eps[1].probe();
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), Errc::kWouldBlock);
  auto v = eps[1].try_recv_view();
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code(), Errc::kWouldBlock);
}

TEST(Api, ManyMessagesInFlightArriveInOrderWithTheirTags) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.postbox_slots = 128;
  cfg.ring_size = 512u << 10;  // room for all 128 in the payload ring: the postbox is the limit
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  // 128 messages of mixed sizes in flight before the receiver looks at any.
  for (uint32_t i = 0; i < 128; ++i) ASSERT_TRUE(eps[0].try_send(Rank{1, 0}, bytes(pattern(i * 37 % 3000, 0, i)), i));
  auto full = eps[0].try_send(Rank{1, 0}, bytes(pattern(8, 0, 200)));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code(), Errc::kWouldBlock);
  std::vector<std::byte> b(4096);
  for (uint32_t i = 0; i < 128; ++i) {
    auto got = eps[1].recv(b);
    ASSERT_TRUE(got) << i;
    EXPECT_EQ(got->tag, i);
    const auto want = pattern(i * 37 % 3000, 0, i);
    ASSERT_EQ(got->size, want.size());
    EXPECT_TRUE(std::equal(want.begin(), want.end(), b.begin())) << i;
  }
}

TEST(Api, RecvFromOneSourceLeavesOthersPending) {
  const JobShape shape{3, 1};
  auto job = make_job(shape);
  auto eps = make_endpoints(job, shape);
  ASSERT_TRUE(eps[1].send(Rank{0, 0}, bytes(std::string("from 1"))));
  ASSERT_TRUE(eps[2].send(Rank{0, 0}, bytes(std::string("from 2"))));
  std::vector<std::byte> b(64);
  auto got = eps[0].recv(b, Rank{2, 0});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->source, (Rank{2, 0}));
  got = eps[0].recv(b);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->source, (Rank{1, 0}));
}

TEST(Api, ABufferTooSmallLeavesTheMessagePendingAndProbeTellsItsSize) {
  const JobShape shape{2, 1};
  auto job = make_job(shape);
  auto eps = make_endpoints(job, shape);
  const auto msg = pattern(3000, 0, 1);
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(msg), 9));
  std::vector<std::byte> small(100), big(4096);
  auto r = eps[1].recv(small);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kBufferTooSmall);
  EXPECT_NE(r.error().message().find("3000"), std::string::npos);
  EXPECT_NE(r.error().message().find("stays pending"), std::string::npos);
  auto p = eps[1].probe();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->size, 3000u);
  EXPECT_EQ(p->tag, 9u);
  auto got = eps[1].recv(big);
  ASSERT_TRUE(got);
  EXPECT_TRUE(std::equal(msg.begin(), msg.end(), big.begin()));
}

TEST(Api, ZeroCopyViewsPointIntoThePoolAndHoldMemoryUntilReleased) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.ack_batch = 1;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  auto& A = impl_of(eps[0]);
  const auto m1 = pattern(5000, 0, 1), m2 = pattern(30, 0, 2), m3 = pattern(7000, 0, 3);
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(m1), 1));
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(m2), 2));
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(m3), 3));
  auto v1 = eps[1].recv_view();
  auto v2 = eps[1].recv_view();
  auto v3 = eps[1].recv_view();
  ASSERT_TRUE(v1 && v2 && v3);
  EXPECT_TRUE(std::equal(m1.begin(), m1.end(), v1->data().begin()));
  EXPECT_TRUE(std::equal(m2.begin(), m2.end(), v2->data().begin()));
  EXPECT_TRUE(std::equal(m3.begin(), m3.end(), v3->data().begin()));
  EXPECT_EQ(v3->tag(), 3u);
  // A pool message is read in place: the view points into this node's shared memory.
  auto in = *impl_of(eps[1]).device().local_mw(hal::NodeIdx(0));
  EXPECT_GE(v1->data().data(), in.data());
  EXPECT_LT(v1->data().data(), in.data() + in.size());
  // Released out of order: nothing is acknowledged until the first one is released.
  auto spy = *hal::LoopbackDevice::open(job.spec().name, hal::NodeIdx(0));
  const auto L = *detail::Layout::compute(shape, cfg, 0);
  auto acked = [&] {
    return wire::ack_count(spy->local_mw(hal::NodeIdx(1))->load64(L.ack_off(0, 0) + wire::ack::kReleased));
  };
  eps[1].release(*v3);
  eps[1].release(*v2);
  ASSERT_FALSE(eps[1].try_recv_view());  // idle: acknowledges what it can
  EXPECT_EQ(acked(), 0u);                // m1 still borrowed: its memory and everything after it is held
  EXPECT_EQ(A.blocks_held(Rank{1, 0}), 5u + 7u);
  { MessageView gone = std::move(*v1); }  // destroying a view releases it
  ASSERT_FALSE(eps[1].try_recv_view());
  EXPECT_EQ(acked(), 3u);
}

// A message in pieces that fits the CTS lies in one region of the pool, slice after slice:
// a view borrows it in place (no copy, no allocation) and gives the region back when released.
TEST(Api, AViewOfAMessageInPiecesWithinTheCtsIsBorrowedInItsPoolRegion) {
  const JobShape shape{2, 1};
  Config cfg;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  auto& A = impl_of(eps[0]);
  const auto big = pattern(300000, 0, 9);  // 5 pieces of 64 KiB (the last one shorter)
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(big), 9));
  EXPECT_EQ(eps[0].stats().tx_pieces, 5u);
  auto v = eps[1].recv_view();
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_EQ(v->size(), big.size());
  EXPECT_EQ(v->tag(), 9u);
  EXPECT_TRUE(std::equal(big.begin(), big.end(), v->data().begin()));
  auto in = *impl_of(eps[1]).device().local_mw(hal::NodeIdx(0));
  EXPECT_GE(v->data().data(), in.data()) << "borrowed in place, in the sender's pool";
  EXPECT_LT(v->data().data() + v->size(), in.data() + in.size());
  EXPECT_EQ(eps[1].stats().held_messages, 0u) << "not assembled in the endpoint's memory";
  auto spy = *hal::LoopbackDevice::open(job.spec().name, hal::NodeIdx(0));
  const auto L = *detail::Layout::compute(shape, cfg, 0);
  auto acked = [&] {
    return wire::ack_count(spy->local_mw(hal::NodeIdx(1))->load64(L.ack_off(0, 0) + wire::ack::kReleased));
  };
  ASSERT_FALSE(eps[1].try_recv_view());  // idle acknowledgements: the region is still borrowed
  EXPECT_EQ(acked(), 0u);
  EXPECT_EQ(A.blocks_held(Rank{1, 0}), cfg.cts / cfg.block_size);
  eps[1].release(*v);
  ASSERT_FALSE(eps[1].try_recv_view());
  EXPECT_EQ(acked(), 5u) << "every piece's slot released: the region is free again";
}

TEST(Api, InlineViewsSurviveBeingMoved) {
  const JobShape shape{2, 1};
  auto job = make_job(shape);
  auto eps = make_endpoints(job, shape);
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(std::string("inline payload"))));
  auto v = eps[1].recv_view();
  ASSERT_TRUE(v);
  MessageView moved = std::move(*v);
  EXPECT_FALSE(v->valid());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(moved.data().data()), moved.size()), "inline payload");
}

TEST(Api, IsendCompletesThroughPollingAndKeepsOrderWithSends) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.cts = 64u << 10;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  const auto big = pattern(1u << 20, 0, 1);
  auto h = eps[0].isend(Rank{1, 0}, bytes(big), 1);
  ASSERT_TRUE(h);
  auto t = eps[0].test(*h);
  ASSERT_TRUE(t);
  EXPECT_FALSE(*t);  // pieces wait for acknowledgements
  // A later small message to the same receiver waits its turn.
  auto r = eps[0].try_send(Rank{1, 0}, bytes(std::string("after")), 2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kWouldBlock);
  std::thread rx([&] {
    std::vector<std::byte> b(2u << 20);
    auto g = eps[1].recv(b);
    EXPECT_TRUE(g && g->tag == 1 && g->size == big.size());
    EXPECT_TRUE(std::equal(big.begin(), big.end(), b.begin()));
    g = eps[1].recv(b);
    EXPECT_TRUE(g && g->tag == 2);
  });
  ASSERT_TRUE(eps[0].wait(*h));
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(std::string("after")), 2));
  rx.join();
  auto again = eps[0].test(*h);  // a completed handle is gone
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Errc::kInvalidArgument);
}

TEST(Api, BlockingReceiveTimesOutWithAMessage) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.timeout_ms = 50;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  std::vector<std::byte> b(64);
  auto r = eps[1].recv(b, Rank{0, 0});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kTimedOut);
  EXPECT_NE(r.error().message().find("rank (0, 0)"), std::string::npos);
  EXPECT_NE(r.error().message().find("timeout_ms"), std::string::npos);
}

TEST(Api, BlockingSendWaitsForRoomAndSucceedsWhenTheReceiverCatchesUp) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.postbox_slots = 8;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  const auto L = *detail::Layout::compute(shape, cfg, 0);
  std::thread tx([&] {
    for (uint32_t i = 0; i < 100; ++i) EXPECT_TRUE(eps[0].send(Rank{1, 0}, bytes(pattern(8, 0, i)), i));
  });
  // Start receiving only once the sender has filled the postbox: from then on it must wait.
  auto spy = *hal::LoopbackDevice::open(job.spec().name, hal::NodeIdx(1));
  const auto in = *spy->local_mw(hal::NodeIdx(0));
  const size_t last_slot = L.segment_off(0) + L.slots_off(0) + 7 * 64;
  while (wire::check_of(in.load64_acquire(last_slot)) != wire::check_byte(7, L.slots_log2())) cpu_pause();
  std::vector<std::byte> b(64);
  for (uint32_t i = 0; i < 100; ++i) {
    auto g = eps[1].recv(b);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->tag, i);
  }
  tx.join();
  EXPECT_GT(eps[0].stats().tx_would_block, 0u);  // it did have to wait
}

TEST(Api, MessagesToSelfWork) {
  const JobShape shape{1, 2};
  auto job = make_job(shape);
  auto eps = make_endpoints(job, shape);
  ASSERT_TRUE(eps[0].send(Rank{0, 0}, bytes(std::string("me"))));
  ASSERT_TRUE(eps[0].send(Rank{0, 1}, bytes(pattern(2000, 0, 0))));  // same node, other process
  std::vector<std::byte> b(4096);
  auto g = eps[0].recv(b);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->source, (Rank{0, 0}));
  g = eps[1].recv(b);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->size, 2000u);
}

}  // namespace
}  // namespace pbx
