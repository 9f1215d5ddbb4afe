// What the NTB backends' VFIO ports (the product path of the Intel, AMD and Switchtec backends)
// do alike: the VFIO device and its config space, DMA mapping, a window BAR mapped for stores and
// handed out as a file, MSI-X waits; and the steps of every backend's open() from a PCI address
// to an attached device. Private to hal/ntb; each port keeps what its family needs (which BARs,
// which registers it reads before attaching, how many vectors).
//
//   class VfioAmdPort final : public VfioNtbPort<AmdNtbPort> { ... };
//   Result<std::unique_ptr<AmdNtbDevice>> AmdNtbDevice::open(vfio::VfioDevice dev, const AmdNtbOptions& opts) {
//     return attach_over_vfio<AmdNtbDevice, VfioAmdPort>(std::move(dev), opts);
//   }
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "pbx/base/error.h"
#include "pbx/hal/device.h"
#include "pbx/vfio/bdf.h"
#include "pbx/vfio/device.h"
#include "vfio_config_space.h"

namespace pbx::hal::detail {

// A backend's port interface (IntelNtbPort, AmdNtbPort, SwitchtecNtbPort) over a VFIO device:
// the overrides every family's port has, and helpers for those only some have.
template <class Port>
class VfioNtbPort : public Port {
 public:
  std::string name() const override { return dev_.bdf().str(); }
  // Memory decoding and bus mastering on (the NTB writes the peer's data into our memory).
  Result<void> enable_device() override { return dev_.enable_bus_master(); }
  Result<void> map_dma(std::span<std::byte> mem, uint64_t iova) override { return dev_.map_dma(mem, iova); }
  void unmap_dma(uint64_t iova) noexcept override { (void)dev_.unmap_dma(iova); }

 protected:
  VfioNtbPort(vfio::VfioDevice dev, bool write_combining) noexcept
      : dev_(std::move(dev)), cfg_(dev_), write_combining_(write_combining) {}

  // BAR `bar` mapped for stores: write-combining where asked for and the platform allows (sysfs
  // resourceN_wc), else uncached (the VFIO device fd). Remembered for bar_mem_type() and bar_file().
  Result<std::span<std::byte>> map_bar_for_stores(unsigned bar) {
    auto v = dev_.map_bar(bar, {.write_combining = write_combining_});
    if (!v) return tl::unexpected(v.error());
    mem_type_ = v->mem_type == vfio::MemType::kWriteCombining ? MemType::kWriteCombining : MemType::kUncached;
    file_ = MappableFile{v->fd, v->fd_offset, mem_type_};
    file_bar_ = bar;
    return v->mem;
  }
  MemType bar_mem_type() const noexcept { return mem_type_; }
  // The file map_bar_for_stores() mapped `bar` from: resourceN_wc, or the VFIO device fd at the
  // BAR's region offset (uncached, as vfio-pci maps it in any process that holds the fd).
  Result<MappableFile> bar_file(unsigned bar) const {
    if (file_.fd < 0 || bar != file_bar_)
      return fail(Errc::kInvalidArgument, "%s: BAR%u is not mapped", name().c_str(), bar);
    return file_;
  }
  // Waits until MSI-X `vector` fires or `timeout_ns` passes; false at once without MSI-X.
  Result<bool> msix_wait(uint16_t vector, uint64_t timeout_ns) {
    if (dev_.msix() == nullptr) return false;
    return dev_.msix()->wait(vector, static_cast<int64_t>(std::min<uint64_t>(timeout_ns, INT64_MAX)));
  }

  vfio::VfioDevice dev_;
  VfioConfigSpace cfg_;  // over dev_

 private:
  bool write_combining_;
  MemType mem_type_ = MemType::kUncached;
  MappableFile file_;
  unsigned file_bar_ = 0;
};

// Dev::open(VfioDevice, opts): the options checked, the family's VFIO port made over the device
// (VfioPort::open(dev, opts)), the backend attached to it.
template <class Dev, class VfioPort, class Opts>
Result<std::unique_ptr<Dev>> attach_over_vfio(vfio::VfioDevice dev, const Opts& opts) {
  if (auto ok = opts.validate(); !ok) return tl::unexpected(ok.error());
  auto port = VfioPort::open(std::move(dev), opts);
  if (!port) return tl::unexpected(port.error());
  return Dev::attach(std::move(*port), opts);
}

// Dev::open(Bdf, opts): the options checked before the device is opened through VFIO, then
// Dev::open(VfioDevice, opts).
template <class Dev, class Opts>
Result<std::unique_ptr<Dev>> open_over_vfio(const vfio::Bdf& bdf, const Opts& opts) {
  if (auto ok = opts.validate(); !ok) return tl::unexpected(ok.error());
  auto dev = vfio::VfioDevice::open(bdf, opts.vfio);
  if (!dev) return tl::unexpected(dev.error());
  return Dev::open(std::move(*dev), opts);
}

}  // namespace pbx::hal::detail
