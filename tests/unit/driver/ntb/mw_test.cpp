// Memory-window translation: alignment rules per part, the registers programmed, read-back
// verification against a model with stuck bits, and closing a window.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "b2b_pair.h"
#include "pbx/ntb/intel/regs.h"

namespace pbx::ntb::intel {
namespace {

using test::IntelNtbModel;
using test::IntelNtbModelSpec;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr uint64_t kMiB = 1ull << 20;

struct Attached {
  explicit Attached(Part part, uint64_t bar2_size = kMiB) : model(spec(part, bar2_size)) {
    auto r = IntelNtb::attach(model.attach_params("0000:af:00.0"));
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message());
    if (r) ntb.emplace(std::move(*r));
  }
  static IntelNtbModelSpec spec(Part part, uint64_t bar2_size) {
    IntelNtbModelSpec s;
    s.part = part;
    s.bar2_size = bar2_size;
    return s;
  }
  IntelNtbModel model;
  std::optional<IntelNtb> ntb;
};

TEST(MemoryWindow, InfoComesFromConfigSpaceAndThePart) {
  Attached skx(Part::kSkx, 8 * kMiB);
  EXPECT_EQ(skx.ntb->mw(0).bar, 2u);
  EXPECT_EQ(skx.ntb->mw(0).bus_addr, 0x3f100000000ull);
  EXPECT_EQ(skx.ntb->mw(0).size, 8 * kMiB);
  EXPECT_EQ(skx.ntb->mw(0).addr_align, 8 * kMiB);
  EXPECT_EQ(skx.ntb->mw(1).bar, 4u);
  EXPECT_EQ(skx.ntb->mw(1).bus_addr, 0x3f200000000ull);
  Attached spr(Part::kSpr, 8 * kMiB);
  EXPECT_EQ(spr.ntb->mw(0).addr_align, 4096u);
}

TEST(MemoryWindow, Gen3ProgramsTranslationLimitAndExternalLimit) {
  Attached a(Part::kSkx);
  ASSERT_TRUE(a.ntb->mw_set_trans(0, 0x40000000, kMiB).has_value());
  EXPECT_EQ(a.model.peek(0x10, 8), 0x40000000u);                  // IMBAR1XBASE
  EXPECT_EQ(a.model.peek(0x18, 8), 0x3f100000000ull + kMiB);      // IMBAR1XLMT = BAR2 base + size
  EXPECT_EQ(a.model.peek(0x4018, 8), kB2bBar2Addr + kMiB);        // EMBAR1XLMT = SBAR23BASE + size
  const auto t = a.model.translation(0);
  EXPECT_TRUE(t.open);
  EXPECT_EQ(t.xlat, 0x40000000u);
  EXPECT_EQ(t.size, kMiB);
  EXPECT_FALSE(a.model.translation(1).open);
  EXPECT_THAT(a.model.violations(), IsEmpty());
}

TEST(MemoryWindow, Gen3SmallerThanTheBarLimitsTheWindow) {
  Attached a(Part::kSkx, 8 * kMiB);
  ASSERT_TRUE(a.ntb->mw_set_trans(1, 0x80000000, 64 * 1024).has_value());
  EXPECT_EQ(a.model.translation(1).size, 64u * 1024);
  EXPECT_EQ(a.model.peek(0x4028, 8), kB2bBar4Addr + 64 * 1024);
}

TEST(MemoryWindow, Gen3AndIceLakeRequireAddressesAlignedToTheBarSize) {
  for (Part part : {Part::kSkx, Part::kIcx}) {
    Attached a(part, 2 * kMiB);
    auto r = a.ntb->mw_set_trans(0, 0x40100000, kMiB);  // 1 MiB aligned, not 2 MiB
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
    const std::string m = r.error().message();
    EXPECT_THAT(m, HasSubstr("0000:af:00.0"));
    EXPECT_THAT(m, HasSubstr("memory window 0 (BAR2, 2 MiB)"));
    EXPECT_THAT(m, HasSubstr("translation address 0x40100000 is not aligned to the BAR size"));
    EXPECT_THAT(m, HasSubstr("aligned to 2 MiB"));
    EXPECT_THAT(m, HasSubstr("Imbar1/Imbar2/Embar1/Embar2 size"));
    EXPECT_EQ(a.model.peek(0x10, 8), 0u) << "nothing programmed";
  }
}

TEST(MemoryWindow, SapphireRapidsAndLaterNeedOnlyPageAlignment) {
  for (Part part : {Part::kSpr, Part::kGnr, Part::kDmr}) {
    Attached a(part, 2 * kMiB);
    ASSERT_TRUE(a.ntb->mw_set_trans(0, 0x40101000, kMiB).has_value()) << part_info(part).code;
    const auto t = a.model.translation(0);
    EXPECT_TRUE(t.open);
    EXPECT_EQ(t.xlat, 0x40101000u);
    EXPECT_EQ(t.size, kMiB);
    EXPECT_EQ(a.model.peek(0x74, 2), 20u);  // IM23XBASEIDX = log2(1 MiB)
    auto r = a.ntb->mw_set_trans(0, 0x40100800, kMiB);
    ASSERT_FALSE(r.has_value());
    EXPECT_THAT(r.error().message(), HasSubstr("not aligned to a 4 KiB page"));
  }
}

TEST(MemoryWindow, Gen4WindowIndexHoldsLog2OfTheSize) {
  Attached a(Part::kIcx, 8 * kMiB);
  ASSERT_TRUE(a.ntb->mw_set_trans(0, 0, 8 * kMiB).has_value());
  EXPECT_EQ(a.model.peek(0x74, 2), 23u);  // IM23XBASEIDX
  EXPECT_TRUE(a.model.translation(0).open);
  ASSERT_TRUE(a.ntb->mw_set_trans(1, 0x40000000, kMiB).has_value());  // BAR4 is 1 MiB
  EXPECT_EQ(a.model.peek(0x76, 2), 20u);  // IM45XBASEIDX
  EXPECT_TRUE(a.model.translation(1).open);
}

TEST(MemoryWindow, Gen4RejectsSizesThatAreNotAPowerOfTwo) {
  Attached a(Part::kSpr);
  auto r = a.ntb->mw_set_trans(0, 0x40000000, 768 * 1024);
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("size 768 KiB is not a power of two"));
  EXPECT_THAT(r.error().message(), HasSubstr("IM23XBASEIDX"));
  Attached g3(Part::kSkx);
  EXPECT_TRUE(g3.ntb->mw_set_trans(0, 0x40000000, 768 * 1024).has_value()) << "gen3 has a plain limit";
}

