#include "pbx/vfio/container.h"

#include <fcntl.h>
#include <linux/vfio.h>

#include <cerrno>

#include "diag.h"

namespace pbx::vfio {

using detail::dev_fail;
using detail::strf;
using detail::sys_fail;

Result<VfioContainer> VfioContainer::open(SysApi& sys, const Bdf& bdf) {
  const int fd = sys.open(kPath, O_RDWR);
  if (fd < 0) {
    const int err = errno;
    const char* fix = err == ENOENT ? "load VFIO: `modprobe vfio-pci`"
                      : (err == EACCES || err == EPERM)
                          ? "/dev/vfio/vfio is normally mode 0666: check its permissions, or run as root"
                          : "";
    return sys_fail(err, bdf, strf("open %s", kPath), fix);
  }
  VfioContainer c(sys, bdf, SysFd(sys, fd));
  const int version = sys.ioctl_value(fd, VFIO_GET_API_VERSION, 0);
  if (version < 0) return sys_fail(errno, bdf, "ioctl VFIO_GET_API_VERSION", "");
  if (version != VFIO_API_VERSION)
    return dev_fail(Errc::kNotSupported, bdf, "ioctl VFIO_GET_API_VERSION",
                    strf("the kernel's VFIO API version is %d, this build speaks version %d; rebuild "
                         "postbox against this kernel's <linux/vfio.h>",
                         version, VFIO_API_VERSION));
  return c;
}

Result<void> VfioContainer::set_iommu(IommuMode mode) {
  const unsigned long type = mode == IommuMode::kType1v2 ? VFIO_TYPE1v2_IOMMU : VFIO_NOIOMMU_IOMMU;
  const char* type_name = mode == IommuMode::kType1v2 ? "VFIO_TYPE1v2_IOMMU" : "VFIO_NOIOMMU_IOMMU";
  const int has = sys_->ioctl_value(fd_.get(), VFIO_CHECK_EXTENSION, type);
  if (has < 0) return sys_fail(errno, bdf_, strf("ioctl VFIO_CHECK_EXTENSION(%s)", type_name), "");
  if (has == 0) {
    const char* fix = mode == IommuMode::kType1v2
                          ? "the kernel offers no type1v2 IOMMU backend: `modprobe vfio_iommu_type1`"
                          : "the kernel has no VFIO no-IOMMU support (CONFIG_VFIO_NOIOMMU): enable the "
                            "IOMMU instead (intel_iommu=on / amd_iommu=on on the kernel command line)";
    return dev_fail(Errc::kNotSupported, bdf_, strf("ioctl VFIO_CHECK_EXTENSION(%s)", type_name), fix);
  }
  if (sys_->ioctl_value(fd_.get(), VFIO_SET_IOMMU, type) != 0) {
    const int err = errno;
    const char* fix =
        (err == EPERM && mode == IommuMode::kType1v2)
            ? "the IOMMU has no interrupt remapping: enable it (QEMU: -device intel-iommu,intremap=on), or "
              "load vfio_iommu_type1 with allow_unsafe_interrupts=1"
        : (err == EPERM) ? "no-IOMMU mode needs CAP_SYS_RAWIO: run as root"
                         : "";
    return sys_fail(err, bdf_, strf("ioctl VFIO_SET_IOMMU(%s)", type_name), fix);
  }
  mode_ = mode;
  return {};
}

}  // namespace pbx::vfio
