// The protocol of the seed claims, row by row (DESIGN.md's claim table). Every test names the
// claims it proves. Endpoints of one loopback job live in this process (each used by one
// thread at a time); the shared memory they use is inspected directly through a second view
// of each node's file ("spy"), as a peer on another node would see it.
#include <sys/stat.h>

#include <thread>

#include <gtest/gtest.h>

#include "endpoint_impl.h"
#include "support/loopback_job.h"
#include "support/recorder.h"

namespace pbx {
namespace {

using detail::impl_of;
using detail::Layout;
using test::bytes;
using test::make_endpoints;
using test::make_job;
using test::pattern;

// A view of node `node`'s memory written by node `from`.
struct Spy {
  std::unique_ptr<hal::LoopbackDevice> dev;
  hal::InboundWindow win;
  Spy(const hal::LoopbackJob& job, uint16_t node, uint16_t from) {
    auto d = hal::LoopbackDevice::open(job.spec().name, hal::NodeIdx(node));
    EXPECT_TRUE(d);
    dev = std::move(*d);
    win = *dev->local_mw(hal::NodeIdx(from));
  }
  uint64_t word(size_t off) const { return win.load64(off); }
};

Layout layout_of(const JobShape& shape, const Config& cfg) { return *Layout::compute(shape, cfg, 0); }

std::vector<std::byte> buffer(size_t n = 1u << 20) { return std::vector<std::byte>(n); }

// Receives until `ep` would block once (so that idle acknowledgements are written).
void drain_idle(Endpoint& ep) {
  auto b = buffer(64);
  for (;;) {
    auto r = ep.try_recv(b);
    if (!r && r.error().code() == Errc::kWouldBlock) return;
  }
}

// ---------------------------------------------------------------------------------------

TEST(Claims, c1_c14_c15_EachSenderHasItsOwnSegmentOnTheRemoteNodeWrittenOnlyByIt) {
  const JobShape shape{2, 2};
  Config cfg;
  cfg.ring_max = 0;  // every message above the inline size goes through the pool
  cfg.pool_size = 256u << 10;
  cfg.cts = 64u << 10;
  auto job = make_job(shape, cfg);
  test::EventLog log0, log1;  // before the endpoints: they report to it until they close
  auto eps = make_endpoints(job, shape, cfg);
  ASSERT_EQ(eps.size(), 4u);
  const Layout L = layout_of(shape, cfg);
  impl_of(eps[0]).set_recorder(&log0);  // (0, 0)
  impl_of(eps[1]).set_recorder(&log1);  // (0, 1)
  const auto big = pattern(4000, 0, 1);
  for (uint16_t r = 0; r < 2; ++r) {
    ASSERT_TRUE(eps[0].send(Rank{1, r}, bytes(big)));
    ASSERT_TRUE(eps[1].send(Rank{1, r}, bytes(std::string("hi"))));
  }
  // Every store each sender made lies inside its own segment on node 1 (c1: written only by it).
  for (auto [log, local] : {std::pair{&log0, 0}, std::pair{&log1, 1}}) {
    const size_t lo = L.segment_off(static_cast<uint16_t>(local)), hi = lo + L.segment_size();
    const auto ev = log->events();
    ASSERT_FALSE(ev.empty());
    for (const test::Access& a : ev)
      if (a.type == test::Access::kStore) {
        EXPECT_GE(a.offset, lo) << "sender " << local;
        EXPECT_LE(a.offset + a.len, hi) << "sender " << local;
      }
  }
  // Both segments exist on node 1 (c14: a node holds one memory space per remote sender), each
  // with a postbox per process of node 1 and a pool (c1).
  Spy spy(job, 1, 0);
  EXPECT_EQ(spy.word(L.segment_off(0) + wire::seg::kMagic), wire::kSegmentMagic);
  EXPECT_EQ(spy.word(L.segment_off(1) + wire::seg::kMagic), wire::kSegmentMagic);
  for (uint16_t r = 0; r < 2; ++r) {
    const uint64_t w0 = spy.word(L.segment_off(0) + L.slots_off(r));
    EXPECT_EQ(wire::decode_header(w0).kind, wire::Kind::kPool) << "receiver " << r;
  }
  auto b = buffer();
  for (uint16_t r = 0; r < 2; ++r) {  // c15: a node with several processes, each served
    for (int k = 0; k < 2; ++k) {
      auto got = eps[2 + r].recv(b);
      ASSERT_TRUE(got) << got.error().message();
      EXPECT_EQ(got->size, got->source.local == 0 ? big.size() : 2u);
    }
  }
}

TEST(Claims, c2_c3_c9_MessageInPoolIndicatorWithLocationInPostboxReceiverCopiesOut) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.ring_max = 0;  // every message above the inline size goes through the pool
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  const Layout L = layout_of(shape, cfg);
  const auto msg = pattern(1000, 0, 7);
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(msg), 42));
  // In node 1's memory: the indicator in receiver 0's postbox says where and how long (c2, c9).
  Spy spy(job, 1, 0);
  const size_t seg = L.segment_off(0);
  const size_t slot = seg + L.slots_off(0);
  const uint64_t w0 = spy.word(slot), w1 = spy.word(slot + 8), w2 = spy.word(slot + 16);
  const auto h = wire::decode_header(w0);
  EXPECT_EQ(h.kind, wire::Kind::kPool);
  EXPECT_EQ(h.tag, 42u);
  const uint64_t pool_off = (w1 & wire::kLow56) << 6;
  EXPECT_EQ(w2 & wire::kLow56, 1000u);
  std::vector<std::byte> in_pool(1000);
  spy.win.read(seg + L.pool_off() + pool_off, in_pool.data(), in_pool.size());
  EXPECT_EQ(in_pool, msg);
  // The receiver polls its postbox and copies the message out by the indicator (c3).
  auto b = buffer();
  auto got = eps[1].recv(b);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->size, 1000u);
  EXPECT_EQ(got->tag, 42u);
  EXPECT_TRUE(std::equal(msg.begin(), msg.end(), b.begin()));
}

