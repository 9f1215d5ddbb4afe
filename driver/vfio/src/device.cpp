#include "pbx/vfio/device.h"

#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/mman.h>

#include <cerrno>

#include "diag.h"
#include "pbx/vfio/pci.h"
#include "sysfs.h"

namespace pbx::vfio {

using detail::dev_fail;
using detail::strf;
using detail::sys_fail;

bool RegionInfo::readable() const noexcept { return (flags & VFIO_REGION_INFO_FLAG_READ) != 0; }
bool RegionInfo::writable() const noexcept { return (flags & VFIO_REGION_INFO_FLAG_WRITE) != 0; }
bool RegionInfo::mappable() const noexcept { return (flags & VFIO_REGION_INFO_FLAG_MMAP) != 0; }

namespace {

// The device exists, has an IOMMU group and is bound to vfio-pci (checked before any /dev/vfio
// file is opened, so that the message names the real cause). Returns the group number.
Result<int> check_sysfs(SysApi& sys, const Bdf& bdf) {
  const std::string s = bdf.str();
  const std::string dev_path = detail::pci_path(s);
  int err = 0;
  if (!detail::read_link(sys, dev_path, &err)) {
    if (err == ENOENT)
      return dev_fail(Errc::kNoDevice, bdf, "readlink " + dev_path,
                      "no such PCI device; list the devices with `lspci -D` (in a VM: is the device on "
                      "the QEMU command line?)");
    return sys_fail(err, bdf, "readlink " + dev_path, "");
  }
  auto group = iommu_group_of(sys, bdf);
  if (!group) return tl::unexpected(group.error());
  const std::string driver = detail::driver_of(sys, s);
  if (driver != detail::kVfioPciDriver) {
    const std::string held = driver.empty() ? std::string("no driver is bound to it") : "driver " + driver + " holds it";
    return dev_fail(driver.empty() ? Errc::kNoDevice : Errc::kBusy, bdf, "readlink " + detail::pci_path(s, "driver"),
                    strf("not bound to vfio-pci (%s); bind it with `pbx-probe bind %s` or install %s", held.c_str(),
                         s.c_str(), detail::kUdevRules));
  }
  return group;
}

}  // namespace

VfioDevice::VfioDevice(SysApi& sys, const Bdf& bdf, VfioContainer container, VfioGroup group, SysFd device) noexcept
    : sys_(&sys), bdf_(bdf), container_(std::move(container)), group_(std::move(group)), device_(std::move(device)) {}

VfioDevice::VfioDevice(VfioDevice&&) noexcept = default;
VfioDevice::~VfioDevice() = default;

Result<VfioDevice> VfioDevice::open(const Bdf& bdf, const Options& opts) {
  SysApi& sys = opts.sys != nullptr ? *opts.sys : system_sys_api();
  auto group_number = check_sysfs(sys, bdf);
  if (!group_number) return tl::unexpected(group_number.error());

  auto container = VfioContainer::open(sys, bdf);
  if (!container) return tl::unexpected(container.error());
  auto group = VfioGroup::open(sys, bdf, *group_number, opts.allow_noiommu);
  if (!group) return tl::unexpected(group.error());
  if (auto ok = group->set_container(*container); !ok) return tl::unexpected(ok.error());
  if (auto ok = container->set_iommu(group->noiommu() ? IommuMode::kNoIommu : IommuMode::kType1v2); !ok)
    return tl::unexpected(ok.error());
  auto device_fd = group->open_device();
  if (!device_fd) return tl::unexpected(device_fd.error());

  VfioDevice dev(sys, bdf, std::move(*container), std::move(*group), std::move(*device_fd));
  vfio_device_info info{};
  info.argsz = sizeof info;
  if (sys.ioctl(dev.device_.get(), VFIO_DEVICE_GET_INFO, &info) != 0)
    return sys_fail(errno, bdf, "ioctl VFIO_DEVICE_GET_INFO", "");
  if ((info.flags & VFIO_DEVICE_FLAGS_PCI) == 0 || info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
    return dev_fail(Errc::kNotSupported, bdf, "ioctl VFIO_DEVICE_GET_INFO",
                    strf("not a vfio-pci device (flags 0x%x, %u regions)", info.flags, info.num_regions));
  dev.num_regions_ = info.num_regions;
  dev.num_irqs_ = info.num_irqs;
  dev.can_reset_ = (info.flags & VFIO_DEVICE_FLAGS_RESET) != 0;
  auto config = dev.region_info(VFIO_PCI_CONFIG_REGION_INDEX);
  if (!config) return tl::unexpected(config.error());
  dev.config_ = *config;
  return dev;
}

Result<RegionInfo> VfioDevice::region_info(uint32_t index) {
  if (index >= num_regions_)
    return dev_fail(Errc::kInvalidArgument, bdf_, "region info",
                    strf("region %u does not exist (the device has %u)", index, num_regions_));
  vfio_region_info ri{};
  ri.argsz = sizeof ri;
  ri.index = index;
  if (sys_->ioctl(device_.get(), VFIO_DEVICE_GET_REGION_INFO, &ri) != 0)
    return sys_fail(errno, bdf_, strf("ioctl VFIO_DEVICE_GET_REGION_INFO(%u)", index), "");
  return RegionInfo{ri.index, ri.flags, ri.size, ri.offset};
}

Result<void> VfioDevice::config_access(uint32_t off, void* v, size_t n, bool write) {
  const char* what = write ? "write" : "read";
  if (off % n != 0 || off + n > config_.size)
    return dev_fail(Errc::kInvalidArgument, bdf_, strf("config %s", what),
                    strf("%zu-byte access at 0x%x is unaligned or beyond the %llu-byte config space", n, off,
                         static_cast<unsigned long long>(config_.size)));
  const auto pos = static_cast<off_t>(config_.offset + off);
  const ssize_t r = write ? sys_->pwrite(device_.get(), v, n, pos) : sys_->pread(device_.get(), v, n, pos);
  if (r != static_cast<ssize_t>(n))
    return sys_fail(r < 0 ? errno : EIO, bdf_, strf("p%s config space at 0x%x (%zu bytes)", what, off, n), "");
  return {};
}

Result<void> VfioDevice::enable_bus_master() {
  auto cmd = config_read<uint16_t>(pci::kCommand);
  if (!cmd) return tl::unexpected(cmd.error());
  const auto want = static_cast<uint16_t>(*cmd | pci::kCommandMemory | pci::kCommandBusMaster);
  if (want == *cmd) return {};
  return config_write<uint16_t>(pci::kCommand, want);
}

Result<void> VfioDevice::reset() {
  if (!can_reset_)
    return dev_fail(Errc::kNotSupported, bdf_, "ioctl VFIO_DEVICE_RESET",
                    "the device offers no reset method (no FLR, PM or bus reset) to vfio-pci");
  if (sys_->ioctl_value(device_.get(), VFIO_DEVICE_RESET, 0) != 0)
    return sys_fail(errno, bdf_, "ioctl VFIO_DEVICE_RESET", "");
  return {};
}

std::optional<SysMapping> VfioDevice::map_bar_wc(unsigned bar, const RegionInfo& ri, std::string* note) {
  auto reg = config_read<uint32_t>(pci::kBar0 + 4 * bar);
  if (!reg) {
    *note = reg.error().message();
    return std::nullopt;
  }
  if ((*reg & pci::kBarIoSpace) != 0 || (*reg & pci::kBarPrefetchable) == 0) {
    *note = strf("BAR%u is not prefetchable, so it cannot be mapped write-combining", bar);
    return std::nullopt;
  }
  const std::string path = detail::pci_path(bdf_.str(), strf("resource%u_wc", bar).c_str());
  const int fd = sys_->open(path.c_str(), O_RDWR);
  if (fd < 0) {
    const int err = errno;
    *note = err == ENOENT ? strf("%s does not exist (no write-combining mmap on this platform)", path.c_str())
            : (err == EACCES || err == EPERM)
                ? strf("open %s: permission denied (root only)", path.c_str())
                : detail::sys_error(err, bdf_, "open " + path, "").message();
    return std::nullopt;
  }
  SysFd owner(*sys_, fd);  // kept once mapped: BarView::fd hands it to other processes
  void* p = sys_->mmap(nullptr, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    // pci_mmap_resource() refuses a BAR that a driver (here vfio-pci) has claimed when the
    // kernel checks I/O memory strictly (CONFIG_IO_STRICT_DEVMEM, the default with STRICT_DEVMEM).
    *note = detail::sys_error(err, bdf_, "mmap " + path,
                              err == EINVAL ? "the kernel will not map a BAR claimed by vfio-pci while it checks "
                                              "I/O memory strictly; boot with iomem=relaxed to allow it"
                                            : "")
                .message();
    return std::nullopt;
  }
  wc_files_[bar] = std::move(owner);
  return SysMapping(*sys_, p, ri.size);
}

Result<BarView> VfioDevice::map_bar(unsigned bar, const BarMapOptions& opts) {
  if (bar > 5) return dev_fail(Errc::kInvalidArgument, bdf_, "map BAR", strf("BAR%u does not exist (0..5)", bar));
  if (opts.write_combining && bars_wc_[bar].valid())
    return BarView{bars_wc_[bar].span(), MemType::kWriteCombining, {}, wc_files_[bar].get(), 0};
  if (!opts.write_combining && bars_uc_[bar].valid())
    return BarView{bars_uc_[bar].span(), MemType::kUncached, {}, device_.get(), bars_uc_off_[bar]};

  auto ri = region_info(bar);
  if (!ri) return tl::unexpected(ri.error());
  if (ri->size == 0)
    return dev_fail(Errc::kNotSupported, bdf_, strf("map BAR%u", bar), "the device does not implement this BAR (size 0)");
  if (opts.write_combining && wc_note_[bar].empty()) {
    if (auto wc = map_bar_wc(bar, *ri, &wc_note_[bar])) {
      bars_wc_[bar] = std::move(*wc);
      return BarView{bars_wc_[bar].span(), MemType::kWriteCombining, {}, wc_files_[bar].get(), 0};
    }
  }
  if (!bars_uc_[bar].valid()) {
    if (!ri->mappable())
      return dev_fail(Errc::kNotSupported, bdf_, strf("map BAR%u", bar),
                      strf("vfio-pci does not allow mmap of this BAR (region flags 0x%x): it may be smaller "
                           "than a page or hold the MSI-X table",
                           ri->flags));
    void* p = sys_->mmap(nullptr, ri->size, PROT_READ | PROT_WRITE, MAP_SHARED, device_.get(),
                         static_cast<off_t>(ri->offset));
    if (p == MAP_FAILED)
      return sys_fail(errno, bdf_, strf("mmap BAR%u (%llu bytes)", bar, static_cast<unsigned long long>(ri->size)), "");
    bars_uc_[bar] = SysMapping(*sys_, p, ri->size);
    bars_uc_off_[bar] = ri->offset;
  }
  return BarView{bars_uc_[bar].span(), MemType::kUncached, opts.write_combining ? wc_note_[bar] : std::string(),
                 device_.get(), bars_uc_off_[bar]};
}

Result<void> VfioDevice::map_dma(std::span<std::byte> mem, uint64_t iova, DmaAccess access) {
  const std::string call = strf("map DMA at IOVA 0x%llx", static_cast<unsigned long long>(iova));
  if (container_.mode() == IommuMode::kNoIommu)
    return dev_fail(Errc::kNotSupported, bdf_, call,
                    "no-IOMMU mode has no IOMMU to program; enable the IOMMU (intel_iommu=on / amd_iommu=on)");
  if (dma_.contains(iova))
    return dev_fail(Errc::kBusy, bdf_, call, "this IOVA is already mapped; unmap it first");
  auto m = DmaMapping::map(*sys_, container_.fd(), bdf_, mem, iova, access);
  if (!m) return tl::unexpected(m.error());
  dma_.emplace(iova, std::move(*m));
  return {};
}

Result<void> VfioDevice::unmap_dma(uint64_t iova) {
  auto it = dma_.find(iova);
  if (it == dma_.end())
    return dev_fail(Errc::kInvalidArgument, bdf_, strf("unmap DMA at IOVA 0x%llx", static_cast<unsigned long long>(iova)),
                    "nothing is mapped at this IOVA");
  dma_.erase(it);  // DmaMapping's destructor unmaps
  return {};
}

Result<uint32_t> VfioDevice::msix_capacity() {
  if (num_irqs_ <= VFIO_PCI_MSIX_IRQ_INDEX) return 0u;
  vfio_irq_info info{};
  info.argsz = sizeof info;
  info.index = VFIO_PCI_MSIX_IRQ_INDEX;
  if (sys_->ioctl(device_.get(), VFIO_DEVICE_GET_IRQ_INFO, &info) != 0)
    return sys_fail(errno, bdf_, "ioctl VFIO_DEVICE_GET_IRQ_INFO(MSI-X)", "");
  if ((info.flags & VFIO_IRQ_INFO_EVENTFD) == 0) return 0u;
  return info.count;
}

Result<void> VfioDevice::enable_msix(uint32_t count) {
  auto cap = msix_capacity();
  if (!cap) return tl::unexpected(cap.error());
  if (*cap == 0)
    return dev_fail(Errc::kNotSupported, bdf_, "enable MSI-X", "the device has no MSI-X vectors with eventfd support");
  if (count == 0 || count > *cap)
    return dev_fail(Errc::kInvalidArgument, bdf_, "enable MSI-X",
                    strf("%u vectors asked for; the device has %u", count, *cap));
  if (auto ok = enable_bus_master(); !ok) return tl::unexpected(ok.error());
  msix_.reset();  // re-enabling: disable the earlier set first
  auto v = MsixVectors::enable(*sys_, device_.get(), bdf_, count);
  if (!v) return tl::unexpected(v.error());
  msix_.emplace(std::move(*v));
  return {};
}

}  // namespace pbx::vfio
