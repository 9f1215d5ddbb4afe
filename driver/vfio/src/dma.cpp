#include "pbx/vfio/dma.h"

#include <linux/vfio.h>
#include <unistd.h>

#include <cerrno>

#include "diag.h"

namespace pbx::vfio {

using detail::dev_fail;
using detail::strf;
using detail::sys_fail;

Result<DmaMapping> DmaMapping::map(SysApi& sys, int container_fd, const Bdf& bdf, std::span<std::byte> mem,
                                   uint64_t iova, DmaAccess access) {
  const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const auto vaddr = reinterpret_cast<uintptr_t>(mem.data());
  const std::string call = strf("ioctl VFIO_IOMMU_MAP_DMA(iova 0x%llx, %zu bytes)",
                                static_cast<unsigned long long>(iova), mem.size());
  if (mem.empty() || mem.size() % page != 0 || vaddr % page != 0 || iova % page != 0)
    return dev_fail(Errc::kInvalidArgument, bdf, call,
                    strf("memory at %p (%zu bytes) and IOVA 0x%llx must be aligned to the page size (%llu) "
                         "and a non-empty whole number of pages",
                         static_cast<void*>(mem.data()), mem.size(), static_cast<unsigned long long>(iova),
                         static_cast<unsigned long long>(page)));
  vfio_iommu_type1_dma_map m{};
  m.argsz = sizeof m;
  m.flags = ((static_cast<unsigned>(access) & 1) != 0 ? VFIO_DMA_MAP_FLAG_READ : 0u) |
            ((static_cast<unsigned>(access) & 2) != 0 ? VFIO_DMA_MAP_FLAG_WRITE : 0u);
  m.vaddr = vaddr;
  m.iova = iova;
  m.size = mem.size();
  if (sys.ioctl(container_fd, VFIO_IOMMU_MAP_DMA, &m) != 0) {
    const int err = errno;
    const char* fix = err == ENOMEM ? "the locked-memory limit is too low: raise it (ulimit -l, systemd "
                                      "LimitMEMLOCK=) or run as root"
                      : err == EEXIST ? "the IOVA range overlaps an existing mapping: choose another IOVA"
                      : err == EPERM  ? "the memory must be writable by this process"
                                      : "";
    return sys_fail(err, bdf, call, fix);
  }
  return DmaMapping(sys, container_fd, iova, mem);
}

void DmaMapping::reset() noexcept {
  if (container_fd_ < 0) return;
  vfio_iommu_type1_dma_unmap u{};
  u.argsz = sizeof u;
  u.flags = 0;
  u.iova = iova_;
  u.size = mem_.size();
  (void)sys_->ioctl(container_fd_, VFIO_IOMMU_UNMAP_DMA, &u);
  container_fd_ = -1;
  mem_ = {};
}

}  // namespace pbx::vfio
