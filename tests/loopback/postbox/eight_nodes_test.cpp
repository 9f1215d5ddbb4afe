// A job of 8 simulated nodes (one process each, real processes): every process sends to every
// process, itself included, messages of every size class (inline, payload ring, pool, pieces
// above the CTS) while taking in everyone else's; each message is checked on arrival (source,
// tag, size, every byte, order per pair), and every close finds everything acknowledged.
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "support/all_to_all.h"
#include "support/loopback_job.h"

namespace pbx {
namespace {

TEST(EightNodes, EveryProcessSendsEverySizeClassToEveryProcessAndAllArriveIntact) {
  const JobShape shape{8, 1};
  const Config cfg = test::AllToAll::small_config();
  auto job = test::make_job(shape, cfg);
  const test::AllToAll plan = test::AllToAll::every_size_class(cfg, /*rounds=*/1);
  auto status = test::run_processes(shape.size(), [&](uint32_t r) {
    auto ep = test::open_endpoint(job, shape, shape.rank_of(r), cfg);
    if (!ep) {
      std::fprintf(stderr, "rank %u: %s\n", r, ep.error().message().c_str());
      return 2;
    }
    std::string why;
    if (!plan.run(*ep, &why)) {
      std::fprintf(stderr, "%s\n", why.c_str());
      return 3;
    }
    const Stats& s = ep->stats();
    if (s.rx_msgs != uint64_t{shape.size()} * plan.per_pair || s.tx_inline == 0 || s.tx_ring == 0 || s.tx_pool == 0 ||
        s.tx_pieces == 0 || s.segments_created != shape.nodes) {
      std::fprintf(stderr, "rank %u: counters: rx %llu, inline %llu, ring %llu, pool %llu, pieces %llu, segments %llu\n",
                   r, static_cast<unsigned long long>(s.rx_msgs), static_cast<unsigned long long>(s.tx_inline),
                   static_cast<unsigned long long>(s.tx_ring), static_cast<unsigned long long>(s.tx_pool),
                   static_cast<unsigned long long>(s.tx_pieces), static_cast<unsigned long long>(s.segments_created));
      return 4;
    }
    if (auto c = ep->close(); !c) {
      std::fprintf(stderr, "rank %u: %s\n", r, c.error().message().c_str());
      return 5;
    }
    return 0;
  });
  for (uint32_t r = 0; r < shape.size(); ++r) EXPECT_EQ(status[r], 0) << "rank " << r << " (2 open, 3 traffic, 4 counters, 5 close)";
}

}  // namespace
}  // namespace pbx
