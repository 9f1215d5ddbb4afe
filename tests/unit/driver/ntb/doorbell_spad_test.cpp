// Doorbells (ring the peer, write-1-to-clear status, mask) and scratchpads (local, and the
// peer's through the link) on a back-to-back pair of each register model.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "b2b_pair.h"
#include "pbx/ntb/intel/regs.h"

namespace pbx::ntb::intel {
namespace {

using test::B2bPair;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class Crossing : public ::testing::TestWithParam<Part> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(p.attach());
    ASSERT_TRUE(p.bring_up());
    ASSERT_TRUE(p.a->poll_link().has_value());  // acknowledge the link events
    ASSERT_TRUE(p.b->poll_link().has_value());
  }
  void TearDown() override {
    EXPECT_THAT(p.usd.violations(), IsEmpty());
    EXPECT_THAT(p.dsd.violations(), IsEmpty());
  }
  B2bPair p{GetParam()};
};

TEST_P(Crossing, RingingThePeerSetsItsStatusBits) {
  ASSERT_TRUE(p.a->peer_db_set(0b101).has_value());
  EXPECT_EQ(p.b->db_read(), 0b101u);
  EXPECT_EQ(p.a->db_read(), 0u) << "ringing does not set our own bits";
  ASSERT_TRUE(p.b->peer_db_set(1u << 31).has_value());
  EXPECT_EQ(p.a->db_read(), 1u << 31);
}

TEST_P(Crossing, StatusIsWriteOneToClear) {
  ASSERT_TRUE(p.a->peer_db_set(0b111).has_value());
  ASSERT_TRUE(p.b->db_clear(0b010).has_value());
  EXPECT_EQ(p.b->db_read(), 0b101u) << "only the written ones clear";
  ASSERT_TRUE(p.b->db_clear(0).has_value());
  EXPECT_EQ(p.b->db_read(), 0b101u);
  ASSERT_TRUE(p.b->db_clear(0b101).has_value());
  EXPECT_EQ(p.b->db_read(), 0u);
}

TEST_P(Crossing, InvalidDoorbellBitsAreRejected) {
  auto r = p.a->peer_db_set(uint64_t{1} << 40);
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("0000:af:00.0: peer_db_set(0x10000000000)"));
  EXPECT_FALSE(p.a->db_clear(kDbLinkMask).has_value()) << "the link bit is the driver's own";
  EXPECT_FALSE(p.a->db_set_mask(kDbLinkMask).has_value());
}

TEST_P(Crossing, MaskIsCachedAndWrittenButDoesNotHideStatus) {
  ASSERT_TRUE(p.b->db_clear_mask(0b11).has_value());
  EXPECT_EQ(p.dsd.peek(0x48, 8), kDbValidMask & ~uint64_t{0b11});
  ASSERT_TRUE(p.b->db_set_mask(0b1).has_value());
  EXPECT_EQ(p.dsd.peek(0x48, 8), kDbValidMask & ~uint64_t{0b10});
  EXPECT_EQ(p.b->db_mask(), kDbValidMask & ~uint64_t{0b10});
  ASSERT_TRUE(p.a->peer_db_set(0b1).has_value());  // masked: no interrupt, but the bit is set
  EXPECT_EQ(p.b->db_read(), 0b1u);
}

TEST_P(Crossing, StatusShowsTheLinkEventThatDbReadHides) {
  ASSERT_TRUE(p.b->link_disable().has_value());
  EXPECT_EQ(p.a->db_status() & kDbLinkMask, kDbLinkMask);
  EXPECT_EQ(p.a->db_read() & kDbLinkMask, 0u);
}

TEST_P(Crossing, IntvecRoutesSourcesToVectors) {
  const std::size_t intvec = part_info(GetParam()).regs == Gen::kGen3 ? 0xd0 : 0x50;
  ASSERT_TRUE(p.a->set_intvec(5, 0).has_value());
  ASSERT_TRUE(p.a->set_intvec(32, 1).has_value());
  EXPECT_EQ(p.usd.peek(intvec + 5, 1), 0u);
  EXPECT_EQ(p.usd.peek(intvec + 32, 1), 1u);
  EXPECT_FALSE(p.a->set_intvec(33, 0).has_value());
  EXPECT_FALSE(p.a->set_intvec(0, 33).has_value());
}

TEST_P(Crossing, ScratchpadsCrossInBothDirections) {
  ASSERT_TRUE(p.a->peer_spad_write(3, 0xdeadbeef).has_value());
  EXPECT_EQ(*p.b->spad_read(3), 0xdeadbeefu);
  EXPECT_EQ(*p.a->spad_read(3), 0u) << "our own scratchpad is untouched";
  ASSERT_TRUE(p.b->peer_spad_write(15, 7).has_value());
  EXPECT_EQ(*p.a->spad_read(15), 7u);
  EXPECT_EQ(*p.a->peer_spad_read(3), 0xdeadbeefu) << "reads the peer's local scratchpad";
  ASSERT_TRUE(p.a->spad_write(0, 42).has_value());
  EXPECT_EQ(*p.a->spad_read(0), 42u);
  EXPECT_EQ(*p.b->peer_spad_read(0), 42u);
}

TEST_P(Crossing, ScratchpadIndexIsChecked) {
  auto r = p.a->peer_spad_write(16, 1);
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("peer scratchpad 16 does not exist (0..15)"));
  EXPECT_FALSE(p.a->spad_read(16).has_value());
}

TEST_P(Crossing, WritesToThePeerAreDroppedWhileTheLinkIsDown) {
  ASSERT_TRUE(p.b->link_disable().has_value());
  ASSERT_TRUE(p.a->peer_spad_write(1, 99).has_value());
  ASSERT_TRUE(p.a->peer_db_set(1).has_value());
  EXPECT_EQ(p.usd.dropped_peer_writes(), 2u);
  EXPECT_EQ(*p.b->spad_read(1), 0u);
  EXPECT_EQ(p.b->db_read(), 0u);
  EXPECT_EQ(*p.a->peer_spad_read(1), 0xffffffffu) << "a read across a down link master-aborts";
}

INSTANTIATE_TEST_SUITE_P(AllParts, Crossing, ::testing::Values(Part::kSkx, Part::kIcx, Part::kSpr, Part::kDmr),
                         test::part_name);

}  // namespace
}  // namespace pbx::ntb::intel
