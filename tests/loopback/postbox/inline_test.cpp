// Inline messages over several lines: up to inline_max bytes travel in the indicator line and
// the lines right after it, every word checking itself, so the receiver never reads a line
// that has not wholly landed. What lands is inspected (and forged) through second views of
// the node's file, as a peer would see it.
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

Config multi_line() {
  Config cfg;
  cfg.inline_max = static_cast<uint32_t>(wire::kInlineLimit);
  return cfg;
}

TEST(Inline, MessagesUpToInlineMaxTakeTheIndicatorLineAndTheLinesAfterIt) {
  const JobShape shape{2, 1};
  const Config cfg = multi_line();
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  const Layout L = *Layout::compute(shape, cfg, 0);
  auto spy_dev = std::move(*hal::LoopbackDevice::open(job.spec().name, hal::NodeIdx(1)));
  const hal::InboundWindow spy = *spy_dev->local_mw(hal::NodeIdx(0));
  const size_t slots = L.segment_off(0) + L.slots_off(0);
  const size_t sizes[] = {0, 1, 49, 50, 105, 106, 300, wire::kInlineLimit};
  uint64_t seq = 0;
  std::vector<std::byte> b(1024);
  for (size_t n : sizes) {
    const auto msg = pattern(n, 0, n);
    ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(msg), static_cast<uint32_t>(n)));
    const wire::SlotHeader h = wire::decode_header(spy.load64(slots + 64 * seq));
    EXPECT_EQ(h.kind, wire::Kind::kInline) << n;
    EXPECT_EQ(h.inline_len, n);
    // Every word of every line carries its own slot's check byte.
    for (size_t k = 0; k < wire::inline_lines(n); ++k)
      for (size_t i = k == 0 ? 1 : 0; i < 8; ++i)
        EXPECT_EQ(wire::check_of(spy.load64(slots + 64 * (seq + k) + 8 * i)), wire::check_byte(seq + k, L.slots_log2()))
            << n << " line " << k << " word " << i;
    seq += wire::inline_lines(n);
    EXPECT_EQ(impl_of(eps[0]).unacknowledged(Rank{1, 0}), seq) << "each line takes a slot";
    auto g = eps[1].recv(b);
    ASSERT_TRUE(g) << g.error().message();
    EXPECT_EQ(g->size, n);
    EXPECT_EQ(g->tag, n);
    EXPECT_TRUE(std::equal(msg.begin(), msg.end(), b.begin())) << n;
  }
  EXPECT_EQ(eps[0].stats().tx_inline, std::size(sizes));
  EXPECT_EQ(eps[0].stats().tx_ring + eps[0].stats().tx_pool, 0u);
  // Views of them are copies inside the view, which outlive the slots (given back at once).
  for (size_t n : sizes) ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(pattern(n, 1, n)), 7));
  std::vector<MessageView> views;
  for (size_t n : sizes) {
    auto v = eps[1].recv_view();
    ASSERT_TRUE(v) << v.error().message();
    const auto want = pattern(n, 1, n);
    EXPECT_EQ(v->size(), n);
    EXPECT_TRUE(std::equal(want.begin(), want.end(), v->data().begin())) << n;
    views.push_back(std::move(*v));  // moved: the bytes move with the view
  }
  for (size_t i = 0; i < views.size(); ++i) {
    const auto want = pattern(sizes[i], 1, sizes[i]);
    EXPECT_TRUE(std::equal(want.begin(), want.end(), views[i].data().begin())) << sizes[i];
  }
}

// A message whose continuation line has not landed yet (here: forged by a second writer) is
// not a message yet: it is delivered once the line is whole, and only then.
TEST(Inline, AContinuationLineThatHasNotLandedHoldsTheMessageBack) {
  const JobShape shape{2, 1};
  const Config cfg = multi_line();
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  const Layout L = *Layout::compute(shape, cfg, 0);
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(std::string("first"))));  // creates the segment
  std::vector<std::byte> b(1024);
  ASSERT_TRUE(eps[1].recv(b));
  // Sequence 1: a 100-byte message (two lines), written the way the sender would, but the
  // second line left out for now.
  auto dev = std::move(*hal::LoopbackDevice::open(job.spec().name, hal::NodeIdx(0)));
  hal::OutboundWindow win = *dev->peer_mw(hal::NodeIdx(1));
  const size_t slots = L.segment_off(0) + L.slots_off(0);
  const auto msg = pattern(100, 0, 3);
  alignas(64) uint64_t w0[8], w1[8];
  const uint8_t c0 = wire::check_byte(1, L.slots_log2()), c1 = wire::check_byte(2, L.slots_log2());
  w0[0] = wire::encode_header({wire::Kind::kInline, 0, 100, 42}, c0);
  wire::pack_inline_line(msg.data(), 100, 0, w0, c0);
  wire::pack_inline_line(msg.data(), 100, 1, w1, c1);
  win.store_line(slots + 64 * 1, w0, hal::StoreKind::kSelfValidating);
  for (int i = 0; i < 3; ++i) {
    auto g = eps[1].try_recv(b);
    ASSERT_FALSE(g) << "delivered with a line missing";
    EXPECT_EQ(g.error().code(), Errc::kWouldBlock);
    auto v = eps[1].try_recv_view();
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code(), Errc::kWouldBlock);
  }
  // Half of the line lands (words 0..3, a torn line): still not.
  for (int i = 0; i < 4; ++i) win.store64(slots + 64 * 2 + 8 * i, w1[i], hal::StoreKind::kSelfValidating);
  ASSERT_FALSE(eps[1].try_recv(b));
  for (int i = 4; i < 8; ++i) win.store64(slots + 64 * 2 + 8 * i, w1[i], hal::StoreKind::kSelfValidating);
  auto g = eps[1].try_recv(b);
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_EQ(g->tag, 42u);
  ASSERT_EQ(g->size, 100u);
  EXPECT_TRUE(std::equal(msg.begin(), msg.end(), b.begin()));
  EXPECT_EQ(eps[1].stats().bad_indicators, 0u);
}

}  // namespace
}  // namespace pbx