TEST(Claims, c4_c5_SizeDecidesInlineRingPoolPiecesOrRejection) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.cts = 64u << 10;
  cfg.cts_slices = 4;  // pieces of 16 KiB
  cfg.max_message = 1u << 20;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  Endpoint& a = eps[0];
  ASSERT_TRUE(a.send(Rank{1, 0}, bytes(pattern(49, 0, 0))));       // in the indicator line
  EXPECT_EQ(a.stats().tx_inline, 1u);
  ASSERT_TRUE(a.send(Rank{1, 0}, bytes(pattern(cfg.ring_max, 0, 4)))); // in the postbox's payload ring
  EXPECT_EQ(a.stats().tx_ring, 1u);
  ASSERT_TRUE(a.send(Rank{1, 0}, bytes(pattern(16u << 10, 0, 5))));  // up to a piece: whole, in the pool
  EXPECT_EQ(a.stats().tx_pool, 1u);
  ASSERT_TRUE(a.try_send(Rank{1, 0}, bytes(pattern(64u << 10, 0, 1)))); // try_send: whole up to the CTS (c4)
  EXPECT_EQ(a.stats().tx_pool, 2u);
  EXPECT_EQ(a.stats().tx_pieces, 0u);
  // Above the set size (the CTS) it does not go in whole (c5): try_send refuses it...
  auto big = pattern((64u << 10) + 1, 0, 2);
  auto r = a.try_send(Rank{1, 0}, bytes(big));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(r.error().message().find("CTS"), std::string::npos);
  // ...above max_message it is rejected, and nothing is sent.
  auto huge = pattern((1u << 20) + 1, 0, 3);
  r = a.send(Rank{1, 0}, bytes(huge));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kMessageTooLarge);
  EXPECT_NE(r.error().message().find("max_message"), std::string::npos);
  EXPECT_EQ(a.stats().tx_msgs, 4u);
  // send() takes the CTS-plus-one message in pieces.
  std::thread t([&] { EXPECT_TRUE(a.send(Rank{1, 0}, bytes(big))); });
  auto b = buffer();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(eps[1].recv(b));
  auto got = eps[1].recv(b);
  t.join();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size, big.size());
  EXPECT_TRUE(std::equal(big.begin(), big.end(), b.begin()));
  EXPECT_EQ(a.stats().tx_pieces, 5u);  // 4 pieces of 16 KiB and 1 byte
}

