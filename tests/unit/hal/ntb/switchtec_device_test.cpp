// The Switchtec HAL backend over a modelled switch with 2, 3, 4 and 8 hosts: the job each host
// derives, windows that cross between every pair, scratchpads and doorbells per peer, a host
// that closes, restarts or loses its link, and the refusals.
#include <cstring>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/hal/detail/switchtec_page.h"
#include "support/mapped_export.h"
#include "switchtec_job.h"

namespace pbx::hal {
namespace {

using test::SwitchtecFabric;
using test::SwitchtecJob;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
namespace sw = ntb::switchtec;

NodeIdx node(unsigned k) { return NodeIdx(static_cast<uint16_t>(k)); }
uint64_t tag(unsigned from, unsigned to, unsigned i) { return 0x5700000000000000ull | from << 16 | to << 8 | i; }

class SwitchtecHal : public ::testing::TestWithParam<unsigned> {};

TEST_P(SwitchtecHal, EveryHostNumbersTheNodesInPartitionOrder) {
  const unsigned n = GetParam();
  SwitchtecJob j(n);
  ASSERT_TRUE(j.open_all());
  // 128 LUT entries of 64 KiB shared by n - 1 peers: every window slot is that range.
  const size_t slot = size_t{128 / (n - 1)} * sw::kLinuxLutSize;
  for (unsigned p = 0; p < n; ++p) {
    const DeviceInfo& i = j.devs[p]->info();
    EXPECT_EQ(i.backend, "switchtec");
    EXPECT_EQ(i.name, "0000:0" + std::to_string(p + 1) + ":00.1");
    EXPECT_EQ(i.self, node(p));
    EXPECT_EQ(i.node_count, n);
    EXPECT_EQ(i.spad_count, 16);
    EXPECT_EQ(i.db_valid_mask, 0xffffffffu);
    EXPECT_EQ(j.devs[p]->slot_size(), slot);
    EXPECT_EQ(i.window_size, slot - 4096) << "the window follows the 4 KiB control page";
    EXPECT_EQ(j.devs[p]->partitions().size(), n);
    EXPECT_TRUE(j.f.host(p).enabled);
  }
}

TEST_P(SwitchtecHal, EachHostProgramsOnlyItsOwnBlockOntoThePeersSlots) {
  const unsigned n = GetParam();
  SwitchtecJob j(n);
  ASSERT_TRUE(j.open_all());
  const size_t slot = j.devs[0]->slot_size();
  for (unsigned p = 0; p < n; ++p) {
    EXPECT_EQ(j.f.model().configures(p), 2u) << "requester IDs and windows, by partition " << p << "'s host";
    // The inbound buffer: n slots DMA-mapped at the same IOVA on every host.
    ASSERT_EQ(j.f.host(p).dma.size(), 1u);
    EXPECT_EQ(j.f.host(p).dma.begin()->first, SwitchtecNtbDevice::kIovaBase);
    EXPECT_GE(j.f.host(p).dma.begin()->second.size(), n * slot);
    // Our range for peer q (its entries of our block) leads to our slot (p) in q's buffer.
    const unsigned per_peer = 128 / (n - 1);
    for (unsigned e = 0; e < (n - 1) * per_peer; ++e) {
      const uint64_t v = j.f.model().peek(sw::ctrl_offset(p) + 0x1000 + 8 * e, 8);
      const unsigned q = j.devs[p]->ntb().peer_partition(e / per_peer);
      EXPECT_EQ(v, sw::kLutEn | uint64_t{q} << 1 |
                       (SwitchtecNtbDevice::kIovaBase + p * slot + (e % per_peer) * sw::kLinuxLutSize))
          << "entry " << e << " of partition " << p;
    }
  }
  EXPECT_EQ(j.f.model().lock_conflicts(), 0u);
  EXPECT_THAT(j.f.model().violations(), IsEmpty());
}

TEST_P(SwitchtecHal, LinksComeUpAndWindowsCrossBetweenEveryPair) {
  const unsigned n = GetParam();
  SwitchtecJob j(n);
  ASSERT_TRUE(j.open_all());
  ASSERT_TRUE(j.all_up());
  const size_t ws = j.devs[0]->info().window_size;
  for (unsigned a = 0; a < n; ++a)
    for (unsigned b = 0; b < n; ++b) {
      const LinkStatus ls = j.devs[a]->link_status(node(b));
      EXPECT_TRUE(ls.up);
      if (a != b) {
        EXPECT_EQ(ls.generation, 1u) << a << " -> " << b;
        EXPECT_EQ(ls.speed_gts, 4);
        EXPECT_EQ(ls.width, 8);
        EXPECT_EQ(j.devs[a]->link_diagnostic(node(b)), "");
      }
      auto out = j.devs[a]->peer_mw(node(b));
      ASSERT_TRUE(out.has_value());
      ASSERT_EQ(out->size(), ws);
      out->store64(0, tag(a, b, 0), StoreKind::kControl);
      out->store64(ws / 2 & ~size_t{7}, tag(a, b, 1), StoreKind::kControl);
      out->store64(ws - 8, tag(a, b, 2), StoreKind::kControl);
    }
  for (unsigned b = 0; b < n; ++b)
    for (unsigned a = 0; a < n; ++a) {
      auto in = j.devs[b]->local_mw(node(a));
      ASSERT_TRUE(in.has_value());
      EXPECT_EQ(in->load64_acquire(0), tag(a, b, 0)) << a << " -> " << b;
      EXPECT_EQ(in->load64_acquire(ws / 2 & ~size_t{7}), tag(a, b, 1)) << a << " -> " << b;
      EXPECT_EQ(in->load64_acquire(ws - 8), tag(a, b, 2)) << a << " -> " << b;
    }
  EXPECT_THAT(j.f.model().violations(), IsEmpty());
}

TEST_P(SwitchtecHal, ScratchpadsAndDoorbellsArePerPeer) {
  const unsigned n = GetParam();
  SwitchtecJob j(n);
  ASSERT_TRUE(j.open_all());
  ASSERT_TRUE(j.all_up());
  for (unsigned a = 0; a < n; ++a)
    for (unsigned b = 0; b < n; ++b) {
      ASSERT_TRUE(j.devs[a]->peer_spad_write(node(b), SpadIdx(5), 0xab000000u | a << 8 | b).has_value());
      ASSERT_TRUE(j.devs[a]->peer_db_set(node(b), uint64_t{1} << a).has_value());
      ASSERT_TRUE(j.devs[a]->peer_db_set(node(b), uint64_t{1} << 31).has_value());
    }
  for (unsigned b = 0; b < n; ++b)
    for (unsigned a = 0; a < n; ++a) {
      EXPECT_EQ(*j.devs[b]->spad_read(node(a), SpadIdx(5)), 0xab000000u | a << 8 | b);
      EXPECT_EQ(*j.devs[b]->spad_read(node(a), SpadIdx(6)), 0u);
      const uint64_t want = uint64_t{1} << a | uint64_t{1} << 31;
      EXPECT_EQ(*j.devs[b]->db_read(node(a)), want) << "from " << a << " at " << b << ": only its own rings";
      EXPECT_EQ(*j.devs[b]->db_wait(node(a), 0), want) << "pending: no wait";
      ASSERT_TRUE(j.devs[b]->db_clear(node(a), uint64_t{1} << 31).has_value());
      EXPECT_EQ(*j.devs[b]->db_read(node(a)), uint64_t{1} << a);
    }
  // A second ring of a bit already seen and cleared counts again; clearing everything is allowed.
  ASSERT_TRUE(j.devs[0]->peer_db_set(node(n - 1), uint64_t{1} << 31).has_value());
  EXPECT_EQ(*j.devs[n - 1]->db_read(node(0)), 1u | uint64_t{1} << 31);
  ASSERT_TRUE(j.devs[n - 1]->db_clear(node(0), ~uint64_t{0}).has_value());
  EXPECT_EQ(*j.devs[n - 1]->db_read(node(0)), 0u);
  // The switch's doorbell woke the peer: bit 0 of its slice is set in its idb.
  const auto& plan = j.devs[1]->ntb().doorbell_plan();
  EXPECT_NE(j.f.model().peek(sw::dbmsg_offset(1) + 0x1010, 8) & (uint64_t{1} << plan.shift[1]), 0u);
  EXPECT_THAT(j.devs[0]->peer_spad_write(node(1), SpadIdx(16), 1).error().message(),
              HasSubstr("gives users scratchpads 0..15"));
  for (unsigned a = 0; a < n; ++a) EXPECT_TRUE(j.devs[a]->link_status(node((a + 1) % n)).up) << "undisturbed";
}

TEST_P(SwitchtecHal, AHostThatClosesIsDownAndItsRestartIsANewGeneration) {
  const unsigned n = GetParam();
  SwitchtecJob j(n);
  ASSERT_TRUE(j.open_all());
  ASSERT_TRUE(j.all_up());
  const unsigned gone = n - 1;
  j.devs[gone].reset();
  ASSERT_FALSE(j.f.host(gone).unmapped.empty()) << "its DMA is unmapped";
  for (unsigned a = 0; a + 1 < n; ++a) {
    const LinkStatus ls = j.devs[a]->link_status(node(gone));
    EXPECT_FALSE(ls.up);
    EXPECT_EQ(ls.generation, 2u);
    EXPECT_THAT(j.devs[a]->link_diagnostic(node(gone)), HasSubstr("closed its device"));
    for (unsigned b = 0; b + 1 < n; ++b) EXPECT_TRUE(j.devs[a]->link_status(node(b)).up) << "the others stay up";
  }
  // Its LUT windows are off: its BAR reaches nobody any more.
  for (unsigned e = 0; e < 128; ++e) EXPECT_EQ(j.f.model().peek(sw::ctrl_offset(gone) + 0x1000 + 8 * e, 8), 0u) << e;

  ASSERT_TRUE(j.open(gone));
  ASSERT_TRUE(j.all_up());
  for (unsigned a = 0; a + 1 < n; ++a) {
    EXPECT_EQ(j.devs[a]->link_status(node(gone)).generation, 3u);
    j.devs[a]->peer_mw(node(gone))->store64(64, tag(a, gone, 9), StoreKind::kControl);
    EXPECT_EQ(j.devs[gone]->local_mw(node(a))->load64_acquire(64), tag(a, gone, 9)) << "the new memory";
    j.devs[gone]->peer_mw(node(a))->store64(128, tag(gone, a, 9), StoreKind::kControl);
    EXPECT_EQ(j.devs[a]->local_mw(node(gone))->load64_acquire(128), tag(gone, a, 9));
  }
  EXPECT_THAT(j.f.model().violations(), IsEmpty());
}

TEST_P(SwitchtecHal, APartitionLinkThatGoesDownTakesItsLinksDownUntilItComesBack) {
  const unsigned n = GetParam();
  SwitchtecJob j(n);
  ASSERT_TRUE(j.open_all());
  ASSERT_TRUE(j.all_up());
  j.f.model().set_link_active(0, false);
  EXPECT_TRUE(j.devs[1]->link_status(node(0)).up) << "partition links are read every link_check_ns";
  j.clock.advance_ns(j.opts.link_check_ns);
  const LinkStatus down = j.devs[1]->link_status(node(0));
  EXPECT_FALSE(down.up);
  EXPECT_EQ(down.generation, 2u);
  EXPECT_THAT(j.devs[1]->link_diagnostic(node(0)), HasSubstr("partition 0's link to the switch is down"));
  if (n > 2) {
    EXPECT_TRUE(j.devs[1]->link_status(node(2)).up) << "other peers are not affected";
  }
  j.f.model().set_link_active(0, true);
  j.clock.advance_ns(j.opts.link_check_ns);
  EXPECT_TRUE(j.devs[1]->link_status(node(0)).up);
  EXPECT_EQ(j.devs[1]->link_status(node(0)).generation, 3u);
}

INSTANTIATE_TEST_SUITE_P(Hosts, SwitchtecHal, ::testing::Values(2u, 3u, 4u, 8u),
                         [](const ::testing::TestParamInfo<unsigned>& p) { return std::to_string(p.param) + "hosts"; });

TEST(SwitchtecHalJob, APartitionThatDoesNotReachEveryOtherIsRefusedNamingIt) {
  auto spec = SwitchtecFabric::mesh(3);
  spec.partitions[2].targets = 0b001;  // partition 2 reaches only partition 0
  SwitchtecJob j(spec);
  auto r = j.open(0);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.message(), HasSubstr("partition 0's job is partitions 0, 1, 2, but partition 2 (one of them) reaches "
                                     "partitions 0, 2"));
  EXPECT_THAT(r.message(), HasSubstr("change the targets of partition 2"));
}

TEST(SwitchtecHalJob, TooFewLutEntriesAreRefusedWithTheSettingToChange) {
  SwitchtecJob j(3, /*lut_entries=*/1);
  auto r = j.open(0);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.message(), HasSubstr("Maximum Number of NT Lut Entries"));
}

