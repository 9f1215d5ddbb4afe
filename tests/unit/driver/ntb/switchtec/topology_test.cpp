// Topology decoding and the deterministic plans every partition derives from the same
// registers: peers, doorbell slices, message slots, LUT ranges.
#include "pbx/ntb/switchtec/topology.h"

#include <bit>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pbx::ntb::switchtec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

RawInfo info(uint8_t count, uint8_t self, uint64_t ep_map) {
  RawInfo r;
  r.partition_count = count;
  r.partition_id = self;
  r.ep_map = ep_map;
  return r;
}

TEST(SwitchtecTopology, TwoPartitionsWithoutTargetsPeerWithTheOtherNtPartition) {
  RawInfo r = info(2, 1, 0x3);
  auto t = decode_topology(r, "0000:03:00.1");
  ASSERT_TRUE(t.has_value()) << t.error().message();
  EXPECT_THAT(t->peers, ElementsAre(0));
  EXPECT_EQ(t->self, 1);
}

TEST(SwitchtecTopology, EveryTargetIsAPeerInPartitionOrder) {
  RawInfo r = info(6, 2, 0x3f);
  r.targets[2] = (1u << 5) | (1u << 0) | (1u << 3) | (1u << 2);  // self bit ignored
  auto t = decode_topology(r, "x");
  ASSERT_TRUE(t.has_value());
  EXPECT_THAT(t->peers, ElementsAre(0, 3, 5));
  EXPECT_FALSE(t->crosslink);
  r.xlink[3] = 1;
  EXPECT_TRUE(decode_topology(r, "x")->crosslink);
}

TEST(SwitchtecTopology, MisconfigurationsNameThePartitionAndTheConfigurationToChange) {
  RawInfo none = info(3, 0, 0x7);
  auto e1 = decode_topology(none, "0000:03:00.1");
  ASSERT_FALSE(e1.has_value());
  EXPECT_EQ(e1.error().code(), Errc::kNotSupported);
  EXPECT_THAT(e1.error().message(), HasSubstr("0000:03:00.1: partition 0 of 3 has no NT target partitions"));
  EXPECT_THAT(e1.error().message(), HasSubstr("switch configuration file"));

  RawInfo not_nt = info(3, 0, 0x3);
  not_nt.targets[0] = 0x6;
  auto e2 = decode_topology(not_nt, "x");
  ASSERT_FALSE(e2.has_value());
  EXPECT_THAT(e2.error().message(), HasSubstr("target partition 2 of partition 0 is not an NT partition"));
  EXPECT_THAT(e2.error().message(), HasSubstr("NT partitions: 0, 1"));

  auto e3 = decode_topology(info(2, 1, 0x1), "x");
  ASSERT_FALSE(e3.has_value());
  EXPECT_THAT(e3.error().message(), HasSubstr("partition 1 has no NT endpoint"));

  RawInfo dead = info(0xff, 0xff, ~uint64_t{0});
  auto e4 = decode_topology(dead, "x");
  ASSERT_FALSE(e4.has_value());
  EXPECT_EQ(e4.error().code(), Errc::kIoError);
  EXPECT_THAT(e4.error().message(), HasSubstr("reads all ones"));

  auto e5 = decode_topology(info(4, 7, 0xff), "x");
  ASSERT_FALSE(e5.has_value());
  EXPECT_THAT(e5.error().message(), HasSubstr("partition_id (GAS 0x10001) = 7 is not below partition_count 4"));
}

TEST(SwitchtecDoorbells, TwoPartitionsUseLinuxsSplit) {
  const DoorbellPlan d = plan_doorbells(0x5, 3);  // NT partitions 0 and 2 of 3
  EXPECT_EQ(d.partitions, 2u);
  EXPECT_EQ(d.valid_mask, 0x0fffffffu);
  EXPECT_EQ(d.shift[0], 0);
  EXPECT_EQ(d.shift[2], 32);
  EXPECT_FALSE(d.has(1));
  EXPECT_EQ(d.bits_of(2), 0x0fffffffull << 32);
  EXPECT_EQ(d.bits_of(1), 0u);
}

