#include "pbx/vfio/group.h"

#include <fcntl.h>
#include <linux/vfio.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "diag.h"
#include "sysfs.h"

namespace pbx::vfio {

using detail::dev_fail;
using detail::kUdevRules;
using detail::strf;
using detail::sys_fail;

namespace {

constexpr const char* kEnableIommu =
    "enable the IOMMU (intel_iommu=on / amd_iommu=on on the kernel command line), or load vfio with "
    "enable_unsafe_noiommu_mode=1 where the kernel has CONFIG_VFIO_NOIOMMU";

}  // namespace

// The group number from the iommu_group link ("../../../kernel/iommu_groups/12" -> 12).
Result<int> iommu_group_of(SysApi& sys, const Bdf& bdf) {
  const std::string bdf_s = bdf.str();
  const std::string link = detail::pci_path(bdf_s, "iommu_group");
  int err = 0;
  auto target = detail::read_link(sys, link, &err);
  if (!target) {
    if (err == ENOENT)
      return dev_fail(Errc::kNotSupported, bdf, "readlink " + link,
                      std::string("the device has no IOMMU group; ") + kEnableIommu);
    return sys_fail(err, bdf, "readlink " + link, "");
  }
  const std::string num = detail::last_component(*target);
  char* end = nullptr;
  const long n = std::strtol(num.c_str(), &end, 10);
  if (num.empty() || *end != '\0' || n < 0 || n > 0x7fffffff)
    return dev_fail(Errc::kIoError, bdf, "readlink " + link,
                    strf("cannot read a group number from '%s'", target->c_str()));
  return static_cast<int>(n);
}

Result<VfioGroup> VfioGroup::open(SysApi& sys, const Bdf& bdf, int group, bool allow_noiommu) {
  const std::string path = "/dev/vfio/" + std::to_string(group);
  bool noiommu = false;
  std::string opened = path;
  int fd = sys.open(path.c_str(), O_RDWR);
  if (fd < 0 && errno == ENOENT && allow_noiommu) {
    const std::string np = "/dev/vfio/noiommu-" + std::to_string(group);
    const int nfd = sys.open(np.c_str(), O_RDWR);
    if (nfd >= 0 || errno != ENOENT) {
      fd = nfd;
      noiommu = true;
      opened = np;
    } else {
      errno = ENOENT;
    }
  }
  if (fd < 0) {
    const int err = errno;
    std::string fix;
    if (err == EACCES || err == EPERM)
      fix = strf("add the user to group postbox (%s) or run as root", kUdevRules);
    else if (err == EBUSY)
      fix = "the group is open in another process (a VFIO group has one owner): stop that process, or "
            "let postboxd own the device";
    else if (err == ENOENT)
      fix = strf("is the device bound to vfio-pci? bind it with `pbx-probe bind %s` or install %s", bdf.str().c_str(),
                 kUdevRules);
    return sys_fail(err, bdf, "open " + opened, fix);
  }
  VfioGroup g(sys, bdf, group, noiommu, SysFd(sys, fd));

  vfio_group_status status{};
  status.argsz = sizeof status;
  if (sys.ioctl(fd, VFIO_GROUP_GET_STATUS, &status) != 0)
    return sys_fail(errno, bdf, "ioctl VFIO_GROUP_GET_STATUS", "");
  if ((status.flags & VFIO_GROUP_FLAGS_VIABLE) == 0) {
    std::string others = detail::group_members_not_on_vfio(sys, group, bdf.str());
    return dev_fail(Errc::kBusy, bdf, "ioctl VFIO_GROUP_GET_STATUS",
                    strf("IOMMU group %d is not viable: every device in it must be bound to vfio-pci or "
                         "to no driver; bound to other drivers: %s; bind them with `pbx-probe bind <BDF>` "
                         "or unbind them",
                         group, others.empty() ? "(could not list /sys/kernel/iommu_groups)" : others.c_str()));
  }
  return g;
}

Result<void> VfioGroup::set_container(const VfioContainer& container) {
  int cfd = container.fd();
  if (sys_->ioctl(fd_.get(), VFIO_GROUP_SET_CONTAINER, &cfd) != 0)
    return sys_fail(errno, bdf_, "ioctl VFIO_GROUP_SET_CONTAINER", "");
  return {};
}

Result<SysFd> VfioGroup::open_device() {
  std::string name = bdf_.str();
  const int fd = sys_->ioctl(fd_.get(), VFIO_GROUP_GET_DEVICE_FD, name.data());
  if (fd < 0) {
    const int err = errno;
    const char* fix = err == EPERM ? "no-IOMMU devices need CAP_SYS_RAWIO: run as root"
                      : err == EBUSY ? "the device is open in another process: stop it" : "";
    return sys_fail(err, bdf_, "ioctl VFIO_GROUP_GET_DEVICE_FD", fix);
  }
  return SysFd(*sys_, fd);
}

}  // namespace pbx::vfio
