// The ivshmem device through sysfs BAR mappings, no VFIO: proves the hw-emulated harness end to
// end (two VMs, one shared memory) and that what one VM writes into BAR2 the other reads.
//
// Two-sided: both nodes run this binary at the same time. Each node owns one slot at the top of
// BAR2, chosen by its ivshmem peer id (IVPosition, BAR0 offset 8):
//   slot + 0   ready word: kReady | nonce, stored after the payload (single writer: this node)
//   slot + 8   verdict word: what this node found in the peer's payload (kGood/kBad | nonce)
//   slot + 64  payload: a pattern derived from (nonce, peer id)
// Each node writes its payload and ready word, waits for another slot to become ready, checks
// that payload, publishes its verdict, and waits for the peer's verdict on its own payload. No
// compare-and-swap: under TCG, atomics of two QEMU processes on one memory are not atomic.
#include <atomic>
#include <cstring>

#include <gtest/gtest.h>

#include "common/test_device.h"
#include "pbx/base/barrier.h"

namespace pbx::hwtest {
namespace {

constexpr size_t kSlotSize = 128u << 10;
constexpr uint32_t kSlots = 8;  // peer ids 0..7
constexpr size_t kAreaSize = kSlotSize * kSlots;
constexpr size_t kPayloadOff = 64;
constexpr size_t kPayloadWords = (kSlotSize - kPayloadOff) / 8;
constexpr uint64_t kReady = 0x5042582d52445900ull;  // "PBX-RDY"
constexpr uint64_t kGood = 0x5042582d474f4f00ull;   // "PBX-GOO"
constexpr uint64_t kBad = 0x5042582d42414400ull;    // "PBX-BAD"
constexpr size_t kIvPosition = 8;                   // BAR0 register: this device's peer id

uint64_t tag(uint64_t word, uint32_t nonce) { return (word & ~0xffull) ^ (uint64_t{nonce} << 8) ^ 0xa5; }
uint64_t pattern(uint32_t nonce, uint32_t id, size_t i) {
  return (uint64_t{nonce} << 32 | id) * 0x9e3779b97f4a7c15ull + i * 0xbf58476d1ce4e5b9ull;
}

class IvshmemSysfsTest : public DeviceTest {
 protected:
  IvshmemSysfsTest() : DeviceTest({DeviceKind::kIvshmem}) {}
};

std::atomic_ref<uint64_t> word(const MmapRegion& m, size_t off) {
  return std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(m.data() + off));
}
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
  EXPECT_GE(bar2->size(), 2 * kAreaSize);
  EXPECT_LE(read32(*bar0, kIvPosition), 65535u);
}

TEST_F(IvshmemSysfsTest, SharedMemoryCrossesBetweenTheTwoNodesBothWays) {
  auto bar0 = map_sysfs_bar(dev_, 0);
  ASSERT_TRUE(bar0) << bar0.error().message();
  auto bar2 = map_sysfs_bar(dev_, 2);
  ASSERT_TRUE(bar2) << bar2.error().message();
  ASSERT_GE(bar2->size(), kAreaSize);
  const uint32_t self = read32(*bar0, kIvPosition);
  ASSERT_LT(self, kSlots) << "this test gives peer ids 0.." << kSlots - 1
                          << " a slot each; restart pbx-ivshmem-server so that ids start at 0";
  const uint32_t nonce = run_nonce();
  const size_t area = bar2->size() - kAreaSize;
  auto slot = [&](uint32_t id) { return area + id * kSlotSize; };

  // Publish: payload, then flush, then the ready word that vouches for it.
  auto* mine = reinterpret_cast<uint64_t*>(bar2->data() + slot(self) + kPayloadOff);
  for (size_t i = 0; i < kPayloadWords; ++i) mine[i] = pattern(nonce, self, i);
  wc_flush();
  // Release: pairs with the peer's acquire load of its ready word in the wait below.
  word(*bar2, slot(self)).store(tag(kReady, nonce), std::memory_order_release);
  wc_flush();

  // Wait for exactly one other node to publish.
  const uint64_t deadline = now_ns() + peer_timeout_ns();
  int64_t peer = -1;
  while (peer < 0 && now_ns() < deadline) {
    for (uint32_t id = 0; id < kSlots; ++id)
      if (id != self && word(*bar2, slot(id)).load(std::memory_order_acquire) == tag(kReady, nonce)) peer = id;
    cpu_pause();
  }
  ASSERT_GE(peer, 0) << "node " << self << ": no peer published its payload within " << peer_timeout_ns() / 1'000'000'000
                     << " s (is the other node running this test?)";
  from_peer_barrier();  // the payload loads below after the ready word's load
  const auto* theirs = reinterpret_cast<const uint64_t*>(bar2->data() + slot(static_cast<uint32_t>(peer)) + kPayloadOff);
  size_t wrong = 0, first_wrong = 0;
  for (size_t i = 0; i < kPayloadWords; ++i)
    if (theirs[i] != pattern(nonce, static_cast<uint32_t>(peer), i) && wrong++ == 0) first_wrong = i;
  EXPECT_EQ(wrong, 0u) << "node " << self << " read " << wrong << " wrong words from node " << peer
                       << "'s payload, the first at word " << first_wrong;
  word(*bar2, slot(self) + 8).store(tag(wrong == 0 ? kGood : kBad, nonce), std::memory_order_release);
  wc_flush();

  // The peer's verdict on this node's payload: the other direction.
  uint64_t verdict = 0;
  while (now_ns() < deadline) {
    verdict = word(*bar2, slot(static_cast<uint32_t>(peer)) + 8).load(std::memory_order_acquire);
    if (verdict == tag(kGood, nonce) || verdict == tag(kBad, nonce)) break;
    cpu_pause();
  }
  EXPECT_EQ(verdict, tag(kGood, nonce)) << "node " << peer << "'s verdict on node " << self << "'s payload: "
                                        << (verdict == tag(kBad, nonce) ? "wrong data" : "none within the time-out");
}

}  // namespace
}  // namespace pbx::hwtest
