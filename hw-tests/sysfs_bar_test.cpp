// The ivshmem device through sysfs BAR mappings, no VFIO: proves the hw-emulated harness end to
// end (two VMs, one shared memory) and that what one VM writes into BAR2 the other reads.
//
// Two-sided: both nodes run this binary at the same time. Each node owns one slot at the top of
// BAR2, chosen by its ivshmem peer id (IVPosition, BAR0 offset 8):
//   slot + 0    ready word: kReady | nonce, stored after the payload
//   slot + 8    verdict word: what this node found in the peer's payload (kGood or kBad | nonce)
//   slot + 16   done word: this node has read everything of the peer's it needs
//   slot + 64   payload: a pattern derived from (nonce, peer id)
// Each node writes its payload and ready word, waits for another slot to become ready, checks
// that payload, publishes its verdict, and waits for the peer's verdict on its own payload.
// Then both leave the area as they found it, all zero: each clears its own slot once the peer is
// done with it, clears the peer's done word once it has seen it, and exits only when its own done
// word was cleared, so that no write of this test lands after both nodes have moved on.
// Every word has one writer at a time and no compare-and-swap is used: under TCG, atomics of
// two QEMU processes on one memory are not atomic with each other.
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

// Waits until the word at `off` satisfies `done` or the deadline passes; returns the last value.
template <class Pred>
uint64_t wait_word(const MmapRegion& m, size_t off, uint64_t deadline, Pred done) {
  for (;;) {
    const uint64_t v = word(m, off).load(std::memory_order_acquire);
    if (done(v) || now_ns() >= deadline) return v;
    cpu_pause();
  }
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
  const uint64_t deadline = now_ns() + peer_timeout_ns();
  const uint64_t timeout_s = peer_timeout_ns() / 1'000'000'000;

  // Publish: payload, then flush, then the ready word that vouches for it.
  auto* mine = reinterpret_cast<uint64_t*>(bar2->data() + slot(self) + kPayloadOff);
  for (size_t i = 0; i < kPayloadWords; ++i) mine[i] = pattern(nonce, self, i);
  wc_flush();
  // Release: pairs with the peer's acquire load of this ready word in its scan below.
  word(*bar2, slot(self)).store(tag(kReady, nonce), std::memory_order_release);
  wc_flush();

  // Wait for another node to publish.
  int64_t found = -1;
  while (found < 0 && now_ns() < deadline) {
    for (uint32_t id = 0; id < kSlots; ++id)
      if (id != self && word(*bar2, slot(id)).load(std::memory_order_acquire) == tag(kReady, nonce)) found = id;
    cpu_pause();
  }
  ASSERT_GE(found, 0) << "node " << self << ": no peer published its payload within " << timeout_s
                      << " s (is the other node running this test?)";
  const auto peer = static_cast<uint32_t>(found);
  from_peer_barrier();  // the payload loads below after the ready word's load
  const auto* theirs = reinterpret_cast<const uint64_t*>(bar2->data() + slot(peer) + kPayloadOff);
  size_t wrong = 0, first_wrong = 0;
  for (size_t i = 0; i < kPayloadWords; ++i)
    if (theirs[i] != pattern(nonce, peer, i) && wrong++ == 0) first_wrong = i;
  EXPECT_EQ(wrong, 0u) << "node " << self << " read " << wrong << " wrong words of " << kPayloadWords
                       << " from node " << peer << "'s payload, the first at word " << first_wrong;
  word(*bar2, slot(self) + 8).store(tag(wrong == 0 ? kGood : kBad, nonce), std::memory_order_release);
  wc_flush();

  // The peer's verdict on this node's payload: the other direction.
  const uint64_t verdict = wait_word(*bar2, slot(peer) + 8, deadline,
                                     [&](uint64_t v) { return v == tag(kGood, nonce) || v == tag(kBad, nonce); });
  EXPECT_EQ(verdict, tag(kGood, nonce)) << "node " << peer << "'s verdict on node " << self << "'s payload: "
                                        << (verdict == tag(kBad, nonce) ? "wrong data" : "none within the time-out");

  // Leave the area zero (see the top of this file).
  word(*bar2, slot(self) + 16).store(tag(kReady, nonce), std::memory_order_release);
  wc_flush();
  const uint64_t peer_done = wait_word(*bar2, slot(peer) + 16, deadline, [&](uint64_t v) { return v == tag(kReady, nonce); });
  ASSERT_EQ(peer_done, tag(kReady, nonce)) << "node " << peer << " did not finish within " << timeout_s << " s";
  std::memset(bar2->data() + slot(self) + kPayloadOff, 0, kPayloadWords * 8);
  word(*bar2, slot(self)).store(0, std::memory_order_relaxed);
  word(*bar2, slot(self) + 8).store(0, std::memory_order_relaxed);
  // Release: the clears above land before the peer sees its done word cleared and exits.
  word(*bar2, slot(peer) + 16).store(0, std::memory_order_release);
  wc_flush();
  const uint64_t own_done = wait_word(*bar2, slot(self) + 16, deadline, [](uint64_t v) { return v == 0; });
  EXPECT_EQ(own_done, 0u) << "node " << peer << " did not clear this node's done word within " << timeout_s << " s";
  for (size_t off = 0; off < kSlotSize; off += 8)
    ASSERT_EQ(word(*bar2, slot(self) + off).load(std::memory_order_relaxed), 0u) << "slot " << self << " + " << off;
}

}  // namespace
}  // namespace pbx::hwtest
