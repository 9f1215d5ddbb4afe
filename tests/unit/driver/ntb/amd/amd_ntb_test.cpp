// The AMD NTB driver against the pair model: identification and side, windows programmed in
// the peer's registers with read-back, the shared scratchpad bank split by side, doorbells
// with the reserved goodbye bit, events, link status from the right device.
#include "pbx/ntb/amd/amd_ntb.h"

#include <cstring>
#include <optional>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/ntb/amd_model.h"

namespace pbx::ntb::amd {
namespace {

using test::AmdNtbModelSpec;
using test::AmdNtbPair;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Pair {
  explicit Pair(const AmdNtbModelSpec& s = {}) : m(s) {
    auto x = AmdNtb::attach(m.primary().attach_params("0000:41:00.1"));
    auto y = AmdNtb::attach(m.secondary().attach_params("0000:42:00.1"));
    EXPECT_TRUE(x.has_value()) << x.error().message();
    EXPECT_TRUE(y.has_value()) << y.error().message();
    if (x) a.emplace(std::move(*x));
    if (y) b.emplace(std::move(*y));
  }
  AmdNtbPair m;
  std::optional<AmdNtb> a;  // primary
  std::optional<AmdNtb> b;  // secondary
};

TEST(AmdIds, PartsCarryTheirWindowBars) {
  auto z = identify(kVendorAmd, 0x145b, "x");
  ASSERT_TRUE(z.has_value());
  EXPECT_EQ((*z)->mw_count, 3u);
  EXPECT_EQ((*z)->mw_bar[0], 1u);
  EXPECT_EQ((*z)->mw_bar[2], 4u);
  EXPECT_TRUE((*identify(kVendorAmd, 0x17d7, "x"))->endpoint);
  EXPECT_EQ((*identify(kVendorHygon, 0x145b, "x"))->mw_count, 3u);
  auto no = identify(kVendorAmd, 0x1234, "0000:41:00.1");
  ASSERT_FALSE(no.has_value());
  EXPECT_THAT(no.error().message(), HasSubstr("0000:41:00.1 [1022:1234] is not a supported AMD NTB"));
}

TEST(AmdNtbTest, AttachReadsTheSideAndMasksEverythingButLinkEventsAndGoodbye) {
  Pair p;
  ASSERT_TRUE(p.a && p.b);
  EXPECT_EQ(p.a->side(), Side::kPrimary);
  EXPECT_EQ(p.b->side(), Side::kSecondary);
  EXPECT_EQ(p.a->node_index(), 0);
  EXPECT_EQ(p.b->node_index(), 1);
  EXPECT_EQ(p.m.primary().peek(0x470, 4), kEventMask & ~(kEventLinkUp | kEventLinkDown));
  EXPECT_EQ(p.m.primary().peek(0x45c, 2), kDbValidMask) << "user doorbells masked, goodbye (bit 15) not";
  EXPECT_FALSE(p.m.primary().ready()) << "attach leaves READY to the bring-up";
  EXPECT_THAT(p.m.primary().violations(), IsEmpty());
}

TEST(AmdNtbTest, AttachRefusesWithoutBusMasteringOrAWindowBar) {
  AmdNtbModelSpec s;
  s.command = pci::kCommandMemory;
  AmdNtbPair m(s);
  auto a = AmdNtb::attach(m.primary().attach_params("0000:41:00.1"));
  ASSERT_FALSE(a.has_value());
  EXPECT_THAT(a.error().message(), HasSubstr("COMMAND (config 0x04) = 0x0002"));
  AmdNtbModelSpec t;
  t.mw_size[1] = 0;
  AmdNtbPair n(t);
  auto b = AmdNtb::attach(n.primary().attach_params("0000:41:00.1"));
  ASSERT_FALSE(b.has_value());
  EXPECT_THAT(b.error().message(), HasSubstr("window 1 (BAR4) is 0 bytes"));
}

TEST(AmdNtbTest, WindowIsProgrammedInThePeersRegistersAndCarriesStores) {
  Pair p;
  // The secondary's host exposes 64 KiB at IOVA 0x7000000 to the primary's window 0 (BAR2).
  std::vector<std::byte> mem(64 * 1024);
  p.m.secondary().add_memory(0x7000000, mem);
  ASSERT_TRUE(p.b->mw_set_trans(0, 0x7000000, mem.size()).has_value());
  EXPECT_EQ(p.m.primary().peek(0x438, 8), 0x7000000u) << "BAR23XLAT of the primary, through the peer view";
  EXPECT_EQ(p.m.primary().peek(0x418, 8), mem.size()) << "BAR23LMT = size";
  const char hello[] = "from the primary";
  ASSERT_TRUE(p.m.primary().write_through(0, 0x100, hello, sizeof hello));
  EXPECT_EQ(std::memcmp(mem.data() + 0x100, hello, sizeof hello), 0);
  EXPECT_FALSE(p.m.primary().write_through(0, mem.size(), hello, 1)) << "beyond the limit";
  ASSERT_TRUE(p.b->mw_clear_trans(0).has_value());
  EXPECT_FALSE(p.m.primary().write_through(0, 0, hello, 1));
  // Window 1 is BAR4 (XLAT 0x440, LMT 0x420).
  ASSERT_TRUE(p.a->mw_set_trans(1, 0x9000000, 4096).has_value());
  EXPECT_EQ(p.m.secondary().peek(0x440, 8), 0x9000000u);
  EXPECT_EQ(p.m.secondary().peek(0x420, 8), 4096u);
  EXPECT_THAT(p.m.primary().violations(), IsEmpty());
  EXPECT_THAT(p.m.secondary().violations(), IsEmpty());
}

TEST(AmdNtbTest, WindowArgumentsAreCheckedAndMismatchesCloseTheWindow) {
  Pair p;
  EXPECT_THAT(p.a->mw_set_trans(0, 0x1234, 4096).error().message(), HasSubstr("not aligned to 4 KiB"));
  EXPECT_THAT(p.a->mw_set_trans(0, 0, (1u << 20) + 1).error().message(), HasSubstr("size 1048577 is invalid"));
  EXPECT_THAT(p.a->mw_set_trans(2, 0, 4096).error().message(), HasSubstr("memory window 2 does not exist"));
}

TEST(AmdNtbTest, TheZeppelinThreeWindowPartUsesBar1WithA32BitLimit) {
  AmdNtbModelSpec s;
  s.device = 0x145b;
  s.mw_size = {1u << 20, 1u << 20, 1u << 20};
  Pair p(s);
  ASSERT_EQ(p.a->mw_count(), 3u);
  EXPECT_EQ(p.a->mw(0).bar, 1u);
  ASSERT_TRUE(p.a->mw_set_trans(0, 0x5000000, 8192).has_value());
  EXPECT_EQ(p.m.secondary().peek(0x430, 8), 0x5000000u);
  EXPECT_EQ(p.m.secondary().peek(0x414, 4), 8192u);
}

TEST(AmdNtbTest, ScratchpadsAreTheSharedBankSplitBySide) {
  Pair p;
  // The primary's scratchpads are bank entries 0..7, the secondary's 8..15; a peer scratchpad
  // is the other side's own.
  ASSERT_TRUE(p.a->spad_write(3, 0xaaaa).has_value());
  ASSERT_TRUE(p.b->spad_write(3, 0xbbbb).has_value());
  EXPECT_EQ(*p.b->peer_spad_read(3), 0xaaaau);
  EXPECT_EQ(*p.a->peer_spad_read(3), 0xbbbbu);
  ASSERT_TRUE(p.b->peer_spad_write(4, 0xcccc).has_value());
  EXPECT_EQ(*p.a->spad_read(4), 0xccccu);
  EXPECT_EQ(*p.b->spad_read(4), 0u) << "the secondary's own spad 4 is another register";
  EXPECT_FALSE(p.a->spad_write(8, 0).has_value()) << "8 per side";
}

TEST(AmdNtbTest, DoorbellsCrossAndTheGoodbyeBitIsNotAUserBit) {
  Pair p;
  ASSERT_TRUE(p.a->peer_db_set(0x5).has_value());
  EXPECT_EQ(p.b->db_read(), 0x5u);
  EXPECT_EQ(p.a->db_read(), 0u);
  ASSERT_TRUE(p.b->db_clear(0x1).has_value());
  EXPECT_EQ(p.b->db_read(), 0x4u);
  auto bad = p.a->peer_db_set(kDbGoodbye);
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message(), HasSubstr("bit 15 is the goodbye bit"));
  EXPECT_FALSE(p.b->goodbye_pending());
  p.a->ring_goodbye();
  EXPECT_TRUE(p.b->goodbye_pending());
  EXPECT_EQ(p.b->db_read(), 0x4u) << "db_read() hides the goodbye bit";
  p.b->goodbye_clear();
  EXPECT_FALSE(p.b->goodbye_pending());
  ASSERT_TRUE(p.b->db_clear_mask(0x3).has_value());
  EXPECT_EQ(p.m.secondary().peek(0x45c, 2), kDbValidMask & ~0x3u);
}

TEST(AmdNtbTest, EventsAreAcknowledgedAndCleared) {
  Pair p;
  p.m.physical_link(false);
  EXPECT_EQ(p.b->events(), kEventLinkDown);
  ASSERT_TRUE(p.b->ack_events(kEventLinkDown).has_value());
  EXPECT_EQ(p.b->events(), 0u);
  EXPECT_EQ(p.m.secondary().peek(0x4a0, 4) & kEventLinkDown, kEventLinkDown) << "acknowledged to the SMU";
}

TEST(AmdNtbTest, LinkStatusFromTheNtbOrTheUpstreamPort) {
  AmdNtbModelSpec s;
  Pair p(s);
  auto la = p.a->link_status();
  ASSERT_TRUE(la.has_value()) << la.error().message();
  EXPECT_EQ(la->speed_code, 4);
  EXPECT_EQ(la->width, 8);
  p.m.secondary().link_device().set_lnksta(0x2000 | 3 | (4 << 4));  // the secondary's upstream port
  auto lb = p.b->link_status();
  ASSERT_TRUE(lb.has_value());
  EXPECT_EQ(lb->speed_code, 3);
  EXPECT_EQ(lb->width, 4);
}

}  // namespace
}  // namespace pbx::ntb::amd
