#include "pbx/vfio/pci_scan.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "sysfs.h"

namespace pbx::vfio {

namespace {

// A sysfs ID file ("0x1af4\n"); -1 if unreadable.
long read_id(SysApi& sys, const std::string& path) {
  const int fd = sys.open(path.c_str(), O_RDONLY);
  if (fd < 0) return -1;
  char buf[16] = {};
  const ssize_t n = sys.pread(fd, buf, sizeof buf - 1, 0);
  (void)sys.close(fd);
  if (n <= 0) return -1;
  char* end = nullptr;
  const long v = std::strtol(buf, &end, 16);
  return end == buf ? -1 : v;
}

}  // namespace

Result<std::vector<PciDeviceEntry>> find_pci_devices(uint16_t vendor, uint16_t device, SysApi& sys) {
  std::vector<std::string> names;
  if (sys.list_dir(detail::kPciDevices, &names) != 0)
    return fail_errno(errno, "list %s (is sysfs mounted?)", detail::kPciDevices);
  std::vector<PciDeviceEntry> out;
  for (const std::string& name : names) {
    auto bdf = Bdf::parse(name);
    if (!bdf) continue;
    if (read_id(sys, detail::pci_path(name, "vendor")) != vendor) continue;
    if (read_id(sys, detail::pci_path(name, "device")) != device) continue;
    out.push_back({*bdf, detail::driver_of(sys, name)});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.bdf < b.bdf; });
  return out;
}

}  // namespace pbx::vfio
