// DmaMapping: local memory made visible to a device at an IO virtual address (IOVA), through
// the container's IOMMU (VFIO_IOMMU_MAP_DMA); unmapped (VFIO_IOMMU_UNMAP_DMA) on destruction.
//
//   auto m = dev.map_dma(buffer, /*iova=*/0x1000'0000);   // VfioDevice owns it, or:
//   auto m = DmaMapping::map(sys, container_fd, bdf, buffer, iova, DmaAccess::kReadWrite);
//
// The memory must stay allocated while mapped; a DmaMapping must not outlive its container.
// Inbound NTB windows are made from these: the NTB translates peer writes to this IOVA.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "pbx/base/error.h"
#include "pbx/vfio/bdf.h"
#include "pbx/vfio/sys_api.h"

namespace pbx::vfio {

enum class DmaAccess : uint8_t { kRead = 1, kWrite = 2, kReadWrite = 3 };  // from the device's side

class DmaMapping {
 public:
  // `mem` and `iova` must be page-aligned and `mem` a whole number of pages.
  [[nodiscard]] static Result<DmaMapping> map(SysApi& sys, int container_fd, const Bdf& bdf,
                                              std::span<std::byte> mem, uint64_t iova, DmaAccess access);

  DmaMapping() = default;
  DmaMapping(DmaMapping&& o) noexcept
      : sys_(o.sys_), container_fd_(std::exchange(o.container_fd_, -1)), iova_(o.iova_), mem_(o.mem_) {}
  DmaMapping& operator=(DmaMapping&& o) noexcept {
    if (this != &o) {
      reset();
      sys_ = o.sys_;
      container_fd_ = std::exchange(o.container_fd_, -1);
      iova_ = o.iova_;
      mem_ = o.mem_;
    }
    return *this;
  }
  DmaMapping(const DmaMapping&) = delete;
  DmaMapping& operator=(const DmaMapping&) = delete;
  ~DmaMapping() { reset(); }

  bool valid() const noexcept { return container_fd_ >= 0; }
  uint64_t iova() const noexcept { return iova_; }
  std::span<std::byte> memory() const noexcept { return mem_; }
  // Unmaps now (VFIO_IOMMU_UNMAP_DMA). Errors cannot be acted on at this point and are dropped.
  void reset() noexcept;

 private:
  DmaMapping(SysApi& sys, int container_fd, uint64_t iova, std::span<std::byte> mem) noexcept
      : sys_(&sys), container_fd_(container_fd), iova_(iova), mem_(mem) {}

  SysApi* sys_ = nullptr;
  int container_fd_ = -1;  // not owned
  uint64_t iova_ = 0;
  std::span<std::byte> mem_;
};

}  // namespace pbx::vfio
