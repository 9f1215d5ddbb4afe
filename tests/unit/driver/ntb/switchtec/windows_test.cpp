// LUT and direct windows: programmed in the peer's control block through a transaction,
// refused before touching the switch when they cannot be right, reported and rolled back when
// the switch refuses them, and carrying stores into the right host's memory.
#include <cstring>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fixture.h"

namespace pbx::ntb::switchtec {
namespace {

using test::SwitchFixture;
using test::SwitchtecModelSpec;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr uint64_t k64K = 64 * 1024;
constexpr std::size_t kLut0 = 0x1000;

struct Windows : ::testing::Test {
  Windows() : f(SwitchtecModelSpec::mesh(3)) {
    auto d = f.attach(0);
    EXPECT_TRUE(d.has_value()) << d.error().message();
    a.emplace(std::move(*d));
  }
  SwitchFixture f;
  std::optional<SwitchtecNtb> a;  // the host of partition 0
};

TEST_F(Windows, PeerWindowIsThePeersRangeOfOurLutEntries) {
  // Our 32 entries are shared by partitions 1 and 2: 16 each, in partition order.
  auto w0 = a->peer_window(0);
  auto w1 = a->peer_window(1);
  ASSERT_TRUE(w0 && w1);
  EXPECT_EQ(w0->bar, 2u);
  EXPECT_EQ(w0->offset, 0u);
  EXPECT_EQ(w0->size, 16 * k64K);
  EXPECT_EQ(w1->first_entry, 16u);
  EXPECT_EQ(w1->offset, 16 * k64K);
  EXPECT_EQ(*a->inbound_capacity(1), 16 * k64K);
}

TEST_F(Windows, InboundProgramsOurRangeInThePeersBlock) {
  // Partition 2's entries are shared by 0 and 1; ours are 0..15 of partition 2's block.
  const uint64_t iova = 0x40000000;
  ASSERT_TRUE(a->inbound_set_trans(1, iova, 4 * k64K).has_value());
  const std::size_t c2 = ctrl_offset(2);
  for (unsigned j = 0; j < 4; ++j) EXPECT_EQ(f.sw.peek(c2 + kLut0 + 8 * j, 8), kLutEn | (iova + j * k64K)) << j;
  for (unsigned j = 4; j < 16; ++j) EXPECT_EQ(f.sw.peek(c2 + kLut0 + 8 * j, 8), 0u) << j;
  EXPECT_EQ(f.sw.peek(c2 + kLut0 + 8 * 16, 8), 0u) << "partition 1's range untouched";
  // Partition 2's BAR2 now has its LUT windows: 32 of 64 KiB.
  EXPECT_EQ(f.sw.peek(c2 + 0x40 + 0x10 * 2, 4), kBarValid | kBarLutWinEn | (16u << 8) | (31u << 14));
  EXPECT_EQ(f.sw.configures(2), 1u);
  EXPECT_THAT(f.sw.violations(), IsEmpty());
  ASSERT_TRUE(a->inbound_clear_trans(1).has_value());
  EXPECT_EQ(f.sw.peek(c2 + kLut0, 8), 0u);
}

TEST_F(Windows, OutOfRangeOrMisalignedWindowsAreRefusedBeforeTouchingTheSwitch) {
  auto big = a->inbound_set_trans(0, 0, 17 * k64K);  // 16 entries are ours
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code(), Errc::kInvalidArgument);
  EXPECT_THAT(big.error().message(), HasSubstr("at most the 1 MiB of LUT entries partition 1 keeps for us"));
  EXPECT_THAT(a->inbound_set_trans(0, 0, 1000).error().message(), HasSubstr("a multiple of the LUT window size"));
  EXPECT_THAT(a->inbound_set_trans(0, 0x1000, k64K).error().message(), HasSubstr("not aligned to the LUT window"));
  EXPECT_THAT(a->inbound_set_trans(7, 0, k64K).error().message(), HasSubstr("peer 7 does not exist"));
  EXPECT_EQ(f.sw.configures(1), 0u);
  EXPECT_EQ(f.sw.status(1), kStatusNormal);
  EXPECT_EQ(f.sw.lock_conflicts(), 0u);
}

TEST_F(Windows, ASwitchThatRefusesTheLutWindowsIsReportedAndRolledBack) {
  // Partition 1's BAR2 (per the switch configuration) cannot hold 32 LUT windows of 64 KiB.
  SwitchtecModelSpec s = SwitchtecModelSpec::mesh(3);
  s.partitions[1].bar_size[2] = 1u << 20;
  SwitchFixture g(s);
  auto d = g.attach(0);
  ASSERT_TRUE(d.has_value()) << d.error().message();
  auto r = d->inbound_set_trans(0, 0x40000000, k64K);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kIoError);
  EXPECT_THAT(r.error().message(), HasSubstr("the switch refused LUT entries 0..15 for partition 0"));
  EXPECT_THAT(r.error().message(), HasSubstr("bar_error 0x00000002"));
  EXPECT_THAT(r.error().message(), HasSubstr("restored"));
  EXPECT_EQ(g.sw.peek(ctrl_offset(1) + kLut0, 8), 0u);
  EXPECT_EQ(g.sw.peek(ctrl_offset(1) + 0x40 + 0x20, 4), kBarValid) << "BAR2 control back as it was";
  EXPECT_EQ(g.sw.status(1), kStatusNormal);
  EXPECT_THAT(g.sw.violations(), IsEmpty());
}

