// The window layout (c1, c6, c14, c36, c37): computed from the shape and config alone.
#include <set>

#include <gtest/gtest.h>

#include "layout.h"

namespace pbx::detail {
namespace {

TEST(Layout, c36_c37_AckSegmentHasOneSectionPerSenderOfOneBlockPerReceiver) {
  const JobShape shape{3, 4};
  auto L = Layout::compute(shape, Config{}, 0);
  ASSERT_TRUE(L);
  EXPECT_EQ(L->ack_segment_size(), 4u * 4u * 64u);  // m = 4 sections x n = 4 blocks
  std::set<size_t> seen;
  for (uint16_t s = 0; s < 4; ++s)
    for (uint16_t r = 0; r < 4; ++r) {
      const size_t off = L->ack_off(s, r);
      EXPECT_EQ(off % 64, 0u);
      EXPECT_GE(off, L->ack_segment_off());
      EXPECT_LT(off, L->ack_segment_off() + L->ack_segment_size());
      EXPECT_TRUE(seen.insert(off).second) << "blocks overlap";
    }
  // Sections are contiguous: section s holds the blocks of every receiver.
  EXPECT_EQ(L->ack_off(1, 0) - L->ack_off(0, 0), 4u * 64u);
}

TEST(Layout, c1_c6_c14_OneSegmentPerSenderWithOnePostboxPerReceiverAndAPool) {
  Config cfg;
  cfg.postbox_slots = 64;
  cfg.pool_size = 1u << 20;
  cfg.cts = 256u << 10;
  const JobShape shape{2, 3};
  auto L = Layout::compute(shape, cfg, 0);
  ASSERT_TRUE(L);
  for (uint16_t s = 0; s < 3; ++s) {
    const size_t seg = L->segment_off(s);
    EXPECT_EQ(seg % 4096, 0u);
    EXPECT_GE(seg, L->ack_segment_off() + L->ack_segment_size());  // after presence + acks
    // Postboxes of the 3 receivers, then the pool, all inside this sender's segment.
    // Each postbox: a header line, its slots, then its payload ring.
    for (uint16_t r = 0; r < 3; ++r) {
      EXPECT_EQ(L->slots_off(r), L->postbox_off(r) + 64);
      EXPECT_EQ(L->ring_off(r), L->slots_off(r) + 64u * 64u);
      EXPECT_EQ(L->ring_off(r) % 64, 0u);
      EXPECT_LE(L->ring_off(r) + L->ring_size(), L->pool_off());
    }
    EXPECT_EQ(L->postbox_off(1) - L->postbox_off(0), 65u * 64u + cfg.ring_size);
    EXPECT_EQ(L->pool_off() % 4096, 0u);
    EXPECT_EQ(L->segment_size(), L->pool_off() + cfg.pool_size);
    if (s > 0) {
      EXPECT_EQ(L->segment_off(s) - L->segment_off(s - 1), L->segment_size());
    }
  }
  EXPECT_EQ(L->region_size(), L->segment_off(2) + L->segment_size());
  EXPECT_EQ(L->pool_blocks(), (1u << 20) / cfg.block_size);
}

TEST(Layout, FingerprintChangesWithAnythingPeersMustAgreeOn) {
  const JobShape shape{2, 2};
  Config a;
  Config b = a;
  b.pool_size *= 2;
  Config c = a;
  c.ack_batch = 8;  // local tuning: peers need not agree
  EXPECT_NE(Layout::compute(shape, a, 0)->fingerprint(), Layout::compute(shape, b, 0)->fingerprint());
  EXPECT_NE(Layout::compute(shape, a, 0)->fingerprint(), Layout::compute(JobShape{2, 3}, a, 0)->fingerprint());
  EXPECT_EQ(Layout::compute(shape, a, 0)->fingerprint(), Layout::compute(shape, c, 0)->fingerprint());
}

TEST(Layout, ATooSmallWindowIsAnErrorThatSaysWhatToChange) {
  const JobShape shape{2, 8};
  auto L = Layout::compute(shape, Config{}, 16u << 20);
  ASSERT_FALSE(L);
  EXPECT_EQ(L.error().code(), Errc::kNoMemory);
  EXPECT_NE(L.error().message().find("--window-size"), std::string::npos);
  EXPECT_NE(L.error().message().find("pool_size"), std::string::npos);
  auto need = window_size_needed(shape, Config{});
  ASSERT_TRUE(need);
  EXPECT_EQ(*need % (2u << 20), 0u);
  EXPECT_TRUE(Layout::compute(shape, Config{}, *need));
}

}  // namespace
}  // namespace pbx::detail
