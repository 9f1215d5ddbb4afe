// The product path, IntelNtbDevice::open(), through VFIO on a FakeVfio machine with a Skylake
// NTB: config space, BAR maps (write-combining BAR2 where offered), bus mastering, MSI-X, the
// DMA mapping of the inbound window and its translation registers, and the teardown order.
// BAR0 is plain memory here (no register semantics: the link never trains).
#include <cstring>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/hal/intel_ntb.h"
#include "pbx/vfio/pci.h"
#include "support/mapped_export.h"
#include "support/vfio/fake_intel_ntb.h"
#include "support/vfio/fake_vfio.h"

namespace pbx::hal {
namespace {

using test::MappedExport;
using vfio::test::FakeVfio;
using vfio::test::make_skx;
using ::testing::HasSubstr;

constexpr uint64_t kBar2Addr = vfio::test::kSkxBar2Addr;
constexpr uint64_t kWindow = 1u << 20;

uint64_t reg64(FakeVfio& f, size_t off) {
  uint64_t v;
  std::memcpy(&v, f.bar_memory(0) + off, 8);
  return v;
}

IntelNtbOptions opts_for(FakeVfio& f) {
  IntelNtbOptions o;
  o.vfio.sys = &f;
  o.pages = PagePolicy::kSmall;
  return o;
}

TEST(IntelNtbHalOverVfio, OpensMapsAndTranslatesTheInboundWindow) {
  FakeVfio f;
  make_skx(f);
  f.wc_file = true;  // resource2_wc exists (root)
  auto dev = IntelNtbDevice::open(*vfio::Bdf::parse("0000:af:00.0"), opts_for(f));
  ASSERT_TRUE(dev.has_value()) << dev.error().message();
  const DeviceInfo& i = (*dev)->info();
  EXPECT_EQ(i.backend, "intel-gen3");
  EXPECT_EQ(i.self, NodeIdx(1)) << "DSD side";
  EXPECT_EQ(i.window_size, kWindow);
  EXPECT_EQ(i.outbound_mem_type, MemType::kWriteCombining);
  EXPECT_EQ(f.get16(vfio::pci::kCommand) & 0x6, 0x6) << "memory decoding and bus mastering on";
  ASSERT_EQ(f.irq_sets.size(), 1u);
  EXPECT_EQ(f.irq_sets[0].size(), 2u) << "MSI-X vectors 0 (users) and 1 (handshake, link)";
  // INTVEC: doorbells 0..30 -> vector 0; 31 and the link -> vector 1.
  const auto* intvec = reinterpret_cast<const uint8_t*>(f.bar_memory(0) + 0xd0);
  EXPECT_EQ(intvec[0], 0);
  EXPECT_EQ(intvec[30], 0);
  EXPECT_EQ(intvec[31], 1);
  EXPECT_EQ(intvec[32], 1);
  EXPECT_EQ(reg64(f, 0x48), 0u) << "doorbells unmasked: interrupts are wanted";

  ASSERT_EQ(f.dma_maps.size(), 1u);
  const auto& m = f.dma_maps[0];
  EXPECT_EQ(m.iova, (*dev)->inbound_iova());
  EXPECT_EQ(m.size, kWindow);
  EXPECT_EQ(m.vaddr, reinterpret_cast<uint64_t>((*dev)->local_mw(NodeIdx(0))->data()));
  EXPECT_EQ(m.iova % kWindow, 0u);
  EXPECT_EQ(reg64(f, 0x10), m.iova) << "IMBAR1XBASE";
  EXPECT_EQ(reg64(f, 0x18), kBar2Addr + kWindow) << "IMBAR1XLMT";
  EXPECT_EQ((*dev)->peer_mw(NodeIdx(0))->size(), kWindow);
  EXPECT_FALSE((*dev)->link_status(NodeIdx(0)).up) << "plain memory never trains";

  const uint64_t iova = m.iova;
  dev->reset();
  ASSERT_EQ(f.dma_unmaps.size(), 1u);
  EXPECT_EQ(f.dma_unmaps[0].iova, iova);
  EXPECT_EQ(reg64(f, 0x10), 0u) << "translation closed on close";
}

TEST(IntelNtbHalOverVfio, BarTwoIsUncachedWithoutWriteCombiningAccess) {
  FakeVfio f;
  make_skx(f);
  auto dev = IntelNtbDevice::open(*vfio::Bdf::parse("0000:af:00.0"), opts_for(f));
  ASSERT_TRUE(dev.has_value()) << dev.error().message();
  EXPECT_EQ((*dev)->info().outbound_mem_type, MemType::kUncached);
}

TEST(IntelNtbHalOverVfio, ExportsBarTwoThroughResource2WcWhereItWasMappedWriteCombining) {
  FakeVfio f;
  make_skx(f);
  f.wc_file = true;
  auto dev = IntelNtbDevice::open(*vfio::Bdf::parse("0000:af:00.0"), opts_for(f));
  ASSERT_TRUE(dev.has_value()) << dev.error().message();
  auto ex = (*dev)->export_windows();
  ASSERT_TRUE(ex.has_value()) << ex.error().message();
  ASSERT_EQ(ex->size(), 2u);
  const WindowExport& out = (*ex)[0].outbound;  // DSD side: the peer is node 0
  EXPECT_EQ(out.fd, vfio::test::kResourceWcFd) << "the resource2_wc file the backend mapped, kept open";
  EXPECT_EQ(out.offset, 0u);
  EXPECT_EQ(out.length, kWindow);
  EXPECT_EQ(out.mem_type, MemType::kWriteCombining);
  EXPECT_THAT(f.closed, ::testing::Not(::testing::Contains(vfio::test::kResourceWcFd)));
}

TEST(IntelNtbHalOverVfio, ExportsBarTwoAsTheDeviceFdAtItsRegionOffsetAndTheMemfdsBehindTheRest) {
  FakeVfio f;
  make_skx(f);
  auto dev = IntelNtbDevice::open(*vfio::Bdf::parse("0000:af:00.0"), opts_for(f));
  ASSERT_TRUE(dev.has_value()) << dev.error().message();
  auto ex = (*dev)->export_windows();
  ASSERT_TRUE(ex.has_value()) << ex.error().message();
  ASSERT_EQ(ex->size(), 2u);
  const NodeWindowsExport& peer = (*ex)[0];
  const NodeWindowsExport& self = (*ex)[1];
  EXPECT_EQ(peer.outbound.fd, vfio::test::kDeviceFd);
  EXPECT_EQ(peer.outbound.offset, vfio::test::region_offset(2)) << "BAR2's region in the VFIO device fd";
  EXPECT_EQ(peer.outbound.mem_type, MemType::kUncached);
  EXPECT_EQ(peer.outbound.length, kWindow);

  // Inbound: the memfd the backend DMA-mapped; a mapping of it shows what the NTB writes there.
  ASSERT_GE(peer.inbound.fd, 0);
  EXPECT_LT(peer.inbound.fd, vfio::test::kFakeFdBase) << "a real memfd, not a VFIO file";
  EXPECT_EQ(peer.inbound.offset, 0u);
  EXPECT_EQ(peer.inbound.length, kWindow);
  EXPECT_EQ(peer.inbound.mem_type, MemType::kWriteBack);
  MappedExport in(peer.inbound);
  ASSERT_TRUE(in.ok());
  ASSERT_EQ(f.dma_maps.size(), 1u);
  auto* dma = reinterpret_cast<uint64_t*>(f.dma_maps[0].vaddr);  // where the device writes
  dma[100] = 0x1122334455667788ull;
  EXPECT_EQ(in.load(800), 0x1122334455667788ull);
  in.store(808, 42);
  EXPECT_EQ((*dev)->local_mw(NodeIdx(0))->load64_acquire(808), 42u);

  // Self: another memfd, the backend's window to self.
  EXPECT_EQ(self.outbound.fd, self.inbound.fd);
  EXPECT_NE(self.inbound.fd, peer.inbound.fd);
  MappedExport self_map(self.inbound);
  ASSERT_TRUE(self_map.ok());
  (*dev)->peer_mw(NodeIdx(1))->store64(4096, 9, StoreKind::kControl);
  EXPECT_EQ(self_map.load(4096), 9u);
}

TEST(IntelNtbHalOverVfio, NoIommuModeCannotMapTheInboundWindow) {
  FakeVfio f;
  make_skx(f);
  f.noiommu = true;
  f.type1v2 = false;
  auto dev = IntelNtbDevice::open(*vfio::Bdf::parse("0000:af:00.0"), opts_for(f));
  ASSERT_FALSE(dev.has_value());
  EXPECT_THAT(dev.error().message(), HasSubstr("DMA-map the inbound window"));
  EXPECT_THAT(dev.error().message(), HasSubstr("intel_iommu=on"));
}

TEST(IntelNtbHalOverVfio, ATransparentPortIsRefusedWithTheBiosSetting) {
  FakeVfio f;
  make_skx(f, 0x00);
  auto dev = IntelNtbDevice::open(*vfio::Bdf::parse("0000:af:00.0"), opts_for(f));
  ASSERT_FALSE(dev.has_value());
  EXPECT_THAT(dev.error().message(), HasSubstr("0000:af:00.0 (SKX)"));
  EXPECT_THAT(dev.error().message(), HasSubstr("'NTB to NTB'"));
}

}  // namespace
}  // namespace pbx::hal
