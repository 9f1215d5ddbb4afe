// Finding PCI devices by vendor and device ID in sysfs (/sys/bus/pci/devices/*/{vendor,device}).
//
//   auto found = pbx::vfio::find_pci_devices(0x1af4, 0x1110);   // every ivshmem device
//   for (const auto& d : *found) printf("%s %s\n", d.bdf.str().c_str(), d.driver.c_str());
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pbx/base/error.h"
#include "pbx/vfio/bdf.h"
#include "pbx/vfio/sys_api.h"

namespace pbx::vfio {

struct PciDeviceEntry {
  Bdf bdf;
  std::string driver;  // bound driver ("vfio-pci"), or "" when none
};

// The devices with this vendor:device ID, in address order. Entries whose ID files cannot be
// read are skipped; failing to list /sys/bus/pci/devices is an error.
[[nodiscard]] Result<std::vector<PciDeviceEntry>> find_pci_devices(uint16_t vendor, uint16_t device,
                                                                   SysApi& sys = system_sys_api());

}  // namespace pbx::vfio
