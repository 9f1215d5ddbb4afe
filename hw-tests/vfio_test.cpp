// VfioDevice on the test device, any kind: the open sequence through the IOMMU, region info that
// agrees with sysfs, BAR mappings, config space, DMA mapping of local memory, MSI-X with bus
// mastering. One-sided: each node checks its own device.
#include <sys/mman.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <gtest/gtest.h>

#include "common/test_device.h"
#include "pbx/vfio/device.h"
#include "pbx/vfio/pci.h"

namespace pbx::hwtest {
namespace {

class VfioTest : public DeviceTest {
 protected:
  void SetUp() override {
    DeviceTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto bdf = vfio::Bdf::parse(dev_.bdf);
    ASSERT_TRUE(bdf) << bdf.error().message();
    auto d = vfio::VfioDevice::open(*bdf);
    ASSERT_TRUE(d) << d.error().message();
    vdev_.emplace(std::move(*d));
  }
  std::optional<vfio::VfioDevice> vdev_;
};

// Sizes of BARs 0..5 from sysfs "resource" (start end flags per line).
std::vector<uint64_t> sysfs_bar_sizes(const TestDevice& d) {
  std::ifstream f(d.sysfs + "/resource");
  std::vector<uint64_t> sizes;
  std::string line;
  while (sizes.size() < 6 && std::getline(f, line)) {
    std::istringstream in(line);
    uint64_t start = 0, end = 0;
    in >> std::hex >> start >> end;
    sizes.push_back(end > start ? end - start + 1 : 0);
  }
  return sizes;
}

TEST_F(VfioTest, OpensThroughTheIommuAndSeesWhatSysfsSees) {
  vfio::VfioDevice& v = *vdev_;
  EXPECT_EQ(v.bdf().str(), dev_.bdf);
  std::error_code ec;
  const auto group = std::filesystem::read_symlink(dev_.sysfs + "/iommu_group", ec).filename().string();
  EXPECT_EQ(std::to_string(v.group_number()), group);
  auto vendor = v.config_read<uint16_t>(vfio::pci::kVendorId);
  auto device = v.config_read<uint16_t>(vfio::pci::kDeviceId);
  ASSERT_TRUE(vendor && device);
  EXPECT_EQ(*vendor, dev_.vendor);
  EXPECT_EQ(*device, dev_.device);
  const auto sizes = sysfs_bar_sizes(dev_);
  ASSERT_EQ(sizes.size(), 6u);
  for (uint32_t bar = 0; bar < 6; ++bar) {
    auto ri = v.region_info(bar);
    ASSERT_TRUE(ri) << ri.error().message();
    EXPECT_EQ(ri->size, sizes[bar]) << "BAR" << bar;
  }
}

TEST_F(VfioTest, MapsEveryMemoryBarWithItsSize) {
  vfio::VfioDevice& v = *vdev_;
  int mapped = 0;
  for (uint32_t bar = 0; bar < 6; ++bar) {
    auto ri = v.region_info(bar);
    ASSERT_TRUE(ri) << ri.error().message();
    if (ri->size == 0 || !ri->mappable()) continue;
    auto view = v.map_bar(bar);
    ASSERT_TRUE(view) << "BAR" << bar << ": " << view.error().message();
    EXPECT_EQ(view->mem.size(), ri->size) << "BAR" << bar;
    ++mapped;
  }
  EXPECT_GE(mapped, 1);
}

TEST_F(VfioTest, MsixNeedsAndGetsBusMastering) {
  vfio::VfioDevice& v = *vdev_;
  auto cap = v.msix_capacity();
  ASSERT_TRUE(cap) << cap.error().message();
  ASSERT_GE(*cap, 1u) << "the device has no MSI-X (QEMU: ivshmem-doorbell,vectors=N, not ivshmem-plain)";
  auto ok = v.enable_msix(1);
  ASSERT_TRUE(ok) << ok.error().message();
  if (const vfio::MsixVectors* mv = v.msix()) {
    EXPECT_EQ(mv->count(), 1u);
  } else {
    FAIL() << "enable_msix(1) succeeded but the device holds no MSI-X vectors";
  }
  auto cmd = v.config_read<uint16_t>(vfio::pci::kCommand);
  ASSERT_TRUE(cmd);
  EXPECT_NE(*cmd & vfio::pci::kCommandBusMaster, 0) << "MSI-X messages are dropped without Bus Master Enable";
  EXPECT_NE(*cmd & vfio::pci::kCommandMemory, 0);
}

TEST_F(VfioTest, MapsAndUnmapsLocalMemoryForDma) {
  vfio::VfioDevice& v = *vdev_;
  if (v.iommu_mode() != vfio::IommuMode::kType1v2)
    GTEST_SKIP() << dev_.bdf << " is in VFIO no-IOMMU mode: there is no DMA mapping to test";
  constexpr size_t kLen = 2u << 20;
  constexpr uint64_t kIova = 1ull << 32;
  void* p = ::mmap(nullptr, kLen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  MmapRegion mem(p, kLen);
  auto m = v.map_dma(mem.span(), kIova);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(v.dma_mapping_count(), 1u);
  // The IOMMU refuses a second mapping over the same IOVA range.
  auto again = v.map_dma(mem.span().first(4096), kIova + 4096);
  EXPECT_FALSE(again);
  EXPECT_EQ(v.dma_mapping_count(), 1u);
  auto un = v.unmap_dma(kIova);
  ASSERT_TRUE(un) << un.error().message();
  EXPECT_EQ(v.dma_mapping_count(), 0u);
  EXPECT_FALSE(v.unmap_dma(kIova));
  // And the range is free again.
  auto re = v.map_dma(mem.span(), kIova);
  ASSERT_TRUE(re) << re.error().message();
  ASSERT_TRUE(v.unmap_dma(kIova));
}

}  // namespace
}  // namespace pbx::hwtest
