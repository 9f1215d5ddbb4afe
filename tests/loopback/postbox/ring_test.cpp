// The payload ring of each postbox: messages above the inline size and up to ring_max go there,
// each right after the one before, so that the receiver reads on where it read last. What lands
// in node memory is inspected through a second view of the node's file, as a peer would see it.
#include <gtest/gtest.h>

#include "endpoint_impl.h"
#include "support/loopback_job.h"

namespace pbx {
namespace {

using detail::impl_of;
using detail::Layout;
using test::bytes;
using test::make_endpoints;
using test::make_job;
using test::pattern;

// Node 1's memory written by node 0, and where (0, 0)'s postbox for (1, 0) lies in it.
struct RingSpy {
  std::unique_ptr<hal::LoopbackDevice> dev;
  hal::InboundWindow win;
  size_t slots = 0, ring = 0;
  RingSpy(const hal::LoopbackJob& job, const Layout& L) {
    dev = std::move(*hal::LoopbackDevice::open(job.spec().name, hal::NodeIdx(1)));
    win = *dev->local_mw(hal::NodeIdx(0));
    slots = L.segment_off(0) + L.slots_off(0);
    ring = L.segment_off(0) + L.ring_off(0);
  }
  // The indicator of sequence number `seq` (first lap).
  wire::SlotHeader header(uint64_t seq) const { return wire::decode_header(win.load64(slots + 64 * seq)); }
  uint64_t ring_offset(uint64_t seq) const { return (win.load64(slots + 64 * seq + 8) & wire::kLow56) << 6; }
  uint64_t length(uint64_t seq) const { return win.load64(slots + 64 * seq + 16) & wire::kLow56; }
  std::vector<std::byte> ring_bytes(uint64_t off, size_t n) const {
    std::vector<std::byte> v(n);
    win.read(ring + off, v.data(), n);
    return v;
  }
};

// Receives until `ep` would block once, so that it writes its idle acknowledgements.
void drain_idle(Endpoint& ep) {
  std::vector<std::byte> b(64);
  for (;;) {
    auto r = ep.try_recv(b);
    if (!r && r.error().code() == Errc::kWouldBlock) return;
  }
}

TEST(Ring, MessagesUpToRingMaxTravelInThePayloadRingEachRightAfterThePrevious) {
  const JobShape shape{2, 1};
  Config cfg;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  const Layout L = *Layout::compute(shape, cfg, 0);
  const std::vector<std::vector<std::byte>> msgs{pattern(cfg.inline_max + 1, 0, 1), pattern(1000, 0, 2),
                                                 pattern(cfg.ring_max, 0, 3), pattern(cfg.ring_max + 1, 0, 4)};
  for (uint32_t i = 0; i < msgs.size(); ++i) ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(msgs[i]), 10 + i));
  EXPECT_EQ(eps[0].stats().tx_ring, 3u);
  EXPECT_EQ(eps[0].stats().tx_pool, 1u) << "above ring_max: the pool";
  RingSpy spy(job, L);
  uint64_t expect_off = 0;
  for (uint64_t seq = 0; seq < 3; ++seq) {
    const auto h = spy.header(seq);
    EXPECT_EQ(h.kind, wire::Kind::kRing) << seq;
    EXPECT_EQ(h.tag, 10 + seq);
    EXPECT_EQ(spy.ring_offset(seq), expect_off) << "each message starts where the one before ended (in lines)";
    EXPECT_EQ(spy.length(seq), msgs[seq].size());
    EXPECT_EQ(spy.ring_bytes(expect_off, msgs[seq].size()), msgs[seq]) << seq;
    expect_off += (msgs[seq].size() + 63) / 64 * 64;
  }
  EXPECT_EQ(spy.header(3).kind, wire::Kind::kPool);
  std::vector<std::byte> b(8192);
  for (uint32_t i = 0; i < msgs.size(); ++i) {
    auto g = eps[1].recv(b);
    ASSERT_TRUE(g) << g.error().message();
    EXPECT_EQ(g->tag, 10 + i);
    ASSERT_EQ(g->size, msgs[i].size());
    EXPECT_TRUE(std::equal(msgs[i].begin(), msgs[i].end(), b.begin())) << i;
  }
}

TEST(Ring, AMessageThatWouldCrossTheRingsEndStartsAtItsBeginning) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.ring_size = 4096;  // the smallest: 4 messages of 900 bytes (960 in lines) leave 256 bytes
  cfg.ring_max = 1024;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  const Layout L = *Layout::compute(shape, cfg, 0);
  std::vector<std::byte> b(4096);
  for (uint32_t i = 0; i < 4; ++i) ASSERT_TRUE(eps[0].try_send(Rank{1, 0}, bytes(pattern(900, 0, i)), i));
  for (uint32_t i = 0; i < 4; ++i) ASSERT_TRUE(eps[1].recv(b));
  drain_idle(eps[1]);  // the four are acknowledged: the whole ring is free again
  const auto fifth = pattern(900, 0, 4);
  ASSERT_TRUE(eps[0].try_send(Rank{1, 0}, bytes(fifth), 4));
  RingSpy spy(job, L);
  EXPECT_EQ(spy.ring_offset(3), 3u * 960);
  EXPECT_EQ(spy.ring_offset(4), 0u) << "900 bytes at 3840 would cross the end: the message starts at 0";
  EXPECT_EQ(spy.ring_bytes(0, fifth.size()), fifth);
  auto g = eps[1].recv(b);
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_EQ(g->tag, 4u);
  EXPECT_TRUE(std::equal(fifth.begin(), fifth.end(), b.begin()));
}

