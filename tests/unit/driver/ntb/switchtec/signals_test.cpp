// Requester-ID table, doorbells split per partition, message registers and link speed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fixture.h"

namespace pbx::ntb::switchtec {
namespace {

using test::SwitchFixture;
using test::SwitchtecModelSpec;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// ---- requester IDs ------------------------------------------------------------------------------

TEST(SwitchtecRid, RootComplexAndHostBridgeGoIntoOurTableWithTheirProxyIds) {
  SwitchFixture f(SwitchtecModelSpec::mesh(2));
  auto d = f.attach(1);
  ASSERT_TRUE(d.has_value());
  auto t = d->setup_requester_ids();
  ASSERT_TRUE(t.has_value()) << t.error().message();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].requester, 0x0000);  // 00:00.0
  EXPECT_EQ((*t)[1].requester, 0x0200);  // the host bridge of partition 1's host (model: 0x100 * (p + 1))
  EXPECT_EQ((*t)[0].proxy_devfn, (1 << 3) | 0);  // as the model assigns them
  EXPECT_EQ((*t)[1].proxy_devfn, (1 << 3) | 1);
  EXPECT_EQ(f.sw.peek(ctrl_offset(1) + 0x08, 4), kPartCtrlIdProtDis);
  EXPECT_EQ(f.sw.configures(1), 1u);
  EXPECT_THAT(f.sw.violations(), IsEmpty());
  EXPECT_EQ(format_bdf16(0x0209), "02:01.1");
}

TEST(SwitchtecRid, ATableTooSmallIsRefusedBeforeLocking) {
  SwitchtecModelSpec s = SwitchtecModelSpec::mesh(2);
  s.partitions[0].rid_entries = 1;
  SwitchFixture f(s);
  auto d = f.attach(0);
  ASSERT_TRUE(d.has_value());
  auto t = d->setup_requester_ids();
  ASSERT_FALSE(t.has_value());
  EXPECT_THAT(t.error().message(), HasSubstr("requester-ID table holds 1 entries; 2 are needed"));
  EXPECT_THAT(t.error().message(), HasSubstr("host bridge 01:00.0"));
  EXPECT_EQ(f.sw.configures(0), 0u);
  EXPECT_EQ(f.sw.lock_conflicts(), 0u);
}

// ---- doorbells ----------------------------------------------------------------------------------

TEST(SwitchtecDoorbell, ARingReachesOnlyThePeersSliceAndIsClearedThere) {
  SwitchFixture f(SwitchtecModelSpec::mesh(3));
  auto d = f.attach_all();
  ASSERT_EQ(d.size(), 3u);
  ASSERT_TRUE(d[0].peer_db_set(1, 0x5).has_value());  // partition 0 rings partition 2 (its peer 1)
  EXPECT_EQ(d[2].db_read(), 0x5u);
  EXPECT_EQ(d[1].db_read(), 0u) << "partition 1's slice is untouched";
  EXPECT_EQ(d[0].db_read(), 0u);
  ASSERT_TRUE(d[2].db_clear(0x1).has_value());
  EXPECT_EQ(d[2].db_read(), 0x4u);
  // Bits beyond the valid mask are refused without ringing anything.
  auto bad = d[0].peer_db_set(0, uint64_t{1} << 20);
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message(), HasSubstr("valid doorbell bits are 0xfffff"));
  EXPECT_EQ(d[1].db_read(), 0u);
  EXPECT_THAT(f.sw.violations(), IsEmpty());
}

TEST(SwitchtecDoorbell, LinuxPairUsesShiftsZeroAndThirtyTwo) {
  SwitchFixture f(SwitchtecModelSpec::linux_pair());
  auto d = f.attach_all();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].db_valid_mask(), 0x0fffffffu);
  ASSERT_TRUE(d[0].peer_db_set(0, 0x1).has_value());
  EXPECT_EQ(f.sw.peek(dbmsg_offset(1) + 0x1010, 8), uint64_t{1} << 32) << "partition 1 receives in bits 32..59";
  EXPECT_EQ(d[1].db_read(), 0x1u);
  ASSERT_TRUE(d[1].peer_db_set(0, 0x2).has_value());
  EXPECT_EQ(f.sw.peek(dbmsg_offset(0) + 0x1010, 8) & 0xffffffffu, 0x2u);
  EXPECT_EQ(d[0].db_read(), 0x2u);
}

