// PPD decoding and the topology check: back-to-back only, with the BIOS setting in the error.
#include "pbx/ntb/intel/topology.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pbx::ntb::intel {
namespace {

using ::testing::HasSubstr;

Result<Side> check(Part p, uint32_t ppd) {
  const PartInfo& info = part_info(p);
  return check_topology(info, decode_ppd(info.ppd, ppd), "0000:af:00.0");
}

TEST(IntelTopology, Gen3BackToBackGivesTheSide) {
  ASSERT_TRUE(check(Part::kSkx, 0x01).has_value());
  EXPECT_EQ(*check(Part::kSkx, 0x01), Side::kUsd);
  EXPECT_EQ(*check(Part::kSkx, 0x11), Side::kDsd);
  EXPECT_EQ(node_index(Side::kUsd), 0);
  EXPECT_EQ(node_index(Side::kDsd), 1);
}

TEST(IntelTopology, Gen3TransparentAndRootPortAreRejectedNamingTheBiosSetting) {
  auto t = check(Part::kSkx, 0x00);
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().code(), Errc::kNotSupported);
  EXPECT_THAT(t.error().message(), HasSubstr("0000:af:00.0"));
  EXPECT_THAT(t.error().message(), HasSubstr("transparent"));
  EXPECT_THAT(t.error().message(), HasSubstr("PPD (config 0xd4)"));
  EXPECT_THAT(t.error().message(), HasSubstr("'Non-Transparent Bridge PCIe Port Definition' to 'NTB to NTB'"));
  auto rp = check(Part::kSkx, 0x12);
  ASSERT_FALSE(rp.has_value());
  EXPECT_THAT(rp.error().message(), HasSubstr("root port"));
  EXPECT_THAT(rp.error().message(), HasSubstr("NTB to NTB"));
  EXPECT_EQ(decode_ppd(PpdLayout::kGen3Config, 0x03).conn, Conn::kOther);
}

TEST(IntelTopology, Gen3SplitBarIsRejected) {
  const Topology t = decode_ppd(PpdLayout::kGen3Config, 0x41);
  EXPECT_TRUE(t.split_bar);
  EXPECT_EQ(t.conn, Conn::kB2b);
  auto r = check(Part::kSkx, 0x41);
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("'Enable SPLIT BARs' to Disabled"));
}

TEST(IntelTopology, IceLakeKeepsTheSideInBit12) {
  EXPECT_EQ(*check(Part::kIcx, 0x0200), Side::kUsd);
  EXPECT_EQ(*check(Part::kIcx, 0x1200), Side::kDsd);
  EXPECT_EQ(*check(Part::kIcx, 0x4200), Side::kUsd);  // bit 14 means nothing on ICX
  EXPECT_EQ(*check(Part::kIcx, 0x0600), Side::kUsd);  // bit 10 is outside ICX's 2-bit field
}

TEST(IntelTopology, SapphireRapidsAndLaterKeepTheSideInBit14) {
  for (Part p : {Part::kSpr, Part::kGnr, Part::kDmr}) {
    EXPECT_EQ(*check(p, 0x4200), Side::kDsd);
    EXPECT_EQ(*check(p, 0x1200), Side::kUsd);  // bit 12 is a configuration bit, not the side
    auto wide = check(p, 0x0600);              // a 3-bit connection field
    ASSERT_FALSE(wide.has_value());
    EXPECT_THAT(wide.error().message(), HasSubstr("PPD1 (BAR0 0xb4c0) = 0x00000600"));
    EXPECT_THAT(wide.error().message(), HasSubstr("not back-to-back"));
  }
}

TEST(IntelTopology, AllOnesMeansTheDeviceDoesNotAnswer) {
  auto r = check(Part::kSpr, 0xffffffff);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kIoError);
  EXPECT_THAT(r.error().message(), HasSubstr("does not answer"));
}

}  // namespace
}  // namespace pbx::ntb::intel