TEST(MemoryWindow, RejectsBadSizesAndIndices) {
  Attached a(Part::kSpr);
  EXPECT_THAT(a.ntb->mw_set_trans(0, 0x40000000, 2 * kMiB).error().message(), HasSubstr("size 2 MiB is invalid"));
  EXPECT_THAT(a.ntb->mw_set_trans(0, 0x40000000, 0).error().message(), HasSubstr("size 0 bytes is invalid"));
  EXPECT_THAT(a.ntb->mw_set_trans(0, 0x40000000, 1000).error().message(), HasSubstr("multiple of 4 KiB"));
  EXPECT_THAT(a.ntb->mw_set_trans(2, 0, kMiB).error().message(), HasSubstr("memory window 2 does not exist"));
  EXPECT_THAT(a.ntb->mw_clear_trans(2).error().message(), HasSubstr("memory window 2 does not exist"));
}

TEST(MemoryWindow, TranslationReadBackMismatchClosesTheWindow) {
  Attached a(Part::kSkx);
  a.model.stick(0x10, 1ull << 30, 0);  // IMBAR1XBASE bit 30 stuck at 0
  auto r = a.ntb->mw_set_trans(0, 0x40000000, kMiB);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kIoError);
  const std::string m = r.error().message();
  EXPECT_THAT(m, HasSubstr("IMBAR1XBASE (BAR0+0x10) reads back 0x0 after writing 0x40000000"));
  EXPECT_THAT(m, HasSubstr("'Enable NTB BARs' = Enabled"));
  EXPECT_THAT(m, HasSubstr("window was left closed"));
  EXPECT_EQ(a.model.peek(0x10, 8), 0u);
  EXPECT_FALSE(a.model.translation(0).open);
}

TEST(MemoryWindow, LimitReadBackMismatchRestoresAZeroLengthWindow) {
  Attached a(Part::kSpr);
  a.model.stick(0x28, 1ull << 20, 0);  // IM45XLMT bit 20 stuck at 0
  auto r = a.ntb->mw_set_trans(1, 0x40000000, kMiB);
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("IM45XLMT (BAR0+0x28) reads back"));
  EXPECT_EQ(a.model.peek(0x20, 8), 0u);
  EXPECT_EQ(a.model.peek(0x28, 8), 0x3f200000000ull);  // limit == base: zero length
  EXPECT_FALSE(a.model.translation(1).open);
}

TEST(MemoryWindow, Gen3ExternalLimitReadBackIsVerified) {
  Attached a(Part::kSkx);
  a.model.stick(0x4018, 1ull << 20, 0);
  auto r = a.ntb->mw_set_trans(0, 0x40000000, kMiB);
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("EMBAR1XLMT (BAR0+0x4018) reads back"));
  EXPECT_FALSE(a.model.translation(0).open);
  EXPECT_EQ(a.model.peek(0x10, 8), 0u);
}

TEST(MemoryWindow, Gen4WindowIndexReadBackIsVerified) {
  Attached a(Part::kIcx);
  a.model.stick(0x74, 0x3f, 0);
  auto r = a.ntb->mw_set_trans(0, 0, kMiB);
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("IM23XBASEIDX (BAR0+0x74) reads back 0x0 after writing 0x14"));
  EXPECT_FALSE(a.model.translation(0).open);
}

TEST(MemoryWindow, ClearTransClosesTheWindow) {
  for (Part part : {Part::kSkx, Part::kSpr}) {
    Attached a(part);
    ASSERT_TRUE(a.ntb->mw_set_trans(0, 0x40000000, kMiB).has_value());
    ASSERT_TRUE(a.model.translation(0).open);
    ASSERT_TRUE(a.ntb->mw_clear_trans(0).has_value());
    EXPECT_FALSE(a.model.translation(0).open);
    EXPECT_EQ(a.model.peek(0x10, 8), 0u);
    EXPECT_THAT(a.model.violations(), IsEmpty());
  }
}

TEST(MemoryWindow, FormatSize) {
  EXPECT_EQ(format_size(0), "0 bytes");
  EXPECT_EQ(format_size(1000), "1000 bytes");
  EXPECT_EQ(format_size(4096), "4 KiB");
  EXPECT_EQ(format_size(512 * kMiB), "512 MiB");
  EXPECT_EQ(format_size(3ull << 40), "3 TiB");
}

}  // namespace
}  // namespace pbx::ntb::intel
