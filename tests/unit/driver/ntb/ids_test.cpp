// Identification of the supported Intel NTB parts and their facts.
#include "pbx/ntb/intel/ids.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pbx::ntb::intel {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Part part_of(uint16_t device, uint8_t rev) {
  auto p = identify(kVendorIntel, device, rev, "0000:af:00.0");
  EXPECT_TRUE(p.has_value()) << (p ? "" : p.error().message());
  return p ? (*p)->part : Part::kSkx;
}

TEST(IntelIds, SkylakeIsGen3) {
  EXPECT_EQ(part_of(0x201c, 0x04), Part::kSkx);
  EXPECT_EQ(part_info(Part::kSkx).regs, Gen::kGen3);
  EXPECT_EQ(part_info(Part::kSkx).ppd, PpdLayout::kGen3Config);
}

TEST(IntelIds, IceLakeAndSapphireRapidsShareTheIdAndDifferByRevision) {
  EXPECT_EQ(part_of(0x347e, 0x02), Part::kIcx);
  EXPECT_EQ(part_of(0x347e, 0x0f), Part::kIcx);
  EXPECT_EQ(part_of(0x347e, 0x10), Part::kSpr);
  EXPECT_EQ(part_of(0x347e, 0xff), Part::kSpr);
  EXPECT_EQ(part_info(Part::kIcx).ppd, PpdLayout::kIcxMmio);
  EXPECT_EQ(part_info(Part::kSpr).ppd, PpdLayout::kSprMmio);
}

TEST(IntelIds, PreProductionIceLakeRevisionIsRejected) {
  auto p = identify(kVendorIntel, 0x347e, 0x01, "0000:af:00.0");
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code(), Errc::kNotSupported);
  EXPECT_THAT(p.error().message(), HasSubstr("0000:af:00.0"));
  EXPECT_THAT(p.error().message(), HasSubstr("revision 0x01"));
}

TEST(IntelIds, GraniteAndDiamondRapidsUseTheGen4ModelWithSprTopology) {
  EXPECT_EQ(part_of(0x0db4, 0x00), Part::kGnr);
  EXPECT_EQ(part_of(0x7868, 0x00), Part::kDmr);
  for (Part p : {Part::kGnr, Part::kDmr}) {
    EXPECT_EQ(part_info(p).regs, Gen::kGen4);
    EXPECT_EQ(part_info(p).ppd, PpdLayout::kSprMmio);
  }
  EXPECT_EQ(part_info(Part::kGnr).ppd0_offset, 0xb0d4u);
  EXPECT_EQ(part_info(Part::kDmr).ppd0_offset, 0xf0d4u);
}

TEST(IntelIds, AlignmentAndLtrFollowThePart) {
  EXPECT_TRUE(part_info(Part::kSkx).mw_addr_align_bar_size);
  EXPECT_TRUE(part_info(Part::kIcx).mw_addr_align_bar_size);
  EXPECT_FALSE(part_info(Part::kSpr).mw_addr_align_bar_size);
  EXPECT_FALSE(part_info(Part::kGnr).mw_addr_align_bar_size);
  EXPECT_FALSE(part_info(Part::kDmr).mw_addr_align_bar_size);
  EXPECT_FALSE(part_info(Part::kSkx).program_ltr);
  EXPECT_FALSE(part_info(Part::kIcx).program_ltr);
  EXPECT_TRUE(part_info(Part::kSpr).program_ltr);
}

TEST(IntelIds, SupportedDeviceIdsAreTheDistinctIdsOfThePartTable) {
  EXPECT_THAT(supported_device_ids(), ElementsAre(0x201c, 0x347e, 0x0db4, 0x7868));
  for (const PartInfo& p : parts()) {
    bool listed = false;
    for (uint16_t id : supported_device_ids()) listed |= id == p.device_id;
    EXPECT_TRUE(listed) << p.code;
  }
}

TEST(IntelIds, UnsupportedDevicesNameTheDeviceAndTheIds) {
  auto gen1 = identify(kVendorIntel, 0x6f0d, 0, "0000:03:00.0");
  ASSERT_FALSE(gen1.has_value());
  EXPECT_THAT(gen1.error().message(), HasSubstr("0000:03:00.0 [8086:6f0d]"));
  EXPECT_THAT(gen1.error().message(), HasSubstr("gen1"));
  auto amd = identify(0x1022, 0x145b, 0, "0000:04:00.0");
  ASSERT_FALSE(amd.has_value());
  EXPECT_EQ(amd.error().code(), Errc::kNotSupported);
  EXPECT_THAT(amd.error().message(), HasSubstr("not an Intel NTB"));
}

}  // namespace
}  // namespace pbx::ntb::intel
