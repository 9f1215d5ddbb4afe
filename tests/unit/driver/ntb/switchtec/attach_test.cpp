// Attaching to a Switchtec NT endpoint: identity checks, topology and plans, our own windows,
// the doorbell and message registers set up, and every refusal naming what to change.
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

TEST(SwitchtecAttach, MeshPartitionSeesItsPeersPlansAndWindows) {
  SwitchFixture f(SwitchtecModelSpec::mesh(3));
  auto d = f.attach(1);
  ASSERT_TRUE(d.has_value()) << d.error().message();
  EXPECT_EQ(d->name(), "0000:02:00.1");
  EXPECT_EQ(d->part_name(), "PFX 36XG4 (gen4)");
  EXPECT_EQ(d->self_partition(), 1);
  EXPECT_EQ(d->peer_count(), 2u);
  EXPECT_EQ(d->peer_partition(0), 0);
  EXPECT_EQ(d->peer_partition(1), 2);
  EXPECT_EQ(d->db_valid_mask(), (uint64_t{1} << 20) - 1);
  EXPECT_EQ(d->lut_plan().entries, 32u);
  EXPECT_EQ(d->lut_plan().per_peer, 16u);
  // BAR2: 2 MiB of LUT windows, then a 2 MiB direct window; BAR4: a 1 MiB direct window.
  ASSERT_EQ(d->direct_windows().size(), 2u);
  EXPECT_EQ(d->direct_windows()[0].bar, 2u);
  EXPECT_EQ(d->direct_windows()[0].offset, 2u << 20);
  EXPECT_EQ(d->direct_windows()[0].max_size, 2u << 20);
  EXPECT_EQ(d->direct_windows()[1].bar, 4u);
  EXPECT_EQ(d->direct_windows()[1].max_size, 1u << 20);
  // Doorbells of ours masked (messages on), only the peers' slices may be rung, message map.
  const std::size_t db = dbmsg_offset(1);
  EXPECT_EQ(f.sw.peek(db + 0x1018, 8), kDbMsgBits);
  EXPECT_EQ(f.sw.peek(db + 0x1008, 8), d->doorbell_plan().bits_of(0) | d->doorbell_plan().bits_of(2));
  EXPECT_EQ(f.sw.peek(db + 0x1060, 4), d->message_plan().msg_map);
  for (unsigned i = 0; i < 4; ++i) EXPECT_EQ(f.sw.peek(db + 0x1088 + 8 * i, 8) & kImsgMask, kImsgMask);
  EXPECT_THAT(f.sw.violations(), IsEmpty());
  EXPECT_EQ(d->alias_quirk().message, "") << "no kernel release given: no check";
}

TEST(SwitchtecAttach, RefusesFunctionsThatAreNotNtEndpoints) {
  SwitchtecModelSpec s = SwitchtecModelSpec::mesh(2);
  s.class_code = 0x058000;
  SwitchFixture f(s);
  auto d = f.attach(0);
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code(), Errc::kNotSupported);
  EXPECT_THAT(d.error().message(), HasSubstr("[11f8:4036] class 058000 is not a Switchtec NT endpoint"));
  EXPECT_THAT(d.error().message(), HasSubstr("management endpoint"));
}

TEST(SwitchtecAttach, RequiresMemoryDecodingAndBusMastering) {
  SwitchtecModelSpec s = SwitchtecModelSpec::mesh(2);
  s.command = pci::kCommandMemory;
  SwitchFixture f(s);
  auto d = f.attach(0);
  ASSERT_FALSE(d.has_value());
  EXPECT_THAT(d.error().message(), HasSubstr("COMMAND (config 0x04) = 0x0002"));
  EXPECT_THAT(f.sw.violations(), IsEmpty()) << "nothing touched before the checks";
}

TEST(SwitchtecAttach, CrosslinkIsRefusedWithTheReason) {
  SwitchtecModelSpec s = SwitchtecModelSpec::mesh(2);
  s.partitions[1].xlink = 1;
  SwitchFixture f(s);
  auto d = f.attach(0);
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code(), Errc::kNotSupported);
  EXPECT_THAT(d.error().message(), HasSubstr("crosslink partition"));
}

TEST(SwitchtecAttach, OwnLutWindowsLargerThanTheBarAreRefused) {
  SwitchtecModelSpec s = SwitchtecModelSpec::mesh(2);
  s.partitions[0].bar_size[2] = 1u << 20;  // 32 x 64 KiB = 2 MiB of LUT windows do not fit
  SwitchFixture f(s);
  auto d = f.attach(0);
  ASSERT_FALSE(d.has_value());
  EXPECT_THAT(d.error().message(), HasSubstr("BAR2 is 1 MiB, too small for partition 0's 32 LUT windows of 64 KiB"));
  EXPECT_THAT(d.error().message(), HasSubstr("LUT Window Exceeds BAR Size"));
}

TEST(SwitchtecAttach, NoValidBarOrNoLutEntriesIsAConfigurationError) {
  SwitchtecModelSpec s = SwitchtecModelSpec::mesh(2);
  s.partitions[0].bar_valid = {};
  SwitchFixture f(s);
  auto d = f.attach(0);
  ASSERT_FALSE(d.has_value());
  EXPECT_THAT(d.error().message(), HasSubstr("has no valid BAR entry"));

  SwitchtecModelSpec z = SwitchtecModelSpec::mesh(2);
  z.partitions[0].lut_entries = 0;
  SwitchFixture g(z);
  auto e = g.attach(0);
  ASSERT_FALSE(e.has_value());
  EXPECT_THAT(e.error().message(), HasSubstr("lut_table_entries = 0"));
}

TEST(SwitchtecAttach, ReportsTheIommuAliasQuirkForTheRunningKernel) {
  SwitchtecModelSpec s = SwitchtecModelSpec::linux_pair();
  s.device = 0x8536;
  SwitchFixture f(s);
  auto p = f.params(0);
  p.kernel_release = "4.18.0-80.el8.x86_64";
  auto d = SwitchtecNtb::attach(p);
  ASSERT_TRUE(d.has_value()) << d.error().message();
  EXPECT_EQ(d->alias_quirk().state, AliasQuirk::State::kMissing);
  EXPECT_THAT(d->alias_quirk().message, HasSubstr("predates Linux 4.19"));
  EXPECT_THAT(d->topology().peers, ElementsAre(1));
}

TEST(SwitchtecAttach, RejectsABadLutSizeAndMissingInterfaces) {
  SwitchFixture f(SwitchtecModelSpec::mesh(2));
  auto p = f.params(0);
  p.lut_size = 3 * 4096;
  EXPECT_THAT(SwitchtecNtb::attach(p).error().message(), HasSubstr("not a power of two of at least 4 KiB"));
  p = f.params(0);
  p.pacer = nullptr;
  EXPECT_EQ(SwitchtecNtb::attach(p).error().code(), Errc::kInvalidArgument);
}

}  // namespace
}  // namespace pbx::ntb::switchtec
