// The ivshmem device through sysfs BAR mappings, no VFIO: proves the hw-emulated harness end to
// end (two VMs, one shared memory) and that what one VM writes into BAR2 the other reads.
// Two-sided: both nodes run it at the same time (common/peer_area.h).
#include <atomic>

#include <gtest/gtest.h>

#include "common/pattern.h"
#include "common/peer_area.h"
#include "common/test_device.h"

namespace pbx::hwtest {
namespace {

constexpr size_t kIvPosition = 8;  // BAR0 register: this device's peer id

class IvshmemSysfsTest : public DeviceTest {
 protected:
  IvshmemSysfsTest() : DeviceTest({DeviceKind::kIvshmem}) {}
};

uint32_t read32(const MmapRegion& m, size_t off) {
  return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(m.data() + off)).load(std::memory_order_relaxed);
}

TEST_F(IvshmemSysfsTest, BarsHaveTheIvshmemLayout) {
  auto bar0 = map_sysfs_bar(dev_, 0);
  ASSERT_TRUE(bar0) << bar0.error().message();
  EXPECT_EQ(bar0->size(), 256u);  // ivshmem-spec: 256 bytes of registers
  auto bar2 = map_sysfs_bar(dev_, 2);
  ASSERT_TRUE(bar2) << bar2.error().message();
  EXPECT_EQ(bar2->size() & (bar2->size() - 1), 0u) << "BAR2 size " << bar2->size() << " is not a power of two";
  EXPECT_GE(bar2->size(), PeerArea::kAreaSize);
  EXPECT_LE(read32(*bar0, kIvPosition), 65535u);
}

TEST_F(IvshmemSysfsTest, SharedMemoryCrossesBetweenTheTwoNodesBothWays) {
  auto bar0 = map_sysfs_bar(dev_, 0);
  ASSERT_TRUE(bar0) << bar0.error().message();
  auto bar2 = map_sysfs_bar(dev_, 2);
  ASSERT_TRUE(bar2) << bar2.error().message();
  ASSERT_GE(bar2->size(), PeerArea::kAreaSize);
  PeerArea area(bar2->span(), bar2->span(), read32(*bar0, kIvPosition));
  auto met = area.meet();
  ASSERT_TRUE(met) << met.error().message();

  fill_pattern(area.payload(area.self()), area.self());
  auto s = area.sync(1);  // both payloads written
  ASSERT_TRUE(s) << s.error().message();
  const PatternCheck c = check_pattern(area.payload(area.peer()), area.peer());
  EXPECT_EQ(c.wrong, 0u) << "node " << area.self() << " read " << c.wrong << " wrong words from node " << area.peer()
                         << "'s payload, the first at word " << c.first_wrong;
  auto theirs = area.exchange_verdicts(c.wrong == 0);
  ASSERT_TRUE(theirs) << theirs.error().message();
  EXPECT_TRUE(*theirs) << "node " << area.peer() << " read wrong data from node " << area.self() << "'s payload";

  auto left = area.leave();
  ASSERT_TRUE(left) << left.error().message();
  const auto* top = reinterpret_cast<const uint64_t*>(bar2->data() + bar2->size() - PeerArea::kAreaSize);
  for (size_t i = 0; i < PeerArea::kAreaSize / 8; ++i) ASSERT_EQ(top[i], 0u) << "word " << i << " of the test area";
}

}  // namespace
}  // namespace pbx::hwtest