TEST(SwitchtecHalJob, WindowOptionShrinksTheWindowAndHostsThatDisagreeStayDown) {
  SwitchtecJob j(3);
  auto small = j.opts;
  small.window_size = 64 * 1024;
  ASSERT_TRUE(j.open(0, small));
  ASSERT_TRUE(j.open(1, small));
  ASSERT_TRUE(j.open(2));  // the default window
  EXPECT_EQ(j.devs[0]->info().window_size, 64u * 1024);
  for (int i = 0; i < 5; ++i) j.poll_all();
  EXPECT_TRUE(j.devs[0]->link_status(node(1)).up);
  EXPECT_FALSE(j.devs[0]->link_status(node(2)).up);
  EXPECT_THAT(j.devs[0]->link_diagnostic(node(2)), HasSubstr("window sizes differ: 65536 bytes here"));
  EXPECT_THAT(j.devs[2]->link_diagnostic(node(0)), HasSubstr("give every host the same window= option"));

  auto big = j.opts;
  big.window_size = 64ull << 20;
  SwitchtecJob k(3);
  auto r = k.open(0, big);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.message(), HasSubstr("is more than a window holds"));
}

TEST(SwitchtecHalJob, AHostAloneWaitsSayingWhyAndItsWindowToSelfIsLocal) {
  SwitchtecJob j(3);
  ASSERT_TRUE(j.open(1));
  EXPECT_FALSE(j.devs[1]->link_status(node(0)).up);
  EXPECT_THAT(j.devs[1]->link_diagnostic(node(0)), HasSubstr("no page from partition 0 yet"));
  EXPECT_TRUE(j.devs[1]->link_status(node(1)).up);
  j.devs[1]->peer_mw(node(1))->store64(64, 99, StoreKind::kControl);
  EXPECT_EQ(j.devs[1]->local_mw(node(1))->load64_acquire(64), 99u);
  ASSERT_TRUE(j.devs[1]->peer_spad_write(node(1), SpadIdx(1), 5).has_value());
  EXPECT_EQ(*j.devs[1]->spad_read(node(1), SpadIdx(1)), 5u);
  ASSERT_TRUE(j.devs[1]->peer_db_set(node(1), 2).has_value());
  EXPECT_EQ(*j.devs[1]->db_read(node(1)), 2u);
  EXPECT_THAT(j.devs[1]->peer_db_set(node(0), 1).error().message(), HasSubstr("link to node 0 is down"));
  // The host that comes later finds it (it acknowledges the page waiting for it).
  ASSERT_TRUE(j.open(0));
  ASSERT_TRUE(j.open(2));
  ASSERT_TRUE(j.all_up());
}

