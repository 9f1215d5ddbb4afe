// VfioDevice: one PCI device driven from user space through VFIO.
//
//   auto bdf = pbx::vfio::Bdf::parse("0000:00:04.0");
//   auto dev = pbx::vfio::VfioDevice::open(*bdf);             // Result<VfioDevice>
//   if (!dev) { log(dev.error().message()); return; }         // says what failed and the fix
//   auto bar2 = dev->map_bar(2, {.write_combining = true});   // Result<BarView>: span + MemType
//   auto id = dev->config_read<uint16_t>(pbx::vfio::pci::kDeviceId);
//   dev->enable_msix(2);                                       // vectors 0,1 as eventfds
//   auto fired = dev->msix()->wait(0, 1'000'000'000);          // up to 1 s
//   dev->map_dma(buffer, iova);                                // unmapped by unmap_dma or at close
//
// open() checks, in order: the device exists, it has an IOMMU group, it is bound to vfio-pci,
// /dev/vfio/vfio opens with the expected API, the group opens (/dev/vfio/N or noiommu-N) and
// is viable; then it joins the group to the container, selects the IOMMU type (type1v2, or
// no-IOMMU for a noiommu group) and gets the device fd. Every failure says which step failed
// on which device and what to do.
//
// The device owns everything it acquires, declared in acquisition order (container, group,
// device fd, BAR maps, DMA maps, MSI-X) so that destruction releases them in reverse. Views it
// hands out (BarView spans) stay valid while the VfioDevice lives, also across a move.
// Threading: one thread at a time; MSI-X waits on distinct vectors may run concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "pbx/base/error.h"
#include "pbx/vfio/bdf.h"
#include "pbx/vfio/container.h"
#include "pbx/vfio/dma.h"
#include "pbx/vfio/group.h"
#include "pbx/vfio/msix.h"
#include "pbx/vfio/sys_api.h"
#include "pbx/vfio/sys_owner.h"

namespace pbx::vfio {

// How a BAR mapping is cached. vfio-pci maps BARs uncached; write-combining comes only from the
// sysfs resourceN_wc file of a prefetchable BAR (root only).
enum class MemType : uint8_t { kUncached, kWriteCombining };

constexpr const char* to_string(MemType t) noexcept {
  return t == MemType::kWriteCombining ? "write-combining" : "uncached";
}

struct Options {
  SysApi* sys = nullptr;       // nullptr: the real system calls (tests pass a mock)
  bool allow_noiommu = true;   // accept /dev/vfio/noiommu-N groups (unsafe no-IOMMU mode)
};

struct RegionInfo {
  uint32_t index = 0;
  uint32_t flags = 0;   // VFIO_REGION_INFO_FLAG_*
  uint64_t size = 0;
  uint64_t offset = 0;  // of the region in the device fd (pread/pwrite/mmap)
  bool readable() const noexcept;
  bool writable() const noexcept;
  bool mappable() const noexcept;
};

struct BarMapOptions {
  // Map a prefetchable BAR write-combining through /sys/bus/pci/devices/<BDF>/resourceN_wc
  // where that exists and opens (root). Otherwise, or if it fails, map it uncached.
  bool write_combining = false;
};

// A BAR mapped into this process. The mapping is owned by the VfioDevice.
struct BarView {
  std::span<std::byte> mem;
  MemType mem_type = MemType::kUncached;
  std::string note;  // why write-combining was not used, when it was asked for; else empty
  // The file behind the mapping, owned by the VfioDevice: a process that receives a dup of `fd`
  // maps the same BAR, cached the same way, with mmap(..., MAP_SHARED, fd, fd_offset + b) for
  // byte b. The VFIO device fd at the BAR region's offset (uncached), or the sysfs
  // resourceN_wc file at 0 (write-combining; opened by root, mappable by whoever holds it).
  int fd = -1;
  uint64_t fd_offset = 0;
};

class VfioDevice {
 public:
  [[nodiscard]] static Result<VfioDevice> open(const Bdf& bdf, const Options& opts = {});

  VfioDevice(VfioDevice&&) noexcept;
  VfioDevice& operator=(VfioDevice&&) = delete;  // release order matters: move-construct instead
  ~VfioDevice();

