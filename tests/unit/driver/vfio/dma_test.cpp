// DMA mappings: MAP_DMA with the right fields, UNMAP_DMA of the same range in the destructor,
// bad input refused before the kernel sees it, and the device releasing what it still holds.
#include <linux/vfio.h>
#include <sys/mman.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/vfio/device.h"
#include "pbx/vfio/dma.h"
#include "support/vfio/mock_sys_api.h"

namespace pbx::vfio {
namespace {

using test::FakeVfio;
using test::kContainerFd;
using test::MockSysApi;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::NiceMock;
using ::testing::SetErrnoAndReturn;

const Bdf kBdf = *Bdf::parse("0000:00:04.0");

struct PageBuffer {
  explicit PageBuffer(size_t n) : size(n) {
    p = static_cast<std::byte*>(::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  }
  ~PageBuffer() { ::munmap(p, size); }
  std::span<std::byte> span() const { return {p, size}; }
  std::byte* p;
  size_t size;
};

TEST(DmaMapping, MapsWithTheGivenRangeAndUnmapsTheSameRangeInItsDestructor) {
  FakeVfio fake;
  PageBuffer buf(3 * 4096);
  {
    auto m = DmaMapping::map(fake, kContainerFd, kBdf, buf.span(), 0x4000'0000, DmaAccess::kReadWrite);
    ASSERT_TRUE(m) << m.error().message();
    ASSERT_EQ(fake.dma_maps.size(), 1u);
    const vfio_iommu_type1_dma_map& a = fake.dma_maps[0];
    EXPECT_EQ(a.argsz, sizeof(vfio_iommu_type1_dma_map));
    EXPECT_EQ(a.flags, static_cast<uint32_t>(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));
    EXPECT_EQ(a.vaddr, reinterpret_cast<uint64_t>(buf.p));
    EXPECT_EQ(a.iova, 0x4000'0000u);
    EXPECT_EQ(a.size, 3u * 4096);
    EXPECT_EQ(m->iova(), 0x4000'0000u);
    DmaMapping moved = std::move(*m);  // ownership moves: still one unmap
    EXPECT_TRUE(fake.dma_unmaps.empty());
  }
  ASSERT_EQ(fake.dma_unmaps.size(), 1u);
  EXPECT_EQ(fake.dma_unmaps[0].argsz, sizeof(vfio_iommu_type1_dma_unmap));
  EXPECT_EQ(fake.dma_unmaps[0].flags, 0u);
  EXPECT_EQ(fake.dma_unmaps[0].iova, 0x4000'0000u);
  EXPECT_EQ(fake.dma_unmaps[0].size, 3u * 4096);
}

TEST(DmaMapping, DeviceWriteOnlyAccessSetsOnlyTheWriteFlag) {
  FakeVfio fake;
  PageBuffer buf(4096);
  auto m = DmaMapping::map(fake, kContainerFd, kBdf, buf.span(), 0x1000, DmaAccess::kWrite);
  ASSERT_TRUE(m);
  EXPECT_EQ(fake.dma_maps.at(0).flags, static_cast<uint32_t>(VFIO_DMA_MAP_FLAG_WRITE));
}

TEST(DmaMapping, UnalignedInputIsRefusedBeforeTheIoctl) {
  FakeVfio fake;
  NiceMock<MockSysApi> sys(fake);
  EXPECT_CALL(sys, ioctl(_, VFIO_IOMMU_MAP_DMA, _)).Times(0);
  PageBuffer buf(2 * 4096);
  for (auto [mem, iova] : {std::pair{buf.span().subspan(8, 4096), uint64_t{0x1000}},
                           std::pair{buf.span().first(100), uint64_t{0x1000}},
                           std::pair{buf.span().first(4096), uint64_t{0x1001}},
                           std::pair{std::span<std::byte>{}, uint64_t{0}}}) {
    auto m = DmaMapping::map(sys, kContainerFd, kBdf, mem, iova, DmaAccess::kReadWrite);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code(), Errc::kInvalidArgument);
    EXPECT_THAT(m.error().message(), HasSubstr("aligned to the page size"));
  }
}

TEST(DmaMapping, LockedMemoryLimitFailureSaysHowToRaiseIt) {
  FakeVfio fake;
  NiceMock<MockSysApi> sys(fake);
  EXPECT_CALL(sys, ioctl(kContainerFd, VFIO_IOMMU_MAP_DMA, _)).WillOnce(SetErrnoAndReturn(ENOMEM, -1));
  PageBuffer buf(4096);
  auto m = DmaMapping::map(sys, kContainerFd, kBdf, buf.span(), 0x1000, DmaAccess::kReadWrite);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), Errc::kNoMemory);
  EXPECT_THAT(m.error().message(), HasSubstr("0000:00:04.0: ioctl VFIO_IOMMU_MAP_DMA(iova 0x1000, 4096 bytes)"));
  EXPECT_THAT(m.error().message(), HasSubstr("ulimit -l"));
  EXPECT_TRUE(fake.dma_unmaps.empty());
}

TEST(VfioDeviceDma, DeviceOwnsItsMappingsAndUnmapsThemOnUnmapOrClose) {
  FakeVfio fake;
  PageBuffer a(4096), b(2 * 4096);
  {
    auto dev = VfioDevice::open(kBdf, {.sys = &fake});
    ASSERT_TRUE(dev);
    ASSERT_TRUE(dev->map_dma(a.span(), 0x10000));
    ASSERT_TRUE(dev->map_dma(b.span(), 0x20000));
    auto dup = dev->map_dma(b.span(), 0x20000);
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.error().code(), Errc::kBusy);
    EXPECT_EQ(dev->dma_mapping_count(), 2u);
    ASSERT_TRUE(dev->unmap_dma(0x10000));
    ASSERT_EQ(fake.dma_unmaps.size(), 1u);
    EXPECT_EQ(fake.dma_unmaps[0].iova, 0x10000u);
    auto missing = dev->unmap_dma(0x10000);
    ASSERT_FALSE(missing);
    EXPECT_THAT(missing.error().message(), HasSubstr("nothing is mapped at this IOVA"));
    EXPECT_TRUE(fake.closed.empty());
  }
  ASSERT_EQ(fake.dma_unmaps.size(), 2u);
  EXPECT_EQ(fake.dma_unmaps[1].iova, 0x20000u);
  EXPECT_EQ(fake.dma_unmaps[1].size, 2u * 4096);
  // The container closes last, after its mappings are gone.
  EXPECT_EQ(fake.closed.back(), kContainerFd);
}

TEST(VfioDeviceDma, NoIommuModeCannotMapDma) {
  FakeVfio fake;
  fake.noiommu = true;
  auto dev = VfioDevice::open(kBdf, {.sys = &fake});
  ASSERT_TRUE(dev);
  PageBuffer a(4096);
  auto r = dev->map_dma(a.span(), 0x10000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kNotSupported);
  EXPECT_THAT(r.error().message(), HasSubstr("no-IOMMU mode"));
  EXPECT_TRUE(fake.dma_maps.empty());
}

}  // namespace
}  // namespace pbx::vfio
