// Bring-up of a back-to-back pair on every supported part: what attach programs, the link
// training through the state machine, and attach's refusals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "b2b_pair.h"
#include "pbx/ntb/intel/regs.h"

namespace pbx::ntb::intel {
namespace {

using test::B2bPair;
using test::IntelNtbModel;
using test::IntelNtbModelSpec;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class BringUp : public ::testing::TestWithParam<Part> {};

TEST_P(BringUp, AttachProgramsB2bWindowsDoorbellMaskAndVectors) {
  B2bPair p(GetParam());
  ASSERT_TRUE(p.attach());
  const bool gen3 = part_info(GetParam()).regs == Gen::kGen3;
  for (IntelNtbModel* m : {&p.usd, &p.dsd}) {
    EXPECT_EQ(m->peek(0x18, 8), kB2bBar2Addr);  // zero-length incoming windows
    EXPECT_EQ(m->peek(0x28, 8), kB2bBar4Addr);
    EXPECT_EQ(m->peek(0x10, 8), 0u);
    EXPECT_EQ(m->peek(0x20, 8), 0u);
    EXPECT_EQ(m->peek(0x48, 8), kDbValidMask);  // every doorbell masked
    const std::size_t intvec = gen3 ? 0xd0 : 0x50;
    for (unsigned i = 0; i < 32; ++i) EXPECT_EQ(m->peek(intvec + i, 1), i) << "INTVEC" << i;
    EXPECT_EQ(m->peek(intvec + 32, 1), gen3 ? 31u : 32u);  // SKX: vector 32 is broken
    if (gen3)
      EXPECT_EQ(m->peek(0x4504, 2), 0x6u);  // secondary side: memory + bus master
    else
      EXPECT_NE(m->peek(0xb050, 2) & gen4::kLinkCtrlDisable, 0u);  // link held down until enabled
    EXPECT_THAT(m->violations(), IsEmpty());
  }
  EXPECT_EQ(p.a->side(), Side::kUsd);
  EXPECT_EQ(p.a->node_index(), 0);
  EXPECT_EQ(p.b->side(), Side::kDsd);
  EXPECT_EQ(p.b->node_index(), 1);
  EXPECT_EQ(p.a->part().part, GetParam());
}

TEST_P(BringUp, LinkTrainsWhenBothSidesEnableIt) {
  B2bPair p(GetParam());
  ASSERT_TRUE(p.attach());
  EXPECT_FALSE(p.usd.link_up());
  ASSERT_TRUE(p.bring_up());
  EXPECT_TRUE(p.usd.link_up());
  EXPECT_GT(p.rounds, 1u);  // the model trains over several polls: the state machine waited
  EXPECT_TRUE(p.link.active);
  EXPECT_EQ(p.link.width, 16);
  EXPECT_EQ(p.link.speed_code, part_info(GetParam()).regs == Gen::kGen3 ? 3 : 4);
  // The link event (status bit 32) was acknowledged by the last poll on each side.
  auto l = p.a->poll_link();
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(p.usd.status() & kDbLinkMask, 0u);
  EXPECT_THAT(p.usd.violations(), IsEmpty());
  EXPECT_THAT(p.dsd.violations(), IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(AllParts, BringUp, ::testing::Values(Part::kSkx, Part::kIcx, Part::kSpr, Part::kGnr, Part::kDmr),
                         test::part_name);

TEST(BringUpGen4, SapphireRapidsProgramsLtrAndIceLakeDoesNot) {
  B2bPair spr(Part::kSpr);
  ASSERT_TRUE(spr.attach());
  ASSERT_TRUE(spr.bring_up());
  EXPECT_EQ(spr.usd.peek(0x30f0, 4), 0x88008800u);  // active: 0 us, snoop and non-snoop
  EXPECT_EQ(spr.usd.peek(0x30f4, 4), 0x8a588a58u);  // idle: 600 us
  EXPECT_EQ(spr.usd.peek(0x30ec, 1), gen4::kLtrSwselActive);
  ASSERT_TRUE(spr.a->link_disable().has_value());
  EXPECT_EQ(spr.usd.peek(0x30ec, 1), gen4::kLtrSwselIdle);

  B2bPair icx(Part::kIcx);
  icx.usd.poke(0x30f0, 4, 0xfeedu);  // whatever firmware left: must stay
  ASSERT_TRUE(icx.attach());
  ASSERT_TRUE(icx.bring_up());
  EXPECT_EQ(icx.usd.peek(0x30f0, 4), 0xfeedu);
}

TEST(BringUpGen4, LinkEnableSetsSnoopBitsAndStartsTraining) {
  B2bPair p(Part::kGnr);
  ASSERT_TRUE(p.attach());
  ASSERT_TRUE(p.a->link_enable().has_value());
  EXPECT_EQ(p.usd.peek(0x0, 4), gen4::kCtlSnoopAll);
  EXPECT_EQ(p.usd.peek(0xb050, 2) & gen4::kLinkCtrlDisable, 0u);
  EXPECT_NE(p.usd.peek(0xb0d4, 4) & gen4::kPpdLinkTrn, 0u);
  EXPECT_TRUE(p.usd.link_enabled());
}

TEST(BringUpGen4, DiamondRapidsTrainsThroughPpd0At0xF0D4) {
  B2bPair p(Part::kDmr);
  ASSERT_TRUE(p.attach());
  ASSERT_TRUE(p.a->link_enable().has_value());
  EXPECT_NE(p.usd.peek(0xf0d4, 4) & gen4::kPpdLinkTrn, 0u);
  EXPECT_THAT(p.usd.violations(), IsEmpty());  // 0xb0d4 is no register on DMR: never touched
}

TEST(BringUpGen3, LinkEnableClearsDisableAndLockAndSetsSnoop) {
  B2bPair p(Part::kSkx);
  ASSERT_TRUE(p.attach());
  EXPECT_EQ(p.usd.peek(0x0, 4), gen3::kCtlCfgLock | gen3::kCtlDisable);  // reset state kept by attach
  ASSERT_TRUE(p.a->link_enable().has_value());
  EXPECT_EQ(p.usd.peek(0x0, 4), gen3::kCtlSnoopAll);
  ASSERT_TRUE(p.a->link_disable().has_value());
  EXPECT_EQ(p.usd.peek(0x0, 4), gen3::kCtlCfgLock | gen3::kCtlDisable);
}

// ---- attach refusals ---------------------------------------------------------------------

std::string attach_error(IntelNtbModel& m) {
  auto r = IntelNtb::attach(m.attach_params("0000:af:00.0"));
  return r ? std::string("attached") : r.error().message();
}

TEST(Attach, RejectsTransparentGen3PortAndProgramsNothing) {
  IntelNtbModelSpec s;
  s.ppd_override = true;
  s.ppd = 0x00;
  IntelNtbModel m(s);
  EXPECT_THAT(attach_error(m), HasSubstr("transparent bridge"));
  EXPECT_EQ(m.peek(0x18, 8), 0u);  // no B2B setup happened
  EXPECT_EQ(m.peek(0x48, 8), 0u);
}

TEST(Attach, RejectsSplitBar) {
  IntelNtbModelSpec s;
  s.ppd_override = true;
  s.ppd = 0x41;
  IntelNtbModel m(s);
  EXPECT_THAT(attach_error(m), HasSubstr("'Enable SPLIT BARs' to Disabled"));
}

TEST(Attach, RejectsSapphireRapidsRootPortTopology) {
  IntelNtbModelSpec s;
  s.part = Part::kSpr;
  s.ppd_override = true;
  s.ppd = 0x0100;
  IntelNtbModel m(s);
  const std::string e = attach_error(m);
  EXPECT_THAT(e, HasSubstr("0000:af:00.0 (SPR)"));
  EXPECT_THAT(e, HasSubstr("PPD1 (BAR0 0xb4c0) = 0x00000100"));
  EXPECT_THAT(e, HasSubstr("'NTB to NTB'"));
  EXPECT_EQ(m.peek(0x48, 8), 0u);
}

TEST(Attach, RequiresMemoryDecodingAndBusMastering) {
  IntelNtbModelSpec s;
  s.command = ntb::pci::kCommandMemory;
  IntelNtbModel m(s);
  const std::string e = attach_error(m);
  EXPECT_THAT(e, HasSubstr("COMMAND (config 0x04) = 0x0002"));
  EXPECT_THAT(e, HasSubstr("enable_bus_master"));
}

TEST(Attach, RejectsA32BitWindowBar) {
  IntelNtbModelSpec s;
  s.bar4_32bit = true;
  IntelNtbModel m(s);
  EXPECT_THAT(attach_error(m), HasSubstr("BAR4 (config 0x20 = "));
  EXPECT_THAT(attach_error(m), HasSubstr("not a 64-bit memory BAR"));
}

TEST(Attach, RejectsAWindowThatIsNotAPowerOfTwo) {
  IntelNtbModel m;
  auto params = m.attach_params("0000:af:00.0");
  params.mw_size[1] = 3u << 20;
  auto r = IntelNtb::attach(params);
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("BAR4 is 3 MiB"));
  EXPECT_THAT(r.error().message(), HasSubstr("power of two"));
  EXPECT_THAT(r.error().message(), HasSubstr("Imbar1/Imbar2/Embar1/Embar2 size"));
}

TEST(Attach, ConfigReadFailureNamesTheRegister) {
  IntelNtbModel m;
  m.fail_cfg_reads_at(gen3::kCfgPpd);
  const std::string e = attach_error(m);
  EXPECT_THAT(e, HasSubstr("0000:af:00.0: read PPD (config 0xd4)"));
  EXPECT_THAT(e, HasSubstr("Input/output error"));
}

TEST(Attach, RequiresAConfigSpace) {
  IntelNtbModel m;
  auto params = m.attach_params("0000:af:00.0");
  params.cfg = nullptr;
  auto r = IntelNtb::attach(params);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
}

TEST(Attach, RejectsTooSmallBar0Mapping) {
  IntelNtbModel m;
  auto params = m.attach_params("0000:af:00.0");
  params.bar0_model = nullptr;
  alignas(8) static std::byte small[4096];
  params.bar0 = small;
  auto r = IntelNtb::attach(params);
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("0000:af:00.0 BAR0: 4096 bytes"));
}

}  // namespace
}  // namespace pbx::ntb::intel
