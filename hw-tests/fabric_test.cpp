// libpostbox across every node of the test device at once, through the real device path (VFIO
// underneath the HAL): in the hw-emulated tier's fabric run, 3 or 4 VMs on one ivshmem device
// (node = IVPosition, PBX_HW_NODES nodes); on NTB hardware, both hosts of an Intel or AMD pair,
// or every host of a Switchtec switch's partitions (run it on all of them at once). Each node
// sends every size class (inline, payload ring, pool, pieces above the CTS) to every node, itself
// included, while taking in everyone else's; every message is checked on arrival (source, tag,
// size, every byte, order per pair), and every close finds everything acknowledged.
#include <cstdlib>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "common/test_device.h"
#include "pbx/hal/ivshmem.h"
#include "pbx/hal/ntb_device.h"
#include "pbx/postbox.hpp"
#include "support/all_to_all.h"

namespace pbx::hwtest {
namespace {

// The fabric's size on ivshmem (which cannot tell): $PBX_HW_NODES, else 2.
uint16_t ivshmem_nodes() {
  const char* s = std::getenv("PBX_HW_NODES");
  const unsigned long v = s != nullptr ? std::strtoul(s, nullptr, 10) : 0;
  return static_cast<uint16_t>(v >= 1 && v <= 64 ? v : 2);
}

class FabricTest : public DeviceTest {
 protected:
  FabricTest()
      : DeviceTest({DeviceKind::kIvshmem, DeviceKind::kIntelNtb, DeviceKind::kAmdNtb, DeviceKind::kSwitchtecNtb}) {}

  Result<std::unique_ptr<hal::Device>> open_device() {
    auto bdf = vfio::Bdf::parse(dev_.bdf);
    if (!bdf) return tl::unexpected(bdf.error());
    if (dev_.kind != DeviceKind::kIvshmem) return hal::open_ntb_device(*bdf);
    hal::IvshmemOptions o;
    o.node_count = ivshmem_nodes();
    auto d = hal::IvshmemDevice::open(*bdf, o);
    if (!d) return tl::unexpected(d.error());
    return std::unique_ptr<hal::Device>(std::move(*d));
  }
};

TEST_F(FabricTest, EveryNodeSendsEverySizeClassToEveryNodeAndAllArriveIntact) {
  auto dev = open_device();
  ASSERT_TRUE(dev) << dev.error().message();
  const hal::DeviceInfo info = (*dev)->info();
  std::printf("node %u of %u (%s %s)\n", info.self.v, info.node_count, info.backend.c_str(), info.name.c_str());
  Config cfg = test::AllToAll::small_config();
  cfg.timeout_ms = static_cast<uint32_t>(peer_timeout_ns() / 1'000'000);
  cfg.peer_timeout_ms = 10'000;  // (TCG guests on a shared host: heartbeats may be late)
  test::AllToAll plan = test::AllToAll::every_size_class(cfg, /*rounds=*/2);
  plan.nonce = run_nonce();
  plan.timeout_ns = peer_timeout_ns();
  const JobShape shape{info.node_count, 1};
  auto ep = Endpoint::create(std::move(*dev), shape, Rank{info.self.v, 0}, cfg);
  ASSERT_TRUE(ep) << ep.error().message() << " (are the other nodes running this test?)";
  std::string why;
  ASSERT_TRUE(plan.run(*ep, &why)) << why;
  const Stats& s = ep->stats();
  EXPECT_EQ(s.rx_msgs, uint64_t{shape.size()} * plan.per_pair);
  EXPECT_GT(s.tx_inline, 0u);
  EXPECT_GT(s.tx_ring, 0u);
  EXPECT_GT(s.tx_pool, 0u);
  EXPECT_GT(s.tx_pieces, 0u);
  EXPECT_EQ(s.segments_created, info.node_count) << "a segment on every node, made on first use";
  EXPECT_EQ(s.bad_indicators, 0u);
  EXPECT_EQ(s.bad_acks, 0u);
  auto c = ep->close();
  EXPECT_TRUE(c) << c.error().message();
  std::printf("node %u: %llu messages of every size class to and from %u nodes, all intact\n", info.self.v,
              static_cast<unsigned long long>(s.rx_msgs), info.node_count);
}

}  // namespace
}  // namespace pbx::hwtest
