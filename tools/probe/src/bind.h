// pbx-probe bind / unbind: hands a device to vfio-pci and back, the way dpdk-devbind.py does
// (driver_override, unbind from the current driver, drivers_probe), loading vfio-pci first if
// needed. Every step it takes is reported on `out`; failures are errors that say what to do.
#pragma once

#include <cstdio>
#include <string>

#include "pbx/base/error.h"

namespace pbx::probe {

struct BindOptions {
  std::string sysfs_root = "/sys";
  std::string driver = "vfio-pci";
  std::string modprobe = "modprobe";  // program that loads the driver module
  bool force = false;                 // bind a device pbx-probe does not list
};

[[nodiscard]] Result<void> bind_device(const std::string& bdf, const BindOptions& o, std::FILE* out);
// Unbinds from the current driver, clears driver_override and lets the kernel's default driver
// (if any) claim the device again.
[[nodiscard]] Result<void> unbind_device(const std::string& bdf, const BindOptions& o, std::FILE* out);

// Accepts "0000:af:00.0" or "af:00.0" (domain 0) and returns the canonical form.
[[nodiscard]] Result<std::string> canonical_bdf(const std::string& s);

}  // namespace pbx::probe
