// Small sysfs helpers for pbx-probe, rooted at a configurable directory so that tests run the
// tool against a fake tree: $PBX_SYSFS_ROOT (or the hidden --sysfs-root option), else /sys.
#pragma once

#include <optional>
#include <string>

#include "pbx/base/error.h"

namespace pbx::probe {

class Sysfs {
 public:
  explicit Sysfs(std::string root) : root_(std::move(root)) {}
  // The root from the environment ($PBX_SYSFS_ROOT) or /sys.
  static std::string default_root();

  const std::string& root() const noexcept { return root_; }
  std::string pci_path() const { return root_ + "/bus/pci"; }
  std::string device_dir(const std::string& bdf) const { return root_ + "/bus/pci/devices/" + bdf; }
  std::string driver_dir(const std::string& name) const { return root_ + "/bus/pci/drivers/" + name; }

  bool exists(const std::string& path) const;
  // The last component of the symlink's target, or nullopt when there is no such link.
  std::optional<std::string> link_name(const std::string& path) const;
  // The first line of a file, without the newline.
  Result<std::string> read_line(const std::string& path) const;
  // Writes `value` to a sysfs attribute. Errors say which file, why, and what to do.
  Result<void> write(const std::string& path, const std::string& value) const;

  // Driver bound to a device (empty: none) and its IOMMU group (nullopt: none).
  std::string driver_of(const std::string& bdf) const;
  std::optional<int> iommu_group_of(const std::string& bdf) const;

 private:
  std::string root_;
};

// "write <path>: Permission denied (run as root)" and the like.
std::string describe_write_error(const std::string& path, int err);

}  // namespace pbx::probe
