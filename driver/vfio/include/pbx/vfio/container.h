// VfioContainer: /dev/vfio/vfio, the IOMMU context that a VFIO group joins.
//
// Usually made by VfioDevice::open(); exposed for tests and for code that shares one container
// between several devices. Order (kernel rule): open the container, attach a group to it
// (VfioGroup::set_container), then set_iommu().
#pragma once

#include <cstdint>

#include "pbx/base/error.h"
#include "pbx/vfio/bdf.h"
#include "pbx/vfio/sys_owner.h"

namespace pbx::vfio {

enum class IommuMode : uint8_t {
  kType1v2,  // an IOMMU translates the device's DMA (VFIO_TYPE1v2_IOMMU)
  kNoIommu,  // no IOMMU, unsafe (VFIO_NOIOMMU_IOMMU): no DMA mapping, needs CAP_SYS_RAWIO
};

constexpr const char* to_string(IommuMode m) noexcept {
  return m == IommuMode::kType1v2 ? "type1v2" : "noiommu";
}

class VfioContainer {
 public:
  inline static constexpr const char* kPath = "/dev/vfio/vfio";

  // Opens /dev/vfio/vfio and checks the API version. `bdf` names the device in messages.
  [[nodiscard]] static Result<VfioContainer> open(SysApi& sys, const Bdf& bdf);

  VfioContainer(VfioContainer&&) noexcept = default;
  VfioContainer& operator=(VfioContainer&&) noexcept = default;

  // Checks that the kernel offers `mode`, then selects it (VFIO_SET_IOMMU). Needs a group set.
  [[nodiscard]] Result<void> set_iommu(IommuMode mode);

  int fd() const noexcept { return fd_.get(); }
  IommuMode mode() const noexcept { return mode_; }

 private:
  VfioContainer(SysApi& sys, const Bdf& bdf, SysFd fd) noexcept : sys_(&sys), bdf_(bdf), fd_(std::move(fd)) {}

  SysApi* sys_;
  Bdf bdf_;
  SysFd fd_;
  IommuMode mode_ = IommuMode::kType1v2;
};

}  // namespace pbx::vfio