TEST(Claims, c6_OneSegmentServesEveryReceiverOnTheNodeThroughItsOwnPostbox) {
  const JobShape shape{2, 3};
  Config cfg;
  cfg.pool_size = 256u << 10;
  cfg.cts = 64u << 10;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  Endpoint& a = eps[0];
  for (uint16_t r = 0; r < 3; ++r) {
    ASSERT_TRUE(a.send(Rank{1, r}, bytes(pattern(500, r, 0)), r));
    ASSERT_TRUE(a.send(Rank{1, r}, bytes(pattern(8, r, 1)), 10 + r));
  }
  EXPECT_EQ(a.stats().segments_created, 1u);  // one segment on node 1 for all three
  auto b = buffer();
  for (uint16_t r = 0; r < 3; ++r) {
    Endpoint& rx = eps[3 + r];
    auto g1 = rx.recv(b);
    ASSERT_TRUE(g1);
    EXPECT_EQ(g1->tag, r);
    EXPECT_TRUE(std::equal(b.begin(), b.begin() + 500, pattern(500, r, 0).begin()));
    auto g2 = rx.recv(b);
    ASSERT_TRUE(g2);
    EXPECT_EQ(g2->tag, 10u + r);
    auto none = rx.try_recv(b);  // nothing of the others' leaked into this postbox
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code(), Errc::kWouldBlock);
  }
}

TEST(Claims, c7_c10_c27_c28_c29_c30_ReceiverListOrderWalkAndLeaving) {
  const JobShape shape{3, 2};
  Config cfg;
  cfg.pool_size = 64u << 10;  // 64 blocks of 1 KiB per node
  cfg.cts = 16u << 10;
  cfg.ack_batch = 32;          // acks come from idle receivers
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  Endpoint& a = eps[0];
  auto& A = impl_of(a);
  const Rank r1{1, 0}, r2{2, 0}, r3{1, 1};
  const auto m8k = pattern(8u << 10, 0, 0);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(a.try_send(r1, bytes(m8k)));
  ASSERT_TRUE(a.try_send(r2, bytes(m8k)));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(a.try_send(r3, bytes(m8k)));
  // c7, c27: the list in the order of first sending; c29: blocks counted per receiver.
  EXPECT_EQ(A.receiver_list_order(), (std::vector<Rank>{r1, r2, r3}));
  EXPECT_EQ(A.blocks_held(r1), 32u);
  EXPECT_EQ(A.blocks_held(r2), 8u);
  EXPECT_EQ(A.blocks_held(r3), 32u);
  EXPECT_EQ(A.pool_free_blocks(1), 0u);
  // r1 and r2 receive everything and acknowledge (when idle); r3 receives nothing.
  auto b = buffer();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(eps[2].recv(b));
  drain_idle(eps[2]);
  ASSERT_TRUE(eps[4].recv(b));
  drain_idle(eps[4]);
  // Node 1's pool is full: the next send to r3 walks the list (c10) and reclaims only from
  // receivers on node 1 (c28): r1's blocks come back, r2's (node 2) are not even looked at.
  const uint64_t walks = a.stats().receiver_list_walks;
  ASSERT_TRUE(a.try_send(r3, bytes(m8k)));
  EXPECT_EQ(a.stats().receiver_list_walks, walks + 1);
  EXPECT_EQ(A.blocks_held(r1), 0u);
  EXPECT_EQ(A.blocks_held(r2), 8u);
  EXPECT_EQ(A.blocks_held(r3), 40u);
  // c30: r1 holds no blocks any more and left the list.
  EXPECT_EQ(A.receiver_list_order(), (std::vector<Rank>{r2, r3}));
  // r1 rejoins at the end when it gets blocks again.
  ASSERT_TRUE(a.try_send(r1, bytes(m8k)));
  EXPECT_EQ(A.receiver_list_order(), (std::vector<Rank>{r2, r3, r1}));
}

