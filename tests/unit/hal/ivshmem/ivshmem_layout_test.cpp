// The ivshmem control-area layout: for every node count, the regions are disjoint, in order,
// line-aligned, inside the control area, and the windows tile the rest without overlap.
#include "pbx/hal/detail/ivshmem_layout.h"

#include <gtest/gtest.h>

namespace pbx::hal::ivshmem_layout {
namespace {

TEST(IvshmemLayout, RegionsAreDisjointAlignedAndInsideTheControlArea) {
  for (uint16_t n = 1; n <= kMaxNodes; ++n) {
    const Layout l(n);
    EXPECT_EQ(l.node_off, sizeof(Header)) << n;
    EXPECT_EQ(l.node(n - 1) + sizeof(NodeState), l.spad_off) << n;
    EXPECT_EQ(l.spad(n - 1, n - 1, kSpadCount - 1) + 4, l.db_off) << n;
    EXPECT_LE(l.doorbell(n - 1, n - 1) + kLine, l.ctl_size) << n;
    EXPECT_EQ(l.ctl_size % kWindowAlign, 0u) << n;
    for (uint16_t d = 0; d < n; ++d)
      for (uint16_t s = 0; s < n; ++s) {
        EXPECT_EQ(l.spad(d, s, 0) % kLine, 0u);
        EXPECT_EQ(l.doorbell(d, s) % kLine, 0u);
      }
  }
}

TEST(IvshmemLayout, WindowsTileTheMemoryAfterTheControlArea) {
  const Layout l(3);
  const size_t w = 64 << 10;
  EXPECT_EQ(l.window(0, 0, w), l.ctl_size);
  EXPECT_EQ(l.window(0, 1, w), l.ctl_size + w);
  EXPECT_EQ(l.window(1, 0, w), l.ctl_size + 3 * w);
  EXPECT_EQ(l.window(2, 2, w) + w, l.total(w));
}

TEST(IvshmemLayout, MaxWindowIsTheLargestAlignedSizeThatFits) {
  const Layout l(2);
  EXPECT_EQ(l.max_window(l.ctl_size), 0u);
  EXPECT_EQ(l.max_window(l.ctl_size + 4 * kWindowAlign - 1), 0u);
  EXPECT_EQ(l.max_window(l.ctl_size + 4 * kWindowAlign), kWindowAlign);
  const size_t shm = 4u << 20;
  const size_t w = l.max_window(shm);
  EXPECT_EQ(w % kWindowAlign, 0u);
  EXPECT_LE(l.total(w), shm);
  EXPECT_GT(l.total(w + kWindowAlign), shm);
}

}  // namespace
}  // namespace pbx::hal::ivshmem_layout
