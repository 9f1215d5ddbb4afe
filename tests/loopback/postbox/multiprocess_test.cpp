// Real processes on several simulated nodes, every process sending to every process (itself
// included) at once, all size classes, non-blocking throughout: each message arrives exactly
// once, in order per sender->receiver pair, with its contents intact.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <random>

#include <gtest/gtest.h>

#include "support/loopback_job.h"

namespace pbx {
namespace {

using test::pattern;

struct Plan {
  uint32_t per_pair = 150;
  size_t size_of(uint32_t src, uint32_t dst, uint32_t i) const {
    std::mt19937 r(src * 7919u + dst * 104729u + i);
    const uint32_t k = r() % 100;
    if (k < 60) return r() % 50;                   // inline
    if (k < 95) return 50 + r() % 16000;           // pool
    return (64u << 10) + 1 + r() % (200u << 10);   // pieces (cts = 64 KiB)
  }
  uint32_t tag_of(uint32_t src, uint32_t i) const { return (src << 20) | i; }
};

// One process of the job: returns 0 when everything it expected arrived correctly.
int run_rank(const hal::LoopbackJob& job, const JobShape& shape, uint32_t me, const Config& cfg, const Plan& plan) {
  auto ep = test::open_endpoint(job, shape, shape.rank_of(me), cfg);
  if (!ep) {
    std::fprintf(stderr, "rank %u: %s\n", me, ep.error().message().c_str());
    return 2;
  }
  const uint32_t n = shape.size();
  // What to send, in a random interleaving of destinations (in order per destination).
  std::vector<uint32_t> order;
  for (uint32_t d = 0; d < n; ++d)
    for (uint32_t i = 0; i < plan.per_pair; ++i) order.push_back(d);
  std::shuffle(order.begin(), order.end(), std::mt19937(me));
  std::vector<uint32_t> next_i(n, 0), next_expected(n, 0);
  struct Slot {
    bool busy = false;
    SendHandle h;
    std::vector<std::byte> data;
  };
  std::vector<Slot> slots(cfg.max_pending_sends);
  size_t sent = 0;
  uint64_t received = 0;
  const uint64_t want_received = uint64_t{n} * plan.per_pair;
  std::vector<std::byte> buf(512u << 10);
  uint64_t idle = 0;
  while (sent < order.size() || received < want_received ||
         std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return s.busy; })) {
    bool did = false;
    for (Slot& s : slots) {
      if (s.busy) {
        auto t = ep->test(s.h);
        if (!t) {
          std::fprintf(stderr, "rank %u: send failed: %s\n", me, t.error().message().c_str());
          return 3;
        }
        if (*t) {
          s.busy = false;
          did = true;
        }
      }
      if (!s.busy && sent < order.size()) {
        const uint32_t d = order[sent];
        const uint32_t i = next_i[d];
        s.data = pattern(plan.size_of(me, d, i), me, i);
        auto h = ep->isend(shape.rank_of(d), s.data, plan.tag_of(me, i));
        if (!h) {
          std::fprintf(stderr, "rank %u: isend: %s\n", me, h.error().message().c_str());
          return 4;
        }
        s.h = *h;
        s.busy = true;
        ++next_i[d];
        ++sent;
        did = true;
      }
    }
    auto g = ep->try_recv(buf);
    if (g) {
      const uint32_t src = shape.flat(g->source);
      const uint32_t i = next_expected[src]++;
      const auto want = pattern(plan.size_of(src, me, i), src, i);
      if (g->tag != plan.tag_of(src, i) || g->size != want.size() ||
          !std::equal(want.begin(), want.end(), buf.begin())) {
        std::fprintf(stderr, "rank %u: message %u from %u is wrong (tag %x, size %zu, want %zu)\n", me, i, src,
                     g->tag, g->size, want.size());
        return 5;
      }
      ++received;
      did = true;
    } else if (g.error().code() != Errc::kWouldBlock) {
      std::fprintf(stderr, "rank %u: recv: %s\n", me, g.error().message().c_str());
      return 6;
    }
    idle = did ? 0 : idle + 1;
    if (idle > 200'000'000) {
      std::fprintf(stderr, "rank %u: no progress (sent %zu/%zu, received %llu/%llu)\n", me, sent, order.size(),
                   static_cast<unsigned long long>(received), static_cast<unsigned long long>(want_received));
      return 7;
    }
  }
  for (uint32_t s = 0; s < n; ++s)
    if (next_expected[s] != plan.per_pair) return 8;
  if (auto c = ep->close(); !c) {
    std::fprintf(stderr, "rank %u: close: %s\n", me, c.error().message().c_str());
    return 9;
  }
  return 0;
}

TEST(MultiProcess, EveryoneToEveryoneExactlyOnceInOrderIntact) {
  const JobShape shape{2, 2};
  Config cfg;
  cfg.cts = 64u << 10;
  cfg.pool_size = 1u << 20;
  cfg.postbox_slots = 64;
  auto job = test::make_job(shape, cfg);
  const Plan plan;
  auto status = test::run_processes(shape.size(), [&](uint32_t r) { return run_rank(job, shape, r, cfg, plan); });
  for (uint32_t r = 0; r < shape.size(); ++r) EXPECT_EQ(status[r], 0) << "rank " << r;
}

TEST(MultiProcess, ThreeNodesWithTinyPoolsStillDeliverEverything) {
  const JobShape shape{3, 1};
  Config cfg;
  cfg.cts = 16u << 10;
  cfg.pool_size = 64u << 10;  // constant memory pressure: reclaim through the receiver list
  cfg.postbox_slots = 16;
  cfg.block_size = 256;
  auto job = test::make_job(shape, cfg);
  Plan plan;
  plan.per_pair = 100;
  auto status = test::run_processes(shape.size(), [&](uint32_t r) { return run_rank(job, shape, r, cfg, plan); });
  for (uint32_t r = 0; r < shape.size(); ++r) EXPECT_EQ(status[r], 0) << "rank " << r;
}

}  // namespace
}  // namespace pbx