TEST_F(Windows, AnEntryRangeTheSwitchNoLongerHasIsRefused) {
  // The switch was reconfigured with 8 entries: 4 per peer; our plan follows the register.
  f.sw.set_lut_entries(1, 8);
  EXPECT_EQ(*a->inbound_capacity(0), 4 * k64K);
  EXPECT_FALSE(a->inbound_set_trans(0, 0, 5 * k64K).has_value());
  ASSERT_TRUE(a->inbound_set_trans(0, 0, 4 * k64K).has_value());
}

TEST_F(Windows, LutWindowsCarryStoresIntoThePeersMemory) {
  // Host 1 exposes 1 MiB at IOVA 0x80000000 to us; we store through our window to it.
  std::vector<std::byte> mem1(1u << 20);
  f.sw.add_memory(1, 0x80000000, mem1);
  auto b = f.attach(1);
  ASSERT_TRUE(b.has_value());
  ASSERT_TRUE(b->inbound_set_trans(0, 0x80000000, 1u << 20).has_value());  // peer 0 of partition 1 is us
  const char msg[] = "hello partition 1";
  auto w = a->peer_window(0);
  ASSERT_TRUE(w.has_value());
  EXPECT_FALSE(f.sw.write_through(0, w->bar, w->offset + 3 * k64K + 8, msg, sizeof msg))
      << "dropped before our requester IDs are set up";
  EXPECT_THAT(f.sw.last_drop(), HasSubstr("requester 00:00.0 is not in its requester-ID table"));
  ASSERT_TRUE(a->setup_requester_ids().has_value());
  ASSERT_TRUE(f.sw.write_through(0, w->bar, w->offset + 3 * k64K + 8, msg, sizeof msg)) << f.sw.last_drop();
  EXPECT_EQ(std::memcmp(mem1.data() + 3 * k64K + 8, msg, sizeof msg), 0);
  // Partition 2 left its range towards us unprogrammed: stores there go nowhere.
  auto w2 = a->peer_window(1);
  EXPECT_FALSE(f.sw.write_through(0, w2->bar, w2->offset, msg, sizeof msg));
  EXPECT_THAT(f.sw.last_drop(), HasSubstr("LUT entry 16 is off"));
}

TEST_F(Windows, DirectWindowTranslatesOnePartitionAndRefusesASecond) {
  std::vector<std::byte> mem0(1u << 20);
  f.sw.add_memory(0, 0x100000, mem0);
  ASSERT_TRUE(a->direct_set_trans(0, 4, 0x100000, 1u << 20).has_value());
  const std::size_t b4 = ctrl_offset(1) + 0x40 + 0x10 * 4;
  EXPECT_EQ(f.sw.peek(b4, 4), kBarValid | kBarDirWinEn);
  EXPECT_EQ(f.sw.peek(b4 + 4, 4), 20u | (1u << 20));  // log2 | size
  EXPECT_EQ(f.sw.peek(b4 + 8, 8), 0x100000u | 0u);     // our partition 0 | address
  // Host 1 stores through its BAR4 into our memory (once its requester IDs are set up).
  auto b = f.attach(1);
  ASSERT_TRUE(b && b->setup_requester_ids().has_value());
  const uint32_t v = 0xfeedbeef;
  ASSERT_TRUE(f.sw.write_through(1, 4, 0x40, &v, sizeof v)) << f.sw.last_drop();
  EXPECT_EQ(std::memcmp(mem0.data() + 0x40, &v, sizeof v), 0);
  // Partition 2 cannot take the same BAR of partition 1.
  auto c = f.attach(2);
  ASSERT_TRUE(c.has_value());
  auto busy = c->direct_set_trans(1, 4, 0x200000, 1u << 20);  // partition 2's peer 1 is partition 1
  ASSERT_FALSE(busy.has_value());
  EXPECT_EQ(busy.error().code(), Errc::kBusy);
  EXPECT_THAT(busy.error().message(), HasSubstr("already translates to partition 0"));
  ASSERT_TRUE(a->direct_clear_trans(0, 4).has_value());
  EXPECT_EQ(f.sw.peek(b4, 4), kBarValid);
  EXPECT_THAT(f.sw.violations(), IsEmpty());
}

TEST_F(Windows, DirectWindowArgumentsAreCheckedFirst) {
  EXPECT_THAT(a->direct_set_trans(0, 3, 0, 1u << 20).error().message(), HasSubstr("BAR3 of partition 1 is not a valid NT BAR"));
  EXPECT_THAT(a->direct_set_trans(0, 4, 0, 3u << 20).error().message(), HasSubstr("not a power of two"));
  EXPECT_THAT(a->direct_set_trans(0, 4, 0x1000, 1u << 20).error().message(), HasSubstr("not aligned to the window size"));
  EXPECT_EQ(f.sw.configures(1), 0u);
}

TEST_F(Windows, ADirectWindowTooLargeForThePeersBarIsRefusedByTheSwitch) {
  auto r = a->direct_set_trans(0, 4, 0, 4u << 20);  // partition 1's BAR4 is 1 MiB
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("bar_error 0x00000003"));
  EXPECT_EQ(f.sw.peek(ctrl_offset(1) + 0x40 + 0x10 * 4, 4), kBarValid);
}

}  // namespace
}  // namespace pbx::ntb::switchtec
