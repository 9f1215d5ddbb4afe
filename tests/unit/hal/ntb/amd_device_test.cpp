// The AMD NTB HAL backend over two register models back to back: bring-up (READY on both sides,
// then the scratchpad handshake), windows that cross (the translation programmed through the
// peer view onto the DMA-mapped memory), scratchpads and doorbells, a peer that closes, one that
// crashes and comes back through the dirty-shutdown rule, and a libpostbox job over it.
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/hal/amd_ntb.h"
#include "pbx/postbox.hpp"
#include "support/all_to_all.h"
#include "support/fake_clock.h"
#include "support/mapped_export.h"
#include "support/ntb/amd_fabric.h"

namespace pbx::hal {
namespace {

using ntb::amd::Side;
using test::AmdFabric;
using test::FakeClock;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
namespace hs = amd_handshake;

constexpr size_t kMiB = size_t{1} << 20;
const NodeIdx kNode0(0), kNode1(1);

struct Pair {
  Pair() {
    opts.pages = PagePolicy::kSmall;
    opts.clock = &clock;
    opts.link_timeout_ns = 1'000'000'000;
  }
  ::testing::AssertionResult open(Side s, std::unique_ptr<AmdNtbDevice>* into = nullptr) {
    auto d = AmdNtbDevice::attach(f.port(s), opts);
    if (!d) return ::testing::AssertionFailure() << d.error().message();
    (into != nullptr ? *into : s == Side::kPrimary ? a : b) = std::move(*d);
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult open_both() {
    if (auto r = open(Side::kPrimary); !r) return r;
    return open(Side::kSecondary);
  }
  ::testing::AssertionResult link_up(AmdNtbDevice& x, AmdNtbDevice& y, unsigned max_polls = 20) {
    for (unsigned i = 0; i < max_polls; ++i) {
      const bool ux = x.link_status(NodeIdx(static_cast<uint16_t>(1 - x.info().self.v))).up;
      const bool uy = y.link_status(NodeIdx(static_cast<uint16_t>(1 - y.info().self.v))).up;
      if (ux && uy) return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "not up after " << max_polls << " polls: '" << x.link_diagnostic()
                                         << "', '" << y.link_diagnostic() << "'";
  }
  ::testing::AssertionResult link_up() { return link_up(*a, *b); }

  FakeClock clock;
  AmdFabric f;
  AmdNtbOptions opts;
  std::unique_ptr<AmdNtbDevice> a;  // primary, node 0
  std::unique_ptr<AmdNtbDevice> b;  // secondary, node 1
};

TEST(AmdNtbHal, DescribesATwoNodeJobWithThePrimarySideAsNode0) {
  Pair p;
  ASSERT_TRUE(p.open_both());
  const DeviceInfo& i = p.a->info();
  EXPECT_EQ(i.backend, "amd");
  EXPECT_EQ(i.name, "0000:41:00.1");
  EXPECT_EQ(i.self, kNode0);
  EXPECT_EQ(p.b->info().self, kNode1);
  EXPECT_EQ(i.node_count, 2);
  EXPECT_EQ(i.spad_count, 4);
  EXPECT_EQ(i.db_valid_mask, 0x3fffu);
  EXPECT_EQ(i.window_size, kMiB) << "BAR2's size";
  EXPECT_EQ(i.outbound_mem_type, MemType::kUncached);
  EXPECT_TRUE(p.f.side(Side::kPrimary).enabled);
}

TEST(AmdNtbHal, TheInboundWindowIsProgrammedIntoThePeersTranslation) {
  Pair p;
  ASSERT_TRUE(p.open_both());
  const auto& s = p.f.side(Side::kPrimary);
  ASSERT_TRUE(s.dma_mapped);
  EXPECT_EQ(s.dma_iova, p.a->inbound_iova());
  EXPECT_GE(s.dma_iova, uint64_t{1} << 32);
  EXPECT_EQ(s.dma_mem.data(), p.a->local_mw(kNode1)->data());
  // What the secondary stores through its BAR2 lands here: its XLAT/LMT, written by us.
  EXPECT_EQ(p.f.pair().secondary().peek(0x438, 8), p.a->inbound_iova());
  EXPECT_EQ(p.f.pair().secondary().peek(0x418, 8), kMiB);
}

TEST(AmdNtbHal, LinkComesUpThroughReadyAndTheHandshakeAndWindowsCross) {
  Pair p;
  ASSERT_TRUE(p.open_both());
  ASSERT_TRUE(p.link_up());
  const LinkStatus ls = p.a->link_status(kNode1);
  EXPECT_EQ(ls.generation, 1u);
  EXPECT_EQ(ls.speed_gts, 4);
  EXPECT_EQ(ls.width, 8);
  EXPECT_TRUE(p.f.pair().primary().ready());
  EXPECT_TRUE(p.f.pair().secondary().ready());
  EXPECT_FALSE(p.b->bringup().dirty_shutdown_seen());
  ASSERT_TRUE(p.f.route());
  p.a->peer_mw(kNode1)->store64(4096, 0xfeedface, StoreKind::kControl);
  EXPECT_EQ(p.b->local_mw(kNode0)->load64_acquire(4096), 0xfeedfaceu);
  p.b->peer_mw(kNode0)->store64(kMiB - 8, 7, StoreKind::kControl);
  EXPECT_EQ(p.a->local_mw(kNode1)->load64_acquire(kMiB - 8), 7u);
  EXPECT_THAT(p.f.pair().primary().violations(), IsEmpty());
  EXPECT_THAT(p.f.pair().secondary().violations(), IsEmpty());
}

TEST(AmdNtbHal, ScratchpadsAndDoorbellsCrossForUsersOnly) {
  Pair p;
  ASSERT_TRUE(p.open_both());
  ASSERT_TRUE(p.link_up());
  ASSERT_TRUE(p.a->peer_spad_write(kNode1, SpadIdx(3), 0xabcd).has_value());
  EXPECT_EQ(*p.b->spad_read(kNode0, SpadIdx(3)), 0xabcdu);
  ASSERT_TRUE(p.b->peer_spad_write(kNode0, SpadIdx(0), 0x1234).has_value());
  EXPECT_EQ(*p.a->spad_read(kNode1, SpadIdx(0)), 0x1234u);
  EXPECT_THAT(p.a->peer_spad_write(kNode1, SpadIdx(4), 1).error().message(), HasSubstr("scratchpads 0..3"));
  ASSERT_TRUE(p.a->peer_db_set(kNode1, 0b101).has_value());
  EXPECT_EQ(*p.b->db_read(kNode0), 0b101u);
  ASSERT_TRUE(p.b->db_clear(kNode0, 0b001).has_value());
  EXPECT_EQ(*p.b->db_read(kNode0), 0b100u);
  EXPECT_THAT(p.a->peer_db_set(kNode1, hs::kDbMask).error().message(), HasSubstr("doorbell bits 0x3fff"));
  ASSERT_TRUE(p.b->db_clear(kNode0, ~uint64_t{0}).has_value());
  EXPECT_TRUE(p.a->link_status(kNode1).up) << "user doorbells do not disturb the handshake";
  EXPECT_TRUE(p.b->link_status(kNode0).up);
}

TEST(AmdNtbHal, WindowsScratchpadsAndDoorbellsToSelfAreLocal) {
  Pair p;
  ASSERT_TRUE(p.open(Side::kPrimary));
  EXPECT_TRUE(p.a->link_status(kNode0).up);
  p.a->peer_mw(kNode0)->store64(64, 99, StoreKind::kControl);
  EXPECT_EQ(p.a->local_mw(kNode0)->load64_acquire(64), 99u);
  ASSERT_TRUE(p.a->peer_spad_write(kNode0, SpadIdx(1), 5).has_value());
  EXPECT_EQ(*p.a->spad_read(kNode0, SpadIdx(1)), 5u);
  ASSERT_TRUE(p.a->peer_db_set(kNode0, 2).has_value());
  EXPECT_EQ(*p.a->db_read(kNode0), 2u);
  EXPECT_FALSE(p.a->link_status(kNode1).up);
}

TEST(AmdNtbHal, APeerThatClosesIsDownAndItsReopeningANewGeneration) {
  Pair p;
  ASSERT_TRUE(p.open_both());
  ASSERT_TRUE(p.link_up());
  const uint64_t iova = p.f.side(Side::kSecondary).dma_iova;
  p.b.reset();  // tells the peer, closes the translation, unmaps, clears READY, rings goodbye
  ASSERT_EQ(p.f.side(Side::kSecondary).unmapped.size(), 1u);
  EXPECT_EQ(p.f.side(Side::kSecondary).unmapped[0], iova);
  EXPECT_EQ(p.f.pair().primary().peek(0x418, 8), 0u) << "its translation in our registers is closed";
  EXPECT_FALSE(p.f.pair().secondary().ready());
  const LinkStatus down = p.a->link_status(kNode1);
  EXPECT_FALSE(down.up);
  EXPECT_EQ(down.generation, 2u);

  ASSERT_TRUE(p.open(Side::kSecondary));
  ASSERT_TRUE(p.link_up());
  EXPECT_EQ(p.a->link_status(kNode1).generation, 3u);
  EXPECT_FALSE(p.b->bringup().dirty_shutdown_seen()) << "a clean close leaves READY clear";
  ASSERT_TRUE(p.f.route());
  p.a->peer_mw(kNode1)->store64(0, 0x1234, StoreKind::kControl);
  EXPECT_EQ(p.b->local_mw(kNode0)->load64_acquire(0), 0x1234u) << "writes reach the new process's memory";
}

TEST(AmdNtbHal, AHostThatCrashedComesBackThroughTheDirtyShutdownRule) {
  Pair p;
  ASSERT_TRUE(p.open_both());
  ASSERT_TRUE(p.link_up());
  // The secondary's host dies without its driver's shutdown: READY stays set (its device object
  // is never polled again, as a dead process). A new process attaches to the same side.
  std::unique_ptr<AmdNtbDevice> b2;
  ASSERT_TRUE(p.open(Side::kSecondary, &b2));
  EXPECT_TRUE(b2->bringup().dirty_shutdown_seen());
  EXPECT_FALSE(p.f.pair().secondary().ready()) << "READY cleared, the peer rung";
  EXPECT_FALSE(b2->link_status(kNode0).up);
  const LinkStatus seen = p.a->link_status(kNode1);
  EXPECT_FALSE(seen.up) << "the survivor saw the goodbye";
  EXPECT_EQ(seen.generation, 2u);
  p.clock.advance_ns(p.opts.dirty_wait_ns);
  ASSERT_TRUE(p.link_up(*p.a, *b2));
  EXPECT_EQ(p.a->link_status(kNode1).generation, 3u);
  ASSERT_TRUE(p.f.route());
  b2->peer_mw(kNode0)->store64(8, 0xd1e7, StoreKind::kControl);
  EXPECT_EQ(p.a->local_mw(kNode1)->load64_acquire(8), 0xd1e7u);
}

TEST(AmdNtbHal, ABringUpTimeoutIsReportedAndBringUpGoesOn) {
  Pair p;
  ASSERT_TRUE(p.open(Side::kPrimary));
  EXPECT_FALSE(p.a->link_status(kNode1).up);
  p.clock.advance_ns(p.opts.link_timeout_ns);
  EXPECT_FALSE(p.a->link_status(kNode1).up);
  EXPECT_THAT(p.a->link_diagnostic(), HasSubstr("did not come up within 1000 ms"));
  ASSERT_TRUE(p.open(Side::kSecondary));  // it comes later
  ASSERT_TRUE(p.link_up());
  EXPECT_FALSE(p.b->bringup().dirty_shutdown_seen());
  EXPECT_FALSE(p.a->bringup().dirty_shutdown_seen()) << "our own READY went before the new attempt";
}

TEST(AmdNtbHal, WindowOptionShrinksTheWindowAndDifferentSizesAreNamed) {
  Pair p;
  auto small = p.opts;
  small.window_size = 64 * 1024;
  auto a = AmdNtbDevice::attach(p.f.port(Side::kPrimary), small);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ((*a)->info().window_size, 64u * 1024);
  ASSERT_TRUE(p.open(Side::kSecondary));
  for (int i = 0; i < 10; ++i) {
    (void)(*a)->link_status(kNode1);
    (void)p.b->link_status(kNode0);
  }
  EXPECT_FALSE(p.b->link_status(kNode0).up);
  EXPECT_THAT(p.b->link_diagnostic(), HasSubstr("window sizes differ"));
  auto big = p.opts;
  big.window_size = 2 * kMiB;
  AmdFabric g;
  auto r = AmdNtbDevice::attach(g.port(Side::kPrimary), big);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("is larger than the window BAR2"));
}

TEST(AmdNtbHal, ExportedWindowsAreTheBarTheInboundMemoryAndTheSelfMemory) {
  Pair p;
  ASSERT_TRUE(p.open_both());
  ASSERT_TRUE(p.link_up());
  auto ex = p.a->export_windows();
  ASSERT_TRUE(ex.has_value()) << ex.error().message();
  ASSERT_EQ(ex->size(), 2u);
  EXPECT_EQ((*ex)[1].outbound.fd, p.f.side(Side::kPrimary).bar_fd);
  EXPECT_EQ((*ex)[1].outbound.length, kMiB);
  EXPECT_TRUE((*ex)[0].outbound.sparse);
  ASSERT_TRUE(p.f.route());
  test::MappedExport in((*ex)[1].inbound);
  ASSERT_TRUE(in.ok());
  p.b->peer_mw(kNode0)->store64(512, 0xc0ffee, StoreKind::kControl);
  EXPECT_EQ(in.load(512), 0xc0ffeeu);
}

// A libpostbox job of the two hosts over the modelled pair, each in its own thread: every size
// class both ways (and to self), every message checked.
TEST(AmdNtbPostbox, BothNodesSendEverySizeClassToBothAndAllArriveIntact) {
  AmdFabric f;
  AmdNtbOptions o;
  o.pages = PagePolicy::kSmall;
  std::vector<std::unique_ptr<Device>> devs;
  for (Side s : {Side::kPrimary, Side::kSecondary}) {
    auto d = AmdNtbDevice::attach(f.port(s), o);
    ASSERT_TRUE(d) << d.error().message();
    devs.push_back(std::move(*d));
  }
  ASSERT_TRUE(f.route()) << "both translations open onto DMA-mapped memory";
  const Config cfg = test::AllToAll::small_config();
  const test::AllToAll plan = test::AllToAll::every_size_class(cfg, /*rounds=*/3);
  std::string errors[2];
  Stats stats[2];
  std::optional<Endpoint> closed[2];  // destroyed here once both finished (see switchtec_postbox_test)
  std::vector<std::thread> hosts;
  for (uint16_t k = 0; k < 2; ++k)
    hosts.emplace_back([&, k] {
      auto ep = Endpoint::create(std::move(devs[k]), JobShape{2, 1}, Rank{k, 0}, cfg);
      if (!ep) {
        errors[k] = ep.error().message();
        return;
      }
      if (!plan.run(*ep, &errors[k])) return;
      stats[k] = ep->stats();
      if (auto c = ep->close(); !c) errors[k] = "close: " + c.error().message();
      closed[k].emplace(std::move(*ep));
    });
  for (auto& t : hosts) t.join();
  for (auto& c : closed) c.reset();
  for (unsigned k = 0; k < 2; ++k) {
    EXPECT_EQ(errors[k], "") << "node " << k;
    EXPECT_EQ(stats[k].rx_msgs, 2u * plan.per_pair);
    EXPECT_GT(stats[k].tx_pieces, 0u);
    EXPECT_EQ(stats[k].bad_indicators, 0u);
  }
  EXPECT_THAT(f.pair().primary().violations(), IsEmpty());
  EXPECT_THAT(f.pair().secondary().violations(), IsEmpty());
}

}  // namespace
}  // namespace pbx::hal
