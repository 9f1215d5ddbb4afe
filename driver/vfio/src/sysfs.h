// What sysfs says about a PCI device: its IOMMU group, its driver, the devices of a group.
// Read through the SysApi, so tests script it like every other call.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pbx/vfio/bdf.h"
#include "pbx/vfio/sys_api.h"

namespace pbx::vfio::detail {

inline constexpr const char* kPciDevices = "/sys/bus/pci/devices/";
inline constexpr const char* kIommuGroups = "/sys/kernel/iommu_groups/";
inline constexpr const char* kVfioPciDriver = "vfio-pci";

// "/sys/bus/pci/devices/0000:00:04.0" + ("/" + leaf when given).
std::string pci_path(const std::string& bdf, const char* leaf = nullptr);

// The target of a symbolic link, or nullopt with *err set to errno.
std::optional<std::string> read_link(SysApi& sys, const std::string& path, int* err);

// The last component of a path ("../../../bus/pci/drivers/vfio-pci" -> "vfio-pci").
std::string last_component(const std::string& path);

// The driver bound to a PCI device ("vfio-pci", "ivshmem"), or "" when none is.
std::string driver_of(SysApi& sys, const std::string& bdf);

// "0000:00:1f.3 (snd_hda_intel), 0000:00:1f.4 (e1000e)": the devices of IOMMU group `group`,
// other than `self`, bound to a driver other than vfio-pci (what makes a group not viable).
// Empty if none or unreadable.
std::string group_members_not_on_vfio(SysApi& sys, int group, const std::string& self);

}  // namespace pbx::vfio::detail