TEST(Claims, c8_PostboxRoomIsCheckedFirstThenPoolMemory) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.ring_max = 0;  // every message above the inline size goes through the pool
  cfg.postbox_slots = 8;
  cfg.ack_batch = 4;
  cfg.pool_size = 64u << 10;
  cfg.cts = 16u << 10;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  Endpoint& a = eps[0];
  auto& A = impl_of(a);
  // A full postbox blocks the send although the pool is empty.
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(a.try_send(Rank{1, 0}, bytes(pattern(8, 0, i))));
  auto r = a.try_send(Rank{1, 0}, bytes(pattern(16u << 10, 0, 99)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kWouldBlock);
  EXPECT_EQ(A.pool_free_blocks(1), 64u);  // the pool was never touched
  auto b = buffer();
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(eps[1].recv(b));
  drain_idle(eps[1]);
  // A full pool blocks the send although the postbox has room.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(a.try_send(Rank{1, 0}, bytes(pattern(16u << 10, 0, i))));
  EXPECT_EQ(A.pool_free_blocks(1), 0u);
  r = a.try_send(Rank{1, 0}, bytes(pattern(1024, 0, 5)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kWouldBlock);
  EXPECT_LT(A.unacknowledged(Rank{1, 0}), 8u);
  // Nothing was overwritten: the receiver gets the four pool messages intact.
  for (int i = 0; i < 4; ++i) {
    auto got = eps[1].recv(b);
    ASSERT_TRUE(got);
    const auto want = pattern(16u << 10, 0, i);
    EXPECT_TRUE(std::equal(want.begin(), want.end(), b.begin())) << i;
  }
}

TEST(Claims, c11_c12_c13_c16_c17_c18_c19_c20_c21_MemoryIsReclaimedOnlyAfterTheAck) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.postbox_slots = 64;
  cfg.ack_batch = 16;
  cfg.pool_size = 64u << 10;  // 64 blocks
  cfg.cts = 32u << 10;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  Endpoint& a = eps[0];
  auto& A = impl_of(a);
  const Rank r{1, 0};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.try_send(r, bytes(pattern(16u << 10, 0, i))));
  EXPECT_EQ(A.blocks_held(r), 48u);
  // The receiver copies every message out, but has not acknowledged yet (batch of 16).
  auto b = buffer();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(eps[1].recv(b));
  auto blocked = a.try_send(r, bytes(pattern(32u << 10, 0, 9)));  // needs 32 blocks, 16 are free
  ASSERT_FALSE(blocked);  // c16: no ack, no reclaiming
  EXPECT_EQ(blocked.error().code(), Errc::kWouldBlock);
  EXPECT_EQ(A.blocks_held(r), 48u);
  EXPECT_EQ(A.unacknowledged(r), 3u);
  // Idle, the receiver acknowledges; the next attempt reclaims the postbox slots (c16), frees
  // the blocks (c17), decrements the count (c18, c19) to zero and leaves the list (c20, c21).
  drain_idle(eps[1]);
  const uint64_t slots_before = a.stats().slots_reclaimed;
  ASSERT_TRUE(a.try_send(r, bytes(pattern(32u << 10, 0, 10))));
  EXPECT_EQ(a.stats().slots_reclaimed - slots_before, 3u);
  EXPECT_EQ(a.stats().blocks_reclaimed, 48u);
  EXPECT_EQ(A.blocks_held(r), 32u);  // only the new message
  EXPECT_EQ(A.receiver_list_order(), std::vector<Rank>{r});
}