TEST(Ring, AFullRingHoldsTheSenderBackUntilTheReceiverAcknowledges) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.ring_size = 4096;
  cfg.ring_max = 1024;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  auto& A = impl_of(eps[0]);
  const uint32_t pool_free = A.pool_free_blocks(1);
  for (uint32_t i = 0; i < 4; ++i) ASSERT_TRUE(eps[0].try_send(Rank{1, 0}, bytes(pattern(1024, 0, i)), i));
  auto full = eps[0].try_send(Rank{1, 0}, bytes(pattern(1024, 0, 4)), 4);
  ASSERT_FALSE(full) << "four messages of 1 KiB fill a 4 KiB ring";
  EXPECT_EQ(full.error().code(), Errc::kWouldBlock);
  EXPECT_EQ(A.pool_free_blocks(1), pool_free) << "a full ring never spills into the pool";
  EXPECT_EQ(A.unacknowledged(Rank{1, 0}), 4u) << "the postbox itself has room";
  std::vector<std::byte> b(4096);
  for (uint32_t i = 0; i < 4; ++i) {
    auto g = eps[1].recv(b);
    ASSERT_TRUE(g);
    const auto want = pattern(1024, 0, i);
    EXPECT_TRUE(std::equal(want.begin(), want.end(), b.begin())) << "nothing was overwritten: " << i;
  }
  drain_idle(eps[1]);
  ASSERT_TRUE(eps[0].try_send(Rank{1, 0}, bytes(pattern(1024, 0, 4)), 4));
  auto g = eps[1].recv(b);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->tag, 4u);
}

TEST(Ring, AViewOfARingMessageIsZeroCopyAndItsSpaceComesBackWhenReleased) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.ring_size = 4096;
  cfg.ring_max = 1024;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  const Layout L = *Layout::compute(shape, cfg, 0);
  for (uint32_t i = 0; i < 4; ++i) ASSERT_TRUE(eps[0].try_send(Rank{1, 0}, bytes(pattern(1024, 0, i)), i));
  const std::byte* ring = impl_of(eps[1]).device().local_mw(hal::NodeIdx(0))->data() + L.segment_off(0) + L.ring_off(0);
  std::vector<MessageView> views;
  for (uint32_t i = 0; i < 4; ++i) {
    auto v = eps[1].recv_view();
    ASSERT_TRUE(v) << v.error().message();
    EXPECT_EQ(v->data().data(), ring + 1024 * i) << "borrowed in place, in the ring";
    const auto want = pattern(1024, 0, i);
    EXPECT_TRUE(std::equal(want.begin(), want.end(), v->data().begin()));
    views.push_back(std::move(*v));
  }
  drain_idle(eps[1]);
  auto r = eps[0].try_send(Rank{1, 0}, bytes(pattern(1024, 0, 4)), 4);
  ASSERT_FALSE(r) << "the ring's space is still borrowed";
  EXPECT_EQ(r.error().code(), Errc::kWouldBlock);
  views[1] = MessageView();  // released out of order: nothing comes back yet
  drain_idle(eps[1]);
  EXPECT_FALSE(eps[0].try_send(Rank{1, 0}, bytes(pattern(1024, 0, 4)), 4));
  views.clear();
  drain_idle(eps[1]);
  ASSERT_TRUE(eps[0].try_send(Rank{1, 0}, bytes(pattern(1024, 0, 4)), 4));
}

TEST(Ring, RingMessagesCarryTheirChecksumAndAScribbleFailsOnlyThatMessage) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.checksum = true;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  const Layout L = *Layout::compute(shape, cfg, 0);
  const auto a = pattern(2000, 0, 1), c = pattern(3000, 0, 2);
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(a), 1));
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(c), 2));
  EXPECT_EQ(eps[0].stats().tx_ring, 2u);
  auto dev = std::move(*hal::LoopbackDevice::open(job.spec().name, hal::NodeIdx(0)));
  auto win = *dev->peer_mw(hal::NodeIdx(1));
  win.store64(L.segment_off(0) + L.ring_off(0) + 1000, 0x0badc0de0badc0deull, hal::StoreKind::kPayload);
  std::vector<std::byte> b(4096);
  auto g = eps[1].recv(b);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code(), Errc::kDataCorrupt) << g.error().message();
  g = eps[1].recv(b);
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_EQ(g->tag, 2u);
  EXPECT_TRUE(std::equal(c.begin(), c.end(), b.begin()));
  EXPECT_EQ(eps[1].stats().bad_checksums, 1u);
}

TEST(Ring, RingMaxZeroSendsEverythingAboveTheInlineSizeThroughThePool) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.ring_max = 0;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(pattern(cfg.inline_max + 1, 0, 1))));
  EXPECT_EQ(eps[0].stats().tx_ring, 0u);
  EXPECT_EQ(eps[0].stats().tx_pool, 1u);
}

TEST(Ring, ABadRingConfigurationIsRefusedNamingTheField) {
  Config cfg;
  cfg.ring_size = 3000;
  auto r = cfg.validate();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("ring_size"), std::string::npos);
  cfg = Config{};
  cfg.ring_max = static_cast<uint32_t>(cfg.ring_size / 4 + 1);
  r = cfg.validate();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("ring_max"), std::string::npos);
}

}  // namespace
}  // namespace pbx