TEST(SwitchtecDoorbell, MaskRegisterEnablesOnlyUnmaskedBitsOfOurSlice) {
  SwitchFixture f(SwitchtecModelSpec::linux_pair());
  auto d = f.attach_all();
  ASSERT_TRUE(d[1].db_clear_mask(0x3).has_value());
  EXPECT_EQ(f.sw.peek(dbmsg_offset(1) + 0x1018, 8), kDbMsgBits | (uint64_t{0x3} << 32));
  ASSERT_TRUE(d[1].db_set_mask(0x1).has_value());
  EXPECT_EQ(f.sw.peek(dbmsg_offset(1) + 0x1018, 8), kDbMsgBits | (uint64_t{0x2} << 32));
  EXPECT_EQ(d[1].db_mask(), 0x0ffffffdu);
  EXPECT_FALSE(d[1].db_set_mask(uint64_t{1} << 28).has_value());
}

TEST(SwitchtecDoorbell, VectorsAvoidThePartitionsEventVector) {
  SwitchFixture f(SwitchtecModelSpec::mesh(2));
  auto d = f.attach(1);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->event_vector(), 0u);  // the model's vep_vector_number
  auto bad = d->map_vectors(0, 2);
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message(), HasSubstr("event vector 0"));
  ASSERT_TRUE(d->map_vectors(1, 2).has_value());
  EXPECT_EQ(f.sw.peek(dbmsg_offset(1) + 0x1020, 1), 1u);
  EXPECT_EQ(f.sw.peek(dbmsg_offset(1) + 0x1020 + 59, 1), 1u);
  EXPECT_EQ(f.sw.peek(dbmsg_offset(1) + 0x1020 + 60, 1), 2u) << "the message interrupts";
  EXPECT_EQ(f.sw.peek(dbmsg_offset(1) + 0x1020 + 63, 1), 2u);
  EXPECT_THAT(f.sw.violations(), IsEmpty());
}

// ---- messages -----------------------------------------------------------------------------------

TEST(SwitchtecMessage, TheLinkMessageReachesEveryPeerThatListensToUs) {
  SwitchFixture f(SwitchtecModelSpec::mesh(3));
  auto d = f.attach_all();
  ASSERT_TRUE(d[0].peer_msg_write(kLinkMessage, kMsgCheckLink).has_value());
  // Partition 1 hears partition 0 (its peer 0) in slot 0; partition 2 too.
  for (unsigned p : {1u, 2u}) {
    auto in = d[p].msg_read();
    ASSERT_EQ(in.size(), 1u) << p;
    EXPECT_EQ(in[0].slot, *d[p].link_slot(0));
    EXPECT_EQ(in[0].partition, 0);
    EXPECT_EQ(in[0].value, kMsgCheckLink);
  }
  EXPECT_THAT(d[0].msg_read(), IsEmpty());
  ASSERT_TRUE(d[1].msg_clear(0).has_value());
  EXPECT_THAT(d[1].msg_read(), IsEmpty());
  EXPECT_EQ(d[2].msg_read().size(), 1u) << "each receiver clears its own";
  // Partition 2 writes its link message: partition 0 hears it in the slot of its peer 1.
  ASSERT_TRUE(d[2].peer_msg_write(0, kMsgLinkUp).has_value());
  auto in0 = d[0].msg_read();
  ASSERT_EQ(in0.size(), 1u);
  EXPECT_EQ(in0[0].slot, *d[0].link_slot(1));
  EXPECT_EQ(in0[0].partition, 2);
  EXPECT_FALSE(d[0].peer_msg_write(4, 1).has_value());
  EXPECT_THAT(f.sw.violations(), IsEmpty());
}

TEST(SwitchtecMessage, PeersBeyondTheFourthHaveNoMessageSlot) {
  SwitchFixture f(SwitchtecModelSpec::mesh(6));
  auto d = f.attach(0);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->peer_count(), 5u);
  EXPECT_EQ(d->link_slot(3), 3u);
  EXPECT_FALSE(d->link_slot(4).has_value());
  EXPECT_EQ(d->db_valid_mask(), (uint64_t{1} << 10) - 1);
}

// ---- link ---------------------------------------------------------------------------------------

TEST(SwitchtecLink, SpeedAndWidthFromEachPartitionsFunctionAndTheSlowerForAPeer) {
  SwitchtecModelSpec s = SwitchtecModelSpec::mesh(2);
  s.partitions[1].link = 0x2000 | 3 | (4 << 4);  // 8 GT/s x4
  SwitchFixture f(s);
  auto d = f.attach(0);
  ASSERT_TRUE(d.has_value());
  auto self = d->partition_link(0);
  ASSERT_TRUE(self.has_value()) << self.error().message();
  EXPECT_EQ(self->speed_code, 4);
  EXPECT_EQ(self->width, 8);
  EXPECT_TRUE(self->active);
  auto peer = d->peer_link(0);
  ASSERT_TRUE(peer.has_value());
  EXPECT_EQ(peer->speed_code, 3);
  EXPECT_EQ(peer->width, 4);
  EXPECT_FALSE(d->partition_link(9).has_value());
}

}  // namespace
}  // namespace pbx::ntb::switchtec
