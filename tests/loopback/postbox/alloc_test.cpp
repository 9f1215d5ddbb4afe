// No heap allocation on the data path: every operator new in this test binary is counted,
// and sending, receiving, borrowing, acknowledging and reclaiming, in every size class, must
// not add to the count once the endpoints exist.
#include <atomic>
#include <cstdlib>
#include <new>
#include <thread>

#include <gtest/gtest.h>

#include "support/loopback_job.h"

namespace {
std::atomic<uint64_t> g_allocations{0};
}

void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace pbx {
namespace {

using test::bytes;
using test::pattern;

TEST(DataPath, AllocatesNothing) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.cts = 64u << 10;
  cfg.postbox_slots = 32;
  cfg.ack_batch = 4;
  auto job = test::make_job(shape, cfg);
  auto eps = test::make_endpoints(job, shape, cfg);
  const size_t sizes[] = {0, 8, 49, 200, 4096, 65536, 300000};
  std::vector<std::vector<std::byte>> msgs;
  for (size_t s : sizes) msgs.push_back(pattern(s, 0, s));
  std::vector<std::byte> b(1u << 20);
  std::atomic<int> phase{0};
  uint64_t before = 0, after = 0;
  bool ok = true;
  std::thread sender([&] {
    while (phase.load() == 0) {
    }
    for (int round = 0; round < 20; ++round)
      for (const auto& m : msgs)
        if (!eps[0].send(Rank{1, 0}, bytes(m))) ok = false;
  });
  // Warm-up (creates the segments and ack segments: first use may allocate nothing either,
  // but that is not what this test is about).
  ASSERT_TRUE(eps[1].send(Rank{0, 0}, bytes(msgs[1])));
  ASSERT_TRUE(eps[0].recv(b));
  before = g_allocations.load();
  phase = 1;
  for (int round = 0; round < 20; ++round)
    for (size_t i = 0; i < std::size(sizes); ++i) {
      if (round % 2 == 0 || sizes[i] > cfg.cts) {  // views of everything up to the CTS: zero-copy
        auto g = eps[1].recv(b);
        if (!g || g->size != sizes[i]) ok = false;
      } else {
        auto v = eps[1].recv_view();
        if (!v || v->size() != sizes[i]) ok = false;
      }
    }
  sender.join();
  for (int i = 0; i < 300; ++i) eps[1].progress();
  after = g_allocations.load();
  EXPECT_TRUE(ok);
  EXPECT_EQ(after - before, 0u) << "the data path allocated";
  EXPECT_GT(eps[0].stats().tx_pieces, 0u);
  EXPECT_GT(eps[0].stats().slots_reclaimed, 0u);
}

}  // namespace
}  // namespace pbx
