// Windows programmed by their owner (outbound_set_trans, what the N-host HAL backend uses): our
// own control block's range for each peer, in one transaction, refused before touching the
// switch when it cannot be right, and carrying stores into the peer's memory.
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

using Trans = SwitchtecNtb::OutboundTrans;

TEST(Outbound, EachPeersRangeOfOurBlockLeadsWhereWeSayInOneTransaction) {
  SwitchFixture f(SwitchtecModelSpec::mesh(3));  // 32 entries: 16 for partition 1, 16 for partition 2
  auto a = f.attach(0);
  ASSERT_TRUE(a.has_value()) << a.error().message();
  ASSERT_TRUE(a->outbound_set_trans({Trans{0x100000000, 2 * k64K}, Trans{0x200000000, 16 * k64K}}).has_value());
  EXPECT_EQ(f.sw.configures(0), 1u) << "our own block, once";
  EXPECT_EQ(f.sw.configures(1) + f.sw.configures(2), 0u) << "no peer's block";
  const std::size_t c0 = ctrl_offset(0);
  EXPECT_EQ(f.sw.peek(c0 + kLut0, 8), kLutEn | 1u << 1 | 0x100000000);
  EXPECT_EQ(f.sw.peek(c0 + kLut0 + 8, 8), kLutEn | 1u << 1 | (0x100000000 + k64K));
  EXPECT_EQ(f.sw.peek(c0 + kLut0 + 16, 8), 0u) << "the rest of partition 1's range stays off";
  EXPECT_EQ(f.sw.peek(c0 + kLut0 + 8 * 16, 8), kLutEn | 2u << 1 | 0x200000000);
  EXPECT_EQ(f.sw.peek(c0 + kLut0 + 8 * 31, 8), kLutEn | 2u << 1 | (0x200000000 + 15 * k64K));
  EXPECT_EQ(f.sw.peek(c0 + 0x40 + 0x10 * 2, 4), kBarValid | kBarLutWinEn | (16u << 8) | (31u << 14));
  // Turned off again.
  ASSERT_TRUE(a->outbound_set_trans(std::vector<Trans>(2)).has_value());
  for (unsigned e = 0; e < 32; ++e) EXPECT_EQ(f.sw.peek(c0 + kLut0 + 8 * e, 8), 0u) << e;
  EXPECT_THAT(f.sw.violations(), IsEmpty());
}

TEST(Outbound, WrongCountsSizesAndAddressesAreRefusedBeforeTouchingTheSwitch) {
  SwitchFixture f(SwitchtecModelSpec::mesh(3));
  auto a = f.attach(0);
  ASSERT_TRUE(a.has_value());
  EXPECT_THAT(a->outbound_set_trans({Trans{}}).error().message(), HasSubstr("1 translations for 2 peers"));
  EXPECT_THAT(a->outbound_set_trans({Trans{0, 17 * k64K}, Trans{}}).error().message(),
              HasSubstr("at most the 1 MiB of LUT entries partition 1 owns in our block"));
  EXPECT_THAT(a->outbound_set_trans({Trans{0, 1000}, Trans{}}).error().message(),
              HasSubstr("a multiple of the LUT window size"));
  EXPECT_THAT(a->outbound_set_trans({Trans{}, Trans{0x1000, k64K}}).error().message(),
              HasSubstr("outbound window to partition 2: address 0x1000 is not aligned"));
  EXPECT_EQ(f.sw.configures(0), 0u);
  EXPECT_EQ(f.sw.status(0), kStatusNormal);
}

TEST(Outbound, OurStoresReachThePeersMemoryThroughTheRangeWeProgrammed) {
  SwitchFixture f(SwitchtecModelSpec::mesh(3));
  auto a = f.attach(0);
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(a->setup_requester_ids().has_value());
  std::vector<std::byte> mem2(4 * k64K);
  f.sw.add_memory(2, 0x300000000, mem2);  // partition 2's host keeps this for us
  ASSERT_TRUE(a->outbound_set_trans({Trans{}, Trans{0x300000000, 4 * k64K}}).has_value());
  const char msg[] = "to partition 2";
  auto w = a->peer_window(1);
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE(f.sw.write_through(0, w->bar, w->offset + 2 * k64K + 24, msg, sizeof msg)) << f.sw.last_drop();
  EXPECT_EQ(std::memcmp(mem2.data() + 2 * k64K + 24, msg, sizeof msg), 0);
  auto w1 = a->peer_window(0);
  EXPECT_FALSE(f.sw.write_through(0, w1->bar, w1->offset, msg, sizeof msg)) << "partition 1's range is off";
  EXPECT_FALSE(f.sw.write_through(0, w->bar, w->offset + 4 * k64K, msg, sizeof msg)) << "beyond what we enabled";
}

}  // namespace
}  // namespace pbx::ntb::switchtec