  const Bdf& bdf() const noexcept { return bdf_; }
  IommuMode iommu_mode() const noexcept { return container_.mode(); }
  int group_number() const noexcept { return group_.number(); }
  int device_fd() const noexcept { return device_.get(); }
  uint32_t num_regions() const noexcept { return num_regions_; }
  uint32_t num_irqs() const noexcept { return num_irqs_; }
  bool can_reset() const noexcept { return can_reset_; }

  [[nodiscard]] Result<RegionInfo> region_info(uint32_t index);

  // Maps BAR `bar` (0..5); later calls return the same mapping. An uncached and a
  // write-combining mapping of one BAR may coexist (atomic read-modify-write is only safe on
  // the uncached one; bulk stores are fast on the other). When write-combining cannot be had,
  // the uncached mapping is returned, with a note saying why.
  [[nodiscard]] Result<BarView> map_bar(unsigned bar, const BarMapOptions& opts = {});

  // Configuration space through the VFIO config region. `off` aligned to the access size.
  template <class T>
    requires(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4)
  [[nodiscard]] Result<T> config_read(uint32_t off) {
    T v{};
    if (auto ok = config_access(off, &v, sizeof v, false); !ok) return tl::unexpected(ok.error());
    return v;
  }
  template <class T>
    requires(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4)
  [[nodiscard]] Result<void> config_write(uint32_t off, T v) {
    return config_access(off, &v, sizeof v, true);
  }

  // Sets Memory Space and Bus Master Enable in the command register. MSI-X messages are
  // memory writes by the device: without Bus Master they are silently dropped.
  [[nodiscard]] Result<void> enable_bus_master();
  // VFIO_DEVICE_RESET (function-level or equivalent), where the device supports one.
  [[nodiscard]] Result<void> reset();

  // DMA mapping of local memory at `iova` (type1v2 only), owned by the device.
  [[nodiscard]] Result<void> map_dma(std::span<std::byte> mem, uint64_t iova, DmaAccess access = DmaAccess::kReadWrite);
  [[nodiscard]] Result<void> unmap_dma(uint64_t iova);
  size_t dma_mapping_count() const noexcept { return dma_.size(); }

  // MSI-X vectors the device has (VFIO_DEVICE_GET_IRQ_INFO); 0 if none.
  [[nodiscard]] Result<uint32_t> msix_capacity();
  // Enables vectors 0..count-1 as eventfds, after enabling bus mastering (see above).
  [[nodiscard]] Result<void> enable_msix(uint32_t count);
  // The enabled vectors, or nullptr.
  MsixVectors* msix() noexcept { return msix_ ? &*msix_ : nullptr; }
  const MsixVectors* msix() const noexcept { return msix_ ? &*msix_ : nullptr; }
  void disable_msix() noexcept { msix_.reset(); }

 private:
  VfioDevice(SysApi& sys, const Bdf& bdf, VfioContainer container, VfioGroup group, SysFd device) noexcept;
  Result<void> config_access(uint32_t off, void* v, size_t n, bool write);
  std::optional<SysMapping> map_bar_wc(unsigned bar, const RegionInfo& ri, std::string* note);

  SysApi* sys_;
  Bdf bdf_;
  // Acquisition order (destruction runs in reverse):
  VfioContainer container_;
  VfioGroup group_;
  SysFd device_;
  std::array<SysMapping, 6> bars_uc_;   // vfio-pci mmap of each BAR
  std::array<uint64_t, 6> bars_uc_off_{};  // their region offsets in device_
  std::array<SysFd, 6> wc_files_;       // resourceN_wc, kept open for BarView::fd
  std::array<SysMapping, 6> bars_wc_;   // resourceN_wc mmap, where asked for and possible
  std::array<std::string, 6> wc_note_;  // why bars_wc_[i] could not be made
  std::map<uint64_t, DmaMapping> dma_;
  std::optional<MsixVectors> msix_;

  uint32_t num_regions_ = 0;
  uint32_t num_irqs_ = 0;
  bool can_reset_ = false;
  RegionInfo config_;
};

}  // namespace pbx::vfio
