// libpostbox jobs of 2, 3, 4 and 8 nodes over the Switchtec backend and a modelled switch: one
// endpoint per host (each in its own thread, as each would be a process on its own server),
// every endpoint sending to every endpoint messages of every size class at once, each checked
// on arrival (source, tag, size, every byte, order per pair).
#include <sched.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/hal/switchtec_ntb.h"
#include "pbx/postbox.hpp"
#include "support/all_to_all.h"
#include "support/ntb/switchtec_fabric.h"

namespace pbx {
namespace {

using ::testing::IsEmpty;

// Transactions wait on the real clock; between two polls of a partition lock, other threads run.
class YieldPacer final : public ntb::Pacer {
 public:
  void pause_ns(uint64_t /*ns*/) noexcept override { ::sched_yield(); }
};

class SwitchtecPostbox : public ::testing::TestWithParam<unsigned> {};

TEST_P(SwitchtecPostbox, EveryNodeSendsEverySizeClassToEveryNodeAndAllArriveIntact) {
  const unsigned n = GetParam();
  test::SwitchtecFabric f(test::SwitchtecFabric::mesh(n, 128));
  YieldPacer pacer;
  hal::SwitchtecNtbOptions o;
  o.pages = hal::PagePolicy::kSmall;
  o.pacer = &pacer;
  // Each host opens its NT endpoint (programming its own block), as each server would.
  std::vector<std::unique_ptr<hal::Device>> devs;
  for (unsigned p = 0; p < n; ++p) {
    auto d = hal::SwitchtecNtbDevice::attach(f.port(p), o);
    ASSERT_TRUE(d) << d.error().message();
    devs.push_back(std::move(*d));
  }
  const Config cfg = test::AllToAll::small_config();
  const test::AllToAll plan = test::AllToAll::every_size_class(cfg, /*rounds=*/2);
  std::vector<std::string> errors(n);
  std::vector<Stats> stats(n);
  // Closed endpoints are destroyed by this thread after every host finished: a device's
  // destructor unmaps its memory, which re-routes the other hosts' window BARs in the model
  // (mmap over their mappings), something no real switch does under a running host.
  std::vector<std::optional<Endpoint>> closed(n);
  std::vector<std::thread> hosts;
  for (unsigned p = 0; p < n; ++p)
    hosts.emplace_back([&, p] {
      const Rank self{static_cast<uint16_t>(p), 0};
      auto ep = Endpoint::create(std::move(devs[p]), JobShape{static_cast<uint16_t>(n), 1}, self, cfg);
      if (!ep) {
        errors[p] = "node " + std::to_string(p) + ": " + ep.error().message();
        return;
      }
      if (!plan.run(*ep, &errors[p])) return;
      stats[p] = ep->stats();
      if (auto c = ep->close(); !c) errors[p] = "node " + std::to_string(p) + ": close: " + c.error().message();
      closed[p].emplace(std::move(*ep));
    });
  for (auto& t : hosts) t.join();
  closed.clear();
  for (unsigned p = 0; p < n; ++p) {
    EXPECT_EQ(errors[p], "") << "node " << p;
    const Stats& s = stats[p];
    EXPECT_EQ(s.rx_msgs, uint64_t{n} * plan.per_pair) << "node " << p;
    EXPECT_GT(s.tx_inline, 0u);
    EXPECT_GT(s.tx_ring, 0u);
    EXPECT_GT(s.tx_pool, 0u);
    EXPECT_GT(s.tx_pieces, 0u);
    EXPECT_EQ(s.segments_created, n) << "one segment on every node, created on first use";
    EXPECT_EQ(s.bad_indicators, 0u);
    EXPECT_EQ(s.bad_acks, 0u);
  }
  EXPECT_THAT(f.model().violations(), IsEmpty());
  EXPECT_EQ(f.model().lock_conflicts(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Hosts, SwitchtecPostbox, ::testing::Values(2u, 3u, 4u, 8u),
                         [](const ::testing::TestParamInfo<unsigned>& p) { return std::to_string(p.param) + "hosts"; });

}  // namespace
}  // namespace pbx