TEST(SwitchtecHalJob, AStaleAnnouncementIsWrittenAgainAfterReannounceNs) {
  // Host 0 opens first; its page to host 1 goes nowhere (host 1's memory is not there yet).
  // Host 1 then opens and says nothing more to it here (its page is lost too: scratch).
  SwitchtecJob j(2);
  ASSERT_TRUE(j.open(0));
  ASSERT_TRUE(j.open(1));
  // Lose host 1's page at host 0: as if its stores had been dropped.
  auto in = j.devs[0]->local_mw(node(1));
  std::memset(const_cast<std::byte*>(in->data()) - 4096, 0, 4096);  // NOLINT: the test stands in for the switch
  for (int i = 0; i < 3; ++i) j.poll_all();
  EXPECT_FALSE(j.devs[0]->link_status(node(1)).up);
  j.clock.advance_ns(j.opts.reannounce_ns);
  ASSERT_TRUE(j.all_up()) << "both wrote their pages again";
}

TEST(SwitchtecHalJob, ExportedWindowsAreTheBarRangesAndTheInboundSlots) {
  SwitchtecJob j(3);
  ASSERT_TRUE(j.open_all());
  ASSERT_TRUE(j.all_up());
  auto ex = j.devs[1]->export_windows();
  ASSERT_TRUE(ex.has_value()) << ex.error().message();
  ASSERT_EQ(ex->size(), 3u);
  const size_t slot = j.devs[1]->slot_size();
  const size_t ws = j.devs[1]->info().window_size;
  for (unsigned k = 0; k < 3; ++k) {
    EXPECT_EQ((*ex)[k].inbound.offset, k * slot + 4096);
    EXPECT_EQ((*ex)[k].inbound.length, ws);
    EXPECT_EQ((*ex)[k].inbound.mem_type, MemType::kWriteBack);
  }
  const auto w0 = j.devs[1]->ntb().peer_window(0);  // to partition 0
  EXPECT_EQ((*ex)[0].outbound.fd, j.f.host(1).bars.at(2).file);
  EXPECT_EQ((*ex)[0].outbound.offset, w0->offset + 4096);
  EXPECT_EQ((*ex)[0].outbound.length, ws);
  EXPECT_EQ((*ex)[1].outbound.offset, (*ex)[1].inbound.offset) << "to self: the self slot";
  // The exported inbound memory is what node 2 writes through the switch.
  test::MappedExport from2((*ex)[2].inbound);
  ASSERT_TRUE(from2.ok());
  j.devs[2]->peer_mw(node(1))->store64(256, 0xfeed, StoreKind::kControl);
  EXPECT_EQ(from2.load(256), 0xfeedu);
}

TEST(SwitchtecHalJob, DoorbellsGoToTheirOwnVectorWhereThePortHasInterrupts) {
  SwitchtecJob j(3);
  j.f.host(0).vectors = 4;
  ASSERT_TRUE(j.open(0));
  // The partition's event vector is 0 in the model: doorbells on 1, messages on 2.
  EXPECT_EQ(j.f.model().peek(sw::dbmsg_offset(0) + 0x1020, 1), 1u);
  EXPECT_EQ(j.f.model().peek(sw::dbmsg_offset(0) + 0x1020 + 63, 1), 2u);
  EXPECT_EQ(j.devs[0]->ntb().db_mask() & 1, 0u) << "bit 0 interrupts";
  EXPECT_THAT(j.f.model().violations(), IsEmpty());
}

}  // namespace
}  // namespace pbx::hal