TEST(Claims, c22_c23_c24_c25_c26_LargeMessagesGoInPiecesReusingTheSameMemory) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.pool_size = 256u << 10;
  cfg.cts = 64u << 10;
  cfg.cts_slices = 4;
  auto job = make_job(shape, cfg);
  test::EventLog log;
  auto eps = make_endpoints(job, shape, cfg);
  Endpoint& a = eps[0];
  const Layout L = layout_of(shape, cfg);
  // Earlier messages fill most of the pool; they are received and acknowledged, so the large
  // message must recover their memory to go (c26).
  for (int i = 0; i < 13; ++i) ASSERT_TRUE(a.try_send(Rank{1, 0}, bytes(pattern(16u << 10, 0, i))));
  auto b = buffer(2u << 20);
  for (int i = 0; i < 13; ++i) ASSERT_TRUE(eps[1].recv(b));
  drain_idle(eps[1]);
  impl_of(a).set_recorder(&log);
  const auto big = pattern((1u << 20) + 12345, 0, 77);
  std::thread t([&] { EXPECT_TRUE(a.send(Rank{1, 0}, bytes(big), 5)); });
  auto got = eps[1].recv(b);
  t.join();
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->size, big.size());
  EXPECT_EQ(got->tag, 5u);
  EXPECT_TRUE(std::equal(big.begin(), big.end(), b.begin()));
  // c22, c23: pieces of cts / slices = 16 KiB, none larger than the CTS.
  EXPECT_EQ(a.stats().tx_pieces, (big.size() + (16u << 10) - 1) / (16u << 10));
  EXPECT_GT(a.stats().receiver_list_walks, 0u);  // c26
  // c24, c25: all 1 MiB went through one CTS-sized region of the pool, reused piece after piece.
  size_t lo = SIZE_MAX, hi = 0;
  for (const test::Access& e : log.events())
    if (e.type == test::Access::kStore && e.kind == hal::StoreKind::kPayload) {
      EXPECT_LE(e.len, 16u << 10);
      lo = std::min(lo, e.offset);
      hi = std::max(hi, e.offset + e.len);
    }
  EXPECT_LE(hi - lo, cfg.cts);
  EXPECT_GE(lo, L.segment_off(0) + L.pool_off());
}

TEST(Claims, c31_c32_c33_c34_c35_c39_SegmentsAndAckSegmentsAreCreatedOnFirstUse) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.ack_batch = 1;
  auto job = make_job(shape, cfg);
  test::EventLog rx_log, tx_log;
  auto eps = make_endpoints(job, shape, cfg);
  const Layout L = layout_of(shape, cfg);
  Spy node1(job, 1, 0), node0(job, 0, 1);
  // Nothing exists before the first message: no data segment on node 1, no ack segment on node 0.
  EXPECT_EQ(node1.word(L.segment_off(0) + wire::seg::kMagic), 0u);
  EXPECT_EQ(eps[0].stats().segments_created, 0u);
  EXPECT_EQ(eps[1].stats().ack_segments_created, 0u);
  struct stat st {};
  const std::string file1 = hal::LoopbackJob::default_dir() + "/pbx." + job.spec().name + ".node1";
  ASSERT_EQ(stat(file1.c_str(), &st), 0);
  const auto blocks_before = st.st_blocks;
  // c31, c34: the data segment is created when the first message is sent.
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(std::string("first"))));
  EXPECT_EQ(eps[0].stats().segments_created, 1u);
  EXPECT_EQ(node1.word(L.segment_off(0) + wire::seg::kMagic), wire::kSegmentMagic);
  ASSERT_EQ(stat(file1.c_str(), &st), 0);
  EXPECT_GT(st.st_blocks, blocks_before);  // memory spent only now
  EXPECT_EQ(node0.word(L.ack_off(0, 0)), 0u);
  // c35: the ack segment on the sender's node is created when the receiver first acknowledges;
  // c32, c33: the receiver writes it, the sender reads it in its own memory.
  impl_of(eps[1]).set_recorder(&rx_log);
  impl_of(eps[0]).set_recorder(&tx_log);
  auto b = buffer(64);
  ASSERT_TRUE(eps[1].recv(b));
  EXPECT_EQ(eps[1].stats().ack_segments_created, 1u);
  EXPECT_EQ(wire::ack_count(node0.word(L.ack_off(0, 0) + wire::ack::kReleased)), 1u);
  EXPECT_GT(rx_log.count(test::Access::kStore), 0u);  // a remote write by the receiver...
  EXPECT_EQ(tx_log.count(test::Access::kRead), 0u);   // ...read locally by the sender
  EXPECT_EQ(rx_log.count(test::Access::kRead), 0u);
  // c39: traffic the other way creates the pair's other ack segment, on node 1.
  ASSERT_TRUE(eps[1].send(Rank{0, 0}, bytes(std::string("back"))));
  ASSERT_TRUE(eps[0].recv(b));
  EXPECT_EQ(eps[0].stats().ack_segments_created, 1u);
  EXPECT_EQ(wire::ack_count(node1.word(L.ack_off(0, 0) + wire::ack::kReleased)), 1u);
}

