// The Intel NTB HAL backend over two register models back to back: bring-up through the
// scratchpad handshake, windows that cross (translation programmed onto the DMA-mapped memory),
// scratchpads, doorbells, a peer that closes and comes back, and the refusals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/hal/detail/intel_ntb_handshake.h"
#include "pbx/hal/intel_ntb.h"
#include "support/mapped_export.h"
#include "support/fake_clock.h"
#include "support/ntb/model_fabric.h"

namespace pbx::hal {
namespace {

using ntb::intel::Part;
using ntb::intel::Side;
using test::FakeClock;
using test::MappedExport;
using test::ModelFabric;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
namespace hs = intel_ntb_handshake;

constexpr size_t kMiB = size_t{1} << 20;
const NodeIdx kNode0(0), kNode1(1);

struct Pair {
  explicit Pair(Part part, IntelNtbOptions o = {}) : f(part) {
    opts = o;
    opts.pages = PagePolicy::kSmall;
    opts.clock = &clock;
    opts.link_timeout_ns = 1'000'000'000;
  }
  ::testing::AssertionResult open_both() {
    if (auto r = open(Side::kUsd); !r) return r;
    return open(Side::kDsd);
  }
  ::testing::AssertionResult open(Side s, IntelNtbOptions o) {
    auto d = IntelNtbDevice::attach(f.port(s), o);
    if (!d) return ::testing::AssertionFailure() << d.error().message();
    (s == Side::kUsd ? a : b) = std::move(*d);
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult open(Side s) { return open(s, opts); }
  // Polls both sides' link state (each poll is one step of their state machines).
  ::testing::AssertionResult link_up(unsigned max_polls = 20) {
    for (unsigned i = 0; i < max_polls; ++i) {
      const bool ua = a->link_status(kNode1).up;
      const bool ub = b->link_status(kNode0).up;
      if (ua && ub) return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "not up after " << max_polls << " polls: usd '" << a->link_diagnostic()
                                         << "', dsd '" << b->link_diagnostic() << "'";
  }
  FakeClock clock;
  ModelFabric f;
  IntelNtbOptions opts;
  std::unique_ptr<IntelNtbDevice> a;  // USD, node 0
  std::unique_ptr<IntelNtbDevice> b;  // DSD, node 1
};

class IntelNtbHal : public ::testing::TestWithParam<Part> {};

TEST_P(IntelNtbHal, DescribesATwoNodeJobWithTheUsdSideAsNode0) {
  Pair p(GetParam());
  ASSERT_TRUE(p.open_both());
  const DeviceInfo& i = p.a->info();
  EXPECT_EQ(i.backend, GetParam() == Part::kSkx ? "intel-gen3" : "intel-gen4");
  EXPECT_EQ(i.name, "0000:af:00.0");
  EXPECT_EQ(i.self, kNode0);
  EXPECT_EQ(p.b->info().self, kNode1);
  EXPECT_EQ(i.node_count, 2);
  EXPECT_EQ(i.spad_count, 12);
  EXPECT_EQ(i.db_valid_mask, 0x7fffffffu);
  EXPECT_EQ(i.window_size, kMiB);  // the BAR2 size
  EXPECT_EQ(i.outbound_mem_type, MemType::kUncached);
  EXPECT_TRUE(p.f.usd().enabled);
}

TEST_P(IntelNtbHal, InboundWindowIsDmaMappedAtAnAlignedIovaAndTranslated) {
  Pair p(GetParam());
  ASSERT_TRUE(p.open_both());
  auto& s = p.f.usd();
  ASSERT_TRUE(s.dma_mapped);
  EXPECT_EQ(s.dma_iova, p.a->inbound_iova());
  EXPECT_EQ(s.dma_iova % kMiB, 0u);
  EXPECT_GE(s.dma_iova, uint64_t{1} << 32);
  EXPECT_EQ(s.dma_mem.size(), kMiB);
  EXPECT_EQ(s.dma_mem.data(), p.a->local_mw(kNode1)->data());
  const auto t = s.model.translation(0);
  EXPECT_TRUE(t.open);
  EXPECT_EQ(t.xlat, s.dma_iova);
  EXPECT_EQ(t.size, kMiB);
}

TEST_P(IntelNtbHal, LinkComesUpThroughTheHandshakeAndWindowsCross) {
  Pair p(GetParam());
  ASSERT_TRUE(p.open_both());
  EXPECT_FALSE(p.a->link_status(kNode1).up);
  ASSERT_TRUE(p.link_up());
  const LinkStatus ls = p.a->link_status(kNode1);
  EXPECT_EQ(ls.generation, 1u);
  EXPECT_EQ(ls.width, 16);
  EXPECT_EQ(p.a->link_diagnostic(), "");
  // The handshake left each side's announcement in the other's scratchpads 12..15.
  EXPECT_EQ(*p.b->ntb().spad_read(hs::kSpadMagic), hs::kMagic);
  EXPECT_EQ(*p.b->ntb().spad_read(hs::kSpadWindowPages), kMiB / 4096);
  EXPECT_EQ(*p.b->ntb().spad_read(hs::kSpadState), hs::kReady);

  ASSERT_TRUE(p.f.route());
  auto out = p.a->peer_mw(kNode1);
  ASSERT_TRUE(out.has_value());
  out->store64(4096, 0xfeedface, StoreKind::kControl);
  const char msg[] = "through the bridge";
  out->write(8192, msg, sizeof msg);
  EXPECT_EQ(p.b->local_mw(kNode0)->load64_acquire(4096), 0xfeedfaceu);
  char got[sizeof msg];
  p.b->local_mw(kNode0)->read(8192, got, sizeof got);
  EXPECT_STREQ(got, msg);
  p.b->peer_mw(kNode0)->store64(0, 7, StoreKind::kControl);
  EXPECT_EQ(p.a->local_mw(kNode1)->load64_acquire(0), 7u);
  EXPECT_THAT(p.f.usd().model.violations(), IsEmpty());
  EXPECT_THAT(p.f.dsd().model.violations(), IsEmpty());
}

TEST_P(IntelNtbHal, ScratchpadsAndDoorbellsCrossForUsersOnly) {
  Pair p(GetParam());
  ASSERT_TRUE(p.open_both());
  ASSERT_TRUE(p.link_up());
  ASSERT_TRUE(p.a->peer_spad_write(kNode1, SpadIdx(3), 0xabcd).has_value());
  EXPECT_EQ(*p.b->spad_read(kNode0, SpadIdx(3)), 0xabcdu);
  EXPECT_THAT(p.a->peer_spad_write(kNode1, SpadIdx(12), 1).error().message(),
              HasSubstr("scratchpad 12 does not exist: the intel-gen"));
  EXPECT_THAT(p.a->peer_spad_write(kNode1, SpadIdx(12), 1).error().message(),
              HasSubstr("device gives users scratchpads 0..11"));
  EXPECT_FALSE(p.b->spad_read(kNode0, SpadIdx(12)).has_value());

  ASSERT_TRUE(p.a->peer_db_set(kNode1, 0b101).has_value());
  EXPECT_EQ(*p.b->db_read(kNode0), 0b101u);
  EXPECT_EQ(*p.b->db_wait(kNode0, 0), 0b101u) << "pending bits: no wait";
  ASSERT_TRUE(p.b->db_clear(kNode0, 0b001).has_value());
  EXPECT_EQ(*p.b->db_read(kNode0), 0b100u);
  EXPECT_THAT(p.a->peer_db_set(kNode1, uint64_t{1} << 31).error().message(),
              HasSubstr("gives users the doorbell bits 0x7fffffff"));
  ASSERT_TRUE(p.a->peer_db_set(kNode1, 0b010).has_value());
  ASSERT_TRUE(p.b->db_clear(kNode0, ~uint64_t{0}).has_value()) << "clearing everything is allowed";
  EXPECT_EQ(*p.b->db_read(kNode0), 0u);
  EXPECT_TRUE(p.a->link_status(kNode1).up) << "user doorbells do not disturb the handshake";
  EXPECT_TRUE(p.b->link_status(kNode0).up) << "nor does clearing all of them";
}

TEST_P(IntelNtbHal, WindowsScratchpadsAndDoorbellsToSelfAreLocal) {
  Pair p(GetParam());
  ASSERT_TRUE(p.open(Side::kUsd));
  EXPECT_TRUE(p.a->link_status(kNode0).up);
  p.a->peer_mw(kNode0)->store64(64, 99, StoreKind::kControl);
  EXPECT_EQ(p.a->local_mw(kNode0)->load64_acquire(64), 99u);
  EXPECT_NE(p.a->local_mw(kNode0)->data(), p.a->local_mw(kNode1)->data());
  ASSERT_TRUE(p.a->peer_spad_write(kNode0, SpadIdx(1), 5).has_value());
  EXPECT_EQ(*p.a->spad_read(kNode0, SpadIdx(1)), 5u);
  ASSERT_TRUE(p.a->peer_db_set(kNode0, 2).has_value());
  EXPECT_EQ(*p.a->db_read(kNode0), 2u);
  EXPECT_FALSE(p.a->link_status(kNode1).up);
  EXPECT_THAT(p.a->peer_db_set(kNode1, 1).error().message(), HasSubstr("link to node 1 is down"));
  EXPECT_FALSE(p.a->peer_mw(NodeIdx(2)).has_value());
}

TEST_P(IntelNtbHal, APeerThatClosesAndReopensIsANewGeneration) {
  Pair p(GetParam());
  ASSERT_TRUE(p.open_both());
  ASSERT_TRUE(p.link_up());
  const uint64_t iova = p.f.dsd().dma_iova;
  p.b.reset();  // closes: tells the peer, closes its translation, unmaps, disables the link
  ASSERT_EQ(p.f.dsd().unmapped.size(), 1u);
  EXPECT_EQ(p.f.dsd().unmapped[0], iova);
  EXPECT_FALSE(p.f.dsd().unmapped_while_translated) << "translation closed before the DMA unmap";
  EXPECT_FALSE(p.f.dsd().model.translation(0).open);
  const LinkStatus down = p.a->link_status(kNode1);
  EXPECT_FALSE(down.up);
  EXPECT_EQ(down.generation, 2u);

  ASSERT_TRUE(p.open(Side::kDsd));
  ASSERT_TRUE(p.link_up());
  EXPECT_EQ(p.a->link_status(kNode1).generation, 3u);
  ASSERT_TRUE(p.f.route());
  p.a->peer_mw(kNode1)->store64(0, 0x1234, StoreKind::kControl);
  EXPECT_EQ(p.b->local_mw(kNode0)->load64_acquire(0), 0x1234u) << "writes reach the new process's memory";
}

TEST_P(IntelNtbHal, ExportedWindowsAreBar2TheInboundMemoryAndTheSelfMemory) {
  Pair p(GetParam());
  ASSERT_TRUE(p.open_both());
  ASSERT_TRUE(p.link_up());
  auto ex = p.a->export_windows();
  ASSERT_TRUE(ex.has_value()) << ex.error().message();
  ASSERT_EQ(ex->size(), 2u);
  const NodeWindowsExport& self = (*ex)[0];  // the USD side is node 0
  const NodeWindowsExport& peer = (*ex)[1];
  EXPECT_EQ(peer.outbound.fd, p.f.usd().bar2_fd) << "the port's BAR2 file";
  EXPECT_EQ(peer.outbound.offset, 0u);
  EXPECT_EQ(peer.outbound.length, kMiB);
  EXPECT_EQ(peer.outbound.mem_type, MemType::kUncached) << "as the port mapped BAR2";
  EXPECT_FALSE(peer.outbound.sparse);
  EXPECT_EQ(peer.inbound.offset, 0u);
  EXPECT_EQ(peer.inbound.length, kMiB);
  EXPECT_EQ(peer.inbound.mem_type, MemType::kWriteBack);
  EXPECT_FALSE(peer.inbound.sparse) << "DMA-mapped memory is populated at open";
  EXPECT_EQ(self.outbound.fd, self.inbound.fd) << "one memory to and from self";
  EXPECT_NE(self.inbound.fd, peer.inbound.fd);
  EXPECT_NE(self.inbound.fd, peer.outbound.fd);
  EXPECT_EQ(self.inbound.length, kMiB);
  EXPECT_TRUE(self.outbound.sparse && self.inbound.sparse) << "pages appear where segments are made";

  // Outbound: a store through the exported file is a store into the backend's BAR2.
  {
    MappedExport out(peer.outbound);
    ASSERT_TRUE(out.ok());
    out.store(256, 0x5a5a);
    EXPECT_EQ(p.a->peer_mw(kNode1)->read64_slow(256), 0x5a5au);
  }
  // Inbound: the exported memory is what the peer writes through the bridge.
  ASSERT_TRUE(p.f.route());
  MappedExport in(peer.inbound);
  ASSERT_TRUE(in.ok());
  p.b->peer_mw(kNode0)->store64(512, 0xc0ffee, StoreKind::kControl);
  EXPECT_EQ(in.load(512), 0xc0ffeeu);
  EXPECT_EQ(p.a->local_mw(kNode1)->load64_acquire(512), 0xc0ffeeu);
  // To and from self: the exported memory is the backend's window to self.
  MappedExport self_out(self.outbound), self_in(self.inbound);
  ASSERT_TRUE(self_out.ok() && self_in.ok());
  self_out.store(64, 11);
  EXPECT_EQ(p.a->local_mw(kNode0)->load64_acquire(64), 11u);
  p.a->peer_mw(kNode0)->store64(128, 12, StoreKind::kControl);
  EXPECT_EQ(self_in.load(128), 12u);
  EXPECT_EQ(in.load(64), 0u) << "self and peer memory are distinct";
}

INSTANTIATE_TEST_SUITE_P(Parts, IntelNtbHal, ::testing::Values(Part::kSkx, Part::kIcx, Part::kSpr, Part::kDmr),
                         [](const ::testing::TestParamInfo<Part>& i) { return ntb::intel::part_info(i.param).code; });

TEST(IntelNtbHalLink, TrainingTimeoutIsReportedAndTrainingGoesOn) {
  Pair p(Part::kSpr);
  ASSERT_TRUE(p.open(Side::kUsd));  // the peer host is not up yet
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(p.a->link_status(kNode1).up);
  EXPECT_EQ(p.a->link_diagnostic(), "") << "within the deadline: nothing to report";
  p.clock.advance_ns(1'000'000'000);
  EXPECT_FALSE(p.a->link_status(kNode1).up);
  EXPECT_THAT(p.a->link_diagnostic(), HasSubstr("did not come up within 1000 ms"));
  ASSERT_TRUE(p.open(Side::kDsd));  // it comes later
  ASSERT_TRUE(p.link_up());
  EXPECT_EQ(p.a->link_diagnostic(), "");
}

TEST(IntelNtbHalLink, DifferentWindowSizesKeepTheLinkDownWithAReason) {
  Pair p(Part::kSpr);
  IntelNtbOptions small = p.opts;
  small.window_size = 512 * 1024;
  ASSERT_TRUE(p.open(Side::kUsd, small));
  ASSERT_TRUE(p.open(Side::kDsd));
  EXPECT_FALSE(p.link_up(10));
  EXPECT_THAT(p.b->link_diagnostic(), HasSubstr("window sizes differ: 1 MiB here, 512 KiB on the peer"));
}

TEST(IntelNtbHalLink, AWrongMagicIsAnotherProgram) {
  Pair p(Part::kSkx);
  ASSERT_TRUE(p.open_both());
  ASSERT_TRUE(p.link_up());
  // Someone else's software on the peer host writes its own value and rings.
  p.f.usd().model.poke(0x80 + 4 * hs::kSpadMagic, 4, 0x12345678);
  p.f.usd().model.poke(0x80 + 4 * hs::kSpadEpoch, 4, 77);
  ASSERT_TRUE(p.b->ntb().peer_db_set(hs::kDbMask).has_value());
  EXPECT_FALSE(p.a->link_status(kNode1).up);
  EXPECT_THAT(p.a->link_diagnostic(), HasSubstr("holds 0x12345678, not postbox's"));
}

TEST(IntelNtbHalOpen, RejectsBadOptions) {
  Pair p(Part::kSpr);
  IntelNtbOptions o = p.opts;
  o.window_size = 3000;
  EXPECT_THAT(IntelNtbDevice::attach(p.f.port(Side::kUsd), o).error().message(), HasSubstr("power of two"));
  o.window_size = 2 * kMiB;
  auto big = IntelNtbDevice::attach(p.f.port(Side::kUsd), o);
  ASSERT_FALSE(big.has_value());
  EXPECT_THAT(big.error().message(), HasSubstr("window_size 2 MiB is larger than BAR2 (1 MiB)"));
  EXPECT_THAT(big.error().message(), HasSubstr("Imbar1/Imbar2/Embar1/Embar2 size"));
}

TEST(IntelNtbHalOpen, WithoutDmaMappingThereIsNoInboundWindow) {
  Pair p(Part::kSkx);
  p.f.usd().fail_dma = true;
  auto d = IntelNtbDevice::attach(p.f.port(Side::kUsd), p.opts);
  ASSERT_FALSE(d.has_value());
  EXPECT_THAT(d.error().message(), HasSubstr("0000:af:00.0: DMA-map the inbound window (an IOMMU is needed"));
  EXPECT_FALSE(p.f.usd().model.translation(0).open);
}

TEST(IntelNtbHalOpen, TopologyErrorsComeFromTheDriver) {
  test::IntelNtbModelSpec s;
  s.ppd_override = true;
  s.ppd = 0x00;
  ModelFabric f(Part::kSkx, s);
  IntelNtbOptions o;
  o.pages = PagePolicy::kSmall;
  auto d = IntelNtbDevice::attach(f.port(Side::kUsd), o);
  ASSERT_FALSE(d.has_value());
  EXPECT_THAT(d.error().message(), HasSubstr("'NTB to NTB'"));
}

TEST(LocalMemory, SmallPagesAreZeroedAndHugeRequiredSaysHowToReserve) {
  auto m = LocalMemory::allocate("pbx-test", 64 * 1024, PagePolicy::kSmall);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->span().size(), 64u * 1024);
  EXPECT_EQ(m->span()[100], std::byte{0});
  EXPECT_GE(m->fd(), 0);
  EXPECT_FALSE(LocalMemory::allocate("pbx-test", 1000, PagePolicy::kSmall).has_value());
  auto huge = LocalMemory::allocate("pbx-test", 2 * kMiB, PagePolicy::kHugeRequired);
  if (huge) {
    EXPECT_GE(huge->page_size(), 2 * kMiB);  // this machine has hugepages
  } else {
    EXPECT_EQ(huge.error().code(), Errc::kNoMemory);
    EXPECT_THAT(huge.error().message(), HasSubstr("/proc/sys/vm/nr_hugepages"));
  }
  auto any = LocalMemory::allocate("pbx-test", 2 * kMiB, PagePolicy::kHugeIfAvailable);
  ASSERT_TRUE(any.has_value()) << "falls back to small pages";
}

TEST(IntelNtbHalExport, ASmallerWindowExportsTheFirstWindowSizeBytesOfEachFile) {
  IntelNtbOptions o;
  o.window_size = 256 * 1024;
  Pair p(Part::kSpr, o);
  ASSERT_TRUE(p.open(Side::kDsd));
  auto ex = p.b->export_windows();
  ASSERT_TRUE(ex.has_value()) << ex.error().message();
  for (const NodeWindowsExport& w : *ex) {
    EXPECT_EQ(w.outbound.length, 256u * 1024);
    EXPECT_EQ(w.inbound.length, 256u * 1024);
  }
  EXPECT_EQ((*ex)[0].outbound.fd, p.f.dsd().bar2_fd);
  EXPECT_EQ((*ex)[0].outbound.offset, 0u);
}

TEST(IntelNtbHalExport, APortWithoutABar2FileRefusesNamingTheDevice) {
  Pair p(Part::kIcx);
  p.f.usd().bar2_exportable = false;
  ASSERT_TRUE(p.open(Side::kUsd));
  auto ex = p.a->export_windows();
  ASSERT_FALSE(ex.has_value());
  EXPECT_EQ(ex.error().code(), Errc::kNotSupported);
  EXPECT_THAT(ex.error().message(), HasSubstr("0000:af:00.0: export the outbound window"));
  EXPECT_THAT(ex.error().message(), HasSubstr("cannot hand its BAR2 to other processes"));
}

}  // namespace
}  // namespace pbx::hal
