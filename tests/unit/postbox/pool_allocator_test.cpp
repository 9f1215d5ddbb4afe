// The pool allocator (c2, c8): contiguous runs, next-fit, out-of-order frees, exhaustion.
#include <gtest/gtest.h>

#include "pool_allocator.h"

namespace pbx::detail {
namespace {

TEST(PoolAllocator, AllocatesContiguousRunsAndReportsExhaustion) {
  PoolAllocator p(100);
  auto a = p.alloc(60);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, 0u);
  auto b = p.alloc(40);
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, 60u);
  EXPECT_EQ(p.free_blocks(), 0u);
  EXPECT_FALSE(p.alloc(1));  // c8: insufficient unallocated memory
  p.free(*a, 60);
  EXPECT_EQ(p.free_blocks(), 60u);
  for (uint32_t i = 0; i < 60; ++i) EXPECT_FALSE(p.is_used(i));
  for (uint32_t i = 60; i < 100; ++i) EXPECT_TRUE(p.is_used(i));
}

TEST(PoolAllocator, NextFitWalksThePoolLikeARingAndWraps) {
  PoolAllocator p(10);
  EXPECT_EQ(*p.alloc(3), 0u);
  EXPECT_EQ(*p.alloc(3), 3u);
  p.free(0, 3);
  EXPECT_EQ(*p.alloc(3), 6u);  // continues after the last allocation
  EXPECT_EQ(*p.alloc(3), 0u);  // wraps to the freed run
  EXPECT_FALSE(p.alloc(2));    // 1 block left (9)
  EXPECT_EQ(*p.alloc(1), 9u);
}

TEST(PoolAllocator, AnEmptyPoolStartsAgainAtTheFirstBlock) {
  PoolAllocator p(10);
  EXPECT_EQ(*p.alloc(3), 0u);
  EXPECT_EQ(*p.alloc(2), 3u);
  p.free(0, 3);
  EXPECT_EQ(*p.alloc(1), 5u);  // not empty (3..4 held): next-fit goes on
  p.free(3, 2);
  p.free(5, 1);                // now empty
  EXPECT_EQ(*p.alloc(2), 0u);  // back to the first block, not on from block 6
  EXPECT_EQ(*p.alloc(2), 2u);
}

TEST(PoolAllocator, FragmentationNeedsAContiguousRun) {
  PoolAllocator p(130);  // spans three 64-bit words
  for (uint32_t i = 0; i < 130; ++i) ASSERT_EQ(*p.alloc(1), i);
  for (uint32_t i = 0; i < 130; i += 2) p.free(i, 1);  // every other block free
  EXPECT_EQ(p.free_blocks(), 65u);
  EXPECT_FALSE(p.alloc(2));
  p.free(63, 1);  // 62, 63, 64 free: a run of 3 across a word boundary
  auto r = p.alloc(3);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 62u);
}

TEST(PoolAllocator, RandomAllocFreeKeepsCountsConsistent) {
  PoolAllocator p(1000);
  std::vector<std::pair<uint32_t, uint32_t>> held;
  uint64_t x = 12345;
  uint32_t used = 0;
  for (int step = 0; step < 20000; ++step) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    if ((x & 1) && !held.empty()) {
      const size_t i = (x >> 8) % held.size();
      p.free(held[i].first, held[i].second);
      used -= held[i].second;
      held.erase(held.begin() + static_cast<long>(i));
    } else {
      const auto n = static_cast<uint32_t>(1 + (x >> 16) % 40);
      if (auto b = p.alloc(n)) {
        for (uint32_t k = 0; k < n; ++k) ASSERT_TRUE(p.is_used(*b + k));
        held.emplace_back(*b, n);
        used += n;
      }
    }
    ASSERT_EQ(p.free_blocks(), 1000 - used);
  }
}

}  // namespace
}  // namespace pbx::detail
