// The ivshmem device through VFIO (driver/ivshmem): the shared memory crossing between the two
// VMs through the VFIO BAR2 mappings, doorbells interrupting the peer through MSI-X in both
// directions and on each vector, and read-modify-write atomicity across the VMs (which the
// ivshmem HAL's control area relies on). Two-sided: both nodes run it at the same time.
#include <atomic>
#include <cstdio>
#include <optional>

#include <gtest/gtest.h>

#include "common/pattern.h"
#include "common/peer_area.h"
#include "common/test_device.h"
#include "pbx/ivshmem/ivshmem.h"

namespace pbx::hwtest {
namespace {

class IvshmemVfioTest : public DeviceTest {
 protected:
  IvshmemVfioTest() : DeviceTest({DeviceKind::kIvshmem}) {}
  void SetUp() override {
    DeviceTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto bdf = vfio::Bdf::parse(dev_.bdf);
    ASSERT_TRUE(bdf) << bdf.error().message();
    auto d = ivshmem::Ivshmem::open(*bdf);
    ASSERT_TRUE(d) << d.error().message();
    ivs_.emplace(std::move(*d));
    ASSERT_GE(ivs_->shared_memory().size(), PeerArea::kAreaSize);
    area_.emplace(ivs_->shared_memory(), ivs_->shared_memory_data().mem, ivs_->peer_id());
    // Both devices are open (MSI-X armed) once both nodes are in the area.
    auto met = area_->meet();
    ASSERT_TRUE(met) << met.error().message();
  }
  void TearDown() override {
    if (area_ && !HasFatalFailure()) {
      auto left = area_->leave();
      EXPECT_TRUE(left) << left.error().message();
    }
  }
  // The node with the lower peer id leads ping-pongs.
  bool leader() const { return area_->self() < area_->peer(); }
  uint16_t peer() const { return static_cast<uint16_t>(area_->peer()); }

  std::optional<ivshmem::Ivshmem> ivs_;
  std::optional<PeerArea> area_;
};

TEST_F(IvshmemVfioTest, SharedMemoryCrossesBothWaysThroughVfioMappings) {
  const vfio::BarView& data = ivs_->shared_memory_data();
  std::printf("BAR2 data mapping: %s%s%s\n", vfio::to_string(data.mem_type), data.note.empty() ? "" : ": ",
              data.note.c_str());
  fill_pattern(area_->payload(area_->self()), area_->self());  // through the data (WC) mapping
  auto s = area_->sync(1);
  ASSERT_TRUE(s) << s.error().message();
  const PatternCheck c = check_pattern(area_->payload(area_->peer()), area_->peer());
  EXPECT_EQ(c.wrong, 0u) << "node " << area_->self() << " read " << c.wrong << " wrong words from node "
                         << area_->peer() << ", the first at word " << c.first_wrong;
  auto theirs = area_->exchange_verdicts(c.wrong == 0);
  ASSERT_TRUE(theirs) << theirs.error().message();
  EXPECT_TRUE(*theirs) << "node " << area_->peer() << " read wrong data from node " << area_->self();
}

TEST_F(IvshmemVfioTest, DoorbellsInterruptThePeerBothWays) {
  ASSERT_GE(ivs_->vector_count(), 2u) << "QEMU: -device ivshmem-doorbell,vectors=2";
  const int64_t timeout = static_cast<int64_t>(peer_timeout_ns());
  constexpr int kRounds = 50;
  int got = 0;
  for (int r = 0; r < kRounds; ++r) {
    if (leader()) ivs_->ring(peer(), 0);
    auto fired = ivs_->wait(0, timeout);
    ASSERT_TRUE(fired) << fired.error().message();
    ASSERT_TRUE(*fired) << "round " << r << ": node " << area_->peer() << "'s doorbell on vector 0 never arrived";
    ++got;
    if (!leader()) ivs_->ring(peer(), 0);
  }
  EXPECT_EQ(got, kRounds);
  // Vector 1 reaches vector 1 only.
  auto s = area_->sync(1);
  ASSERT_TRUE(s) << s.error().message();
  ivs_->ring(peer(), 1);
  auto fired = ivs_->wait(1, timeout);
  ASSERT_TRUE(fired) << fired.error().message();
  EXPECT_TRUE(*fired) << "node " << area_->peer() << "'s doorbell on vector 1 never arrived";
  s = area_->sync(2);  // both vector-1 rings have been received: nothing more is in flight
  ASSERT_TRUE(s) << s.error().message();
  auto spurious = ivs_->wait(0, 0);
  ASSERT_TRUE(spurious) << spurious.error().message();
  EXPECT_FALSE(*spurious) << "vector 0 fired, but only vector 1 was rung";
}

TEST_F(IvshmemVfioTest, ReadModifyWriteIsAtomicAcrossTheVms) {
  // One counter, in the leader's payload, incremented by both nodes at once through the uncached
  // BAR2 mapping. QEMU runs each VM's atomics as host atomics only with parallel TCG (MTTCG and
  // more than one possible vCPU: -smp 1,maxcpus=2); otherwise updates are lost.
  constexpr uint64_t kAdds = 300'000;
  const uint32_t owner = leader() ? area_->self() : area_->peer();
  std::atomic_ref<uint64_t> counter(*area_->payload_word(owner, 0));
  if (leader()) counter.store(0, std::memory_order_relaxed);
  auto s = area_->sync(1);
  ASSERT_TRUE(s) << s.error().message();
  for (uint64_t i = 0; i < kAdds; ++i) counter.fetch_add(1, std::memory_order_relaxed);
  s = area_->sync(2);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(counter.load(std::memory_order_relaxed), 2 * kAdds)
      << "increments were lost: atomics of the two VMs are not atomic with each other";
}

}  // namespace
}  // namespace pbx::hwtest