TEST(Claims, c36_c37_c38_AckSegmentSectionsPerSenderBlocksPerReceiver) {
  const JobShape shape{2, 2};
  Config cfg;
  cfg.ack_batch = 1;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  const Layout L = layout_of(shape, cfg);
  // Sender (0, s) sends s + 1 messages to each receiver (1, r).
  for (uint16_t s = 0; s < 2; ++s)
    for (uint16_t r = 0; r < 2; ++r)
      for (int i = 0; i <= s; ++i) ASSERT_TRUE(eps[s].send(Rank{1, r}, bytes(pattern(8, s, i))));
  auto b = buffer(64);
  for (uint16_t r = 0; r < 2; ++r)
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(eps[2 + r].recv(b));
  // Node 0's ack segment from node 1: section s (a process of node 0), block r (a process of
  // node 1), written by receiver r (c38: the processes of node 1 share it).
  Spy node0(job, 0, 1);
  for (uint16_t s = 0; s < 2; ++s)
    for (uint16_t r = 0; r < 2; ++r)
      EXPECT_EQ(wire::ack_count(node0.word(L.ack_off(s, r) + wire::ack::kReleased)), s + 1u) << "section " << s << " block " << r;
}

TEST(Claims, c40_EachPairIsASimplexChannelAReplyTravelsItsOwn) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.postbox_slots = 8;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(eps[0].try_send(Rank{1, 0}, bytes(pattern(8, 0, i))));
  ASSERT_FALSE(eps[0].try_send(Rank{1, 0}, bytes(pattern(8, 0, 8))));  // A -> B is full
  ASSERT_TRUE(eps[1].try_send(Rank{0, 0}, bytes(std::string("reply"))));  // B -> A is not
  auto b = buffer(64);
  auto got = eps[0].recv(b);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->source, (Rank{1, 0}));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()), got->size), "reply");
}

TEST(Claims, c41_OneProcessSendsToProcessesOnSeveralNodesAtOnce) {
  const JobShape shape{3, 1};
  Config cfg;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(pattern(100 + i, 1, i))));
    ASSERT_TRUE(eps[0].send(Rank{2, 0}, bytes(pattern(10 + i, 2, i))));
  }
  EXPECT_EQ(eps[0].stats().segments_created, 2u);  // one on each node
  auto b = buffer(4096);
  for (uint16_t n = 1; n <= 2; ++n)
    for (int i = 0; i < 20; ++i) {
      auto got = eps[n].recv(b);
      ASSERT_TRUE(got);
      const auto want = pattern(n == 1 ? 100 + i : 10 + i, n, i);
      ASSERT_EQ(got->size, want.size());
      EXPECT_TRUE(std::equal(want.begin(), want.end(), b.begin()));
    }
}

}  // namespace
}  // namespace pbx
