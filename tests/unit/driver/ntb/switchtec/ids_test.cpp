// Switchtec identification: which functions are NT endpoints, part names, and the IOMMU
// alias-quirk check against the kernel release.
#include "pbx/ntb/switchtec/ids.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pbx::ntb::switchtec {
namespace {

using ::testing::HasSubstr;
using State = AliasQuirk::State;

TEST(SwitchtecIds, NtEndpointsAreBridgeOtherFunctionsOfMicrochip) {
  EXPECT_TRUE(is_nt_endpoint(0x11f8, 0x068000));
  EXPECT_TRUE(is_nt_endpoint(0x1055, 0x068000));   // PCI100x, under the EFAR vendor ID
  EXPECT_FALSE(is_nt_endpoint(0x11f8, 0x058000));  // the management endpoint
  EXPECT_FALSE(is_nt_endpoint(0x8086, 0x068000));
}

TEST(SwitchtecIds, PartsAndGenerationsFromLinuxsTable) {
  EXPECT_STREQ(lookup(0x11f8, 0x8536)->name, "PFX 96xG3");
  EXPECT_EQ(lookup(0x11f8, 0x8536)->gen, 3);
  EXPECT_STREQ(lookup(0x11f8, 0x4228)->name, "PAX 28XG4");
  EXPECT_EQ(lookup(0x11f8, 0x4528)->gen, 4);
  EXPECT_STREQ(lookup(0x11f8, 0x5552)->name, "PAXA 52XG5");
  EXPECT_EQ(lookup(0x11f8, 0x5000)->gen, 5);
  EXPECT_STREQ(lookup(0x1055, 0x1003)->name, "PCI1003XG4");
  EXPECT_FALSE(lookup(0x11f8, 0x6000).has_value());  // a newer part: driven, but unnamed
  EXPECT_FALSE(lookup(0x1055, 0x8536).has_value());
  EXPECT_EQ(describe(0x11f8, 0x4036), "PFX 36XG4 (gen4)");
  EXPECT_EQ(describe(0x11f8, 0x6000), "unknown Switchtec [11f8:6000]");
}

TEST(SwitchtecIds, AliasQuirkCoveredFromTheReleaseThatAddedIt) {
  auto ok = check_alias_quirk(0x11f8, 0x8536, "4.19.0-27-amd64");
  EXPECT_EQ(ok.state, State::kCovered);
  EXPECT_THAT(ok.message, HasSubstr("since Linux 4.19"));
  auto old = check_alias_quirk(0x11f8, 0x8536, "4.18.20");
  EXPECT_EQ(old.state, State::kMissing);
  EXPECT_THAT(old.message, HasSubstr("kernel 4.18.20 predates Linux 4.19"));
  EXPECT_THAT(old.message, HasSubstr("iommu=pt"));
  EXPECT_EQ(check_alias_quirk(0x1055, 0x1001, "6.13.2").state, State::kMissing);
  EXPECT_EQ(check_alias_quirk(0x1055, 0x1001, "6.14.0").state, State::kCovered);
  EXPECT_EQ(check_alias_quirk(0x1055, 0x1001, "10.1").state, State::kCovered);  // compared as numbers
}

TEST(SwitchtecIds, AliasQuirkUnknownSaysWhatToCheck) {
  auto gen4 = check_alias_quirk(0x11f8, 0x4036, "6.1.0-13-amd64");
  EXPECT_EQ(gen4.state, State::kUnknown);
  EXPECT_THAT(gen4.message, HasSubstr("check that the quirks.c of kernel 6.1.0-13-amd64 lists 0x4036"));
  auto unknown = check_alias_quirk(0x11f8, 0x6000, "6.1.0");
  EXPECT_EQ(unknown.state, State::kUnknown);
  EXPECT_THAT(unknown.message, HasSubstr("[11f8:6000]"));
  EXPECT_EQ(check_alias_quirk(0x11f8, 0x8536, "weird").state, State::kUnknown);
}

}  // namespace
}  // namespace pbx::ntb::switchtec
