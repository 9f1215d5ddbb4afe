#include "sysfs.h"

#include <cerrno>

namespace pbx::vfio::detail {

std::string pci_path(const std::string& bdf, const char* leaf) {
  std::string p = kPciDevices + bdf;
  if (leaf != nullptr) {
    p += '/';
    p += leaf;
  }
  return p;
}

std::optional<std::string> read_link(SysApi& sys, const std::string& path, int* err) {
  char buf[4096];
  const ssize_t n = sys.readlink(path.c_str(), buf, sizeof buf);
  if (n < 0) {
    *err = errno;
    return std::nullopt;
  }
  if (static_cast<size_t>(n) >= sizeof buf) {
    *err = ENAMETOOLONG;
    return std::nullopt;
  }
  return std::string(buf, static_cast<size_t>(n));
}

std::string last_component(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string driver_of(SysApi& sys, const std::string& bdf) {
  int err = 0;
  auto target = read_link(sys, pci_path(bdf, "driver"), &err);
  return target ? last_component(*target) : std::string();
}

std::string group_members_not_on_vfio(SysApi& sys, int group, const std::string& self) {
  std::vector<std::string> names;
  const std::string dir = kIommuGroups + std::to_string(group) + "/devices";
  if (sys.list_dir(dir.c_str(), &names) != 0) return {};
  std::string out;
  for (const std::string& name : names) {
    if (name == self) continue;
    const std::string drv = driver_of(sys, name);
    if (drv.empty() || drv == kVfioPciDriver) continue;  // unbound devices keep a group viable
    if (!out.empty()) out += ", ";
    out += name + " (" + drv + ")";
  }
  return out;
}

}  // namespace pbx::vfio::detail