TEST(SwitchtecDoorbells, SlicesAreDisjointAndStayBelowTheMessageBitsForEveryPartitionCount) {
  for (unsigned n = 2; n <= kMaxPartitions; ++n) {
    const uint64_t ep = n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
    const DoorbellPlan d = plan_doorbells(ep, static_cast<uint8_t>(n));
    ASSERT_EQ(d.partitions, n);
    ASSERT_GT(d.valid_mask, 0u) << n;
    uint64_t seen = 0;
    for (unsigned p = 0; p < n; ++p) {
      const uint64_t b = d.bits_of(static_cast<uint8_t>(p));
      EXPECT_EQ(b & seen, 0u) << "n=" << n << " p=" << p;
      EXPECT_EQ(b & kDbMsgBits, 0u) << "n=" << n << " p=" << p;
      EXPECT_EQ(std::popcount(b), std::popcount(d.valid_mask));
      seen |= b;
    }
  }
  EXPECT_EQ(plan_doorbells(0x7, 3).valid_mask, (uint64_t{1} << 20) - 1);
  EXPECT_EQ(plan_doorbells(0xff, 8).valid_mask, (uint64_t{1} << 7) - 1);
  EXPECT_EQ(plan_doorbells(0x1, 1).valid_mask, 0u);  // nobody to ring
}

TEST(SwitchtecMessages, OnePeerHearsAllFourAsLinuxDoes) {
  const MessagePlan m = plan_messages({3});
  EXPECT_EQ(m.msg_map, 0x0f0e0d0cu);  // slot i <- partition 3, omsg i
  EXPECT_THAT(m.link_slot, ElementsAre(0u));
}

TEST(SwitchtecMessages, SeveralPeersGetOneSlotEachForTheLinkMessage) {
  const MessagePlan m = plan_messages({0, 2, 5});
  EXPECT_THAT(m.slot_partition, ElementsAre(0, 2, 5, 0));
  EXPECT_THAT(m.slot_omsg, ElementsAre(0, 0, 0, 1));  // the spare slot hears an omsg nobody writes
  EXPECT_THAT(m.link_slot, ElementsAre(0u, 1u, 2u));
  const MessagePlan six = plan_messages({0, 1, 2, 3, 4, 5});
  EXPECT_THAT(six.slot_partition, ElementsAre(0, 1, 2, 3));
  ASSERT_EQ(six.link_slot.size(), 6u);
  EXPECT_FALSE(six.link_slot[4].has_value());
  EXPECT_FALSE(six.link_slot[5].has_value());
}

TEST(SwitchtecLuts, EntriesRoundDownAndSplitEquallyAmongThePeers) {
  RawInfo r = info(4, 0, 0xf);
  for (unsigned p = 0; p < 4; ++p) r.targets[p] = 0xf & ~(1u << p);
  auto plan = plan_luts(r, 2, 50, "x");  // 50 -> 32 entries, 3 peers -> 10 each
  ASSERT_TRUE(plan.has_value()) << plan.error().message();
  EXPECT_EQ(plan->entries, 32u);
  EXPECT_EQ(plan->per_peer, 10u);
  EXPECT_THAT(plan->peers, ElementsAre(0, 1, 3));
  EXPECT_EQ(plan->first_entry_of(0), 0u);
  EXPECT_EQ(plan->first_entry_of(1), 10u);
  EXPECT_EQ(plan->first_entry_of(3), 20u);
  EXPECT_FALSE(plan->first_entry_of(2).has_value());
}

TEST(SwitchtecLuts, ZeroOrTooFewEntriesAreRefusedNamingTheSetting) {
  RawInfo r = info(4, 0, 0xf);
  for (unsigned p = 0; p < 4; ++p) r.targets[p] = 0xf & ~(1u << p);
  auto zero = plan_luts(r, 1, 0, "0000:03:00.1");
  ASSERT_FALSE(zero.has_value());
  EXPECT_THAT(zero.error().message(), HasSubstr("'Maximum Number of NT Lut Entries' of partition 1"));
  EXPECT_THAT(zero.error().message(), HasSubstr("switchtec-kernel#109"));
  auto few = plan_luts(r, 1, 2, "x");
  ASSERT_FALSE(few.has_value());
  EXPECT_THAT(few.error().message(), HasSubstr("2 LUT entries for 3 peers"));
}

TEST(SwitchtecLuts, BarControlEncodesSizeAndCount) {
  // Low byte kept, LUT_WIN_EN, log2(64 KiB) = 16 << 8, (32 - 1) << 14; old LUT fields replaced.
  EXPECT_EQ(lut_bar_ctl(0x0000ff01u, 64 * 1024, 32), 0x01u | 0x20u | (16u << 8) | (31u << 14));
  EXPECT_EQ(partition_list(0x29), "0, 3, 5");
  EXPECT_EQ(partition_list(0), "none");
}

}  // namespace
}  // namespace pbx::ntb::switchtec
