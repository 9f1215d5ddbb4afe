// VfioGroup: /dev/vfio/N (or /dev/vfio/noiommu-N), the IOMMU group of one PCI device.
//
// Usually made by VfioDevice::open(). iommu_group_of() finds the group in sysfs; open() opens
// it and checks it is viable (every device of the group bound to vfio-pci or to no driver); then
// set_container() joins it to a container, and open_device() returns the device's fd.
#pragma once

#include "pbx/base/error.h"
#include "pbx/vfio/bdf.h"
#include "pbx/vfio/container.h"
#include "pbx/vfio/sys_owner.h"

namespace pbx::vfio {

// The IOMMU group number of `bdf`, from the /sys/bus/pci/devices/<bdf>/iommu_group link.
[[nodiscard]] Result<int> iommu_group_of(SysApi& sys, const Bdf& bdf);

class VfioGroup {
 public:
  // Opens group `group` of device `bdf` and checks that it is viable. With allow_noiommu,
  // falls back to /dev/vfio/noiommu-N when /dev/vfio/N does not exist.
  [[nodiscard]] static Result<VfioGroup> open(SysApi& sys, const Bdf& bdf, int group, bool allow_noiommu);

  VfioGroup(VfioGroup&&) noexcept = default;
  VfioGroup& operator=(VfioGroup&&) noexcept = default;

  // VFIO_GROUP_SET_CONTAINER.
  [[nodiscard]] Result<void> set_container(const VfioContainer& container);
  // VFIO_GROUP_GET_DEVICE_FD for this group's device.
  [[nodiscard]] Result<SysFd> open_device();

  int number() const noexcept { return number_; }
  bool noiommu() const noexcept { return noiommu_; }
  int fd() const noexcept { return fd_.get(); }

 private:
  VfioGroup(SysApi& sys, const Bdf& bdf, int number, bool noiommu, SysFd fd) noexcept
      : sys_(&sys), bdf_(bdf), number_(number), noiommu_(noiommu), fd_(std::move(fd)) {}

  SysApi* sys_;
  Bdf bdf_;
  int number_;
  bool noiommu_;
  SysFd fd_;
};

}  // namespace pbx::vfio
