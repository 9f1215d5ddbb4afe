// FakeVfio: a software model of what the kernel shows a VFIO driver (sysfs links, /dev/vfio
// files, the VFIO ioctls, BAR and config regions), for unit tests only. It answers like a
// healthy machine with one PCI device bound to vfio-pci; tests change its fields to model other
// machines, or script single failures with MockSysApi (mock_sys_api.h), which delegates here.
//
// Descriptors it hands out are made-up numbers >= 1000 (never closed for real); eventfd(),
// read() and poll() are the real calls, so MSI-X waits work on real eventfds.
#pragma once

#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <utility>
#include <string>
#include <vector>

#include "pbx/vfio/sys_api.h"

namespace pbx::vfio::test {

inline constexpr int kContainerFd = 1001;
inline constexpr int kGroupFd = 1002;
inline constexpr int kDeviceFd = 1003;
inline constexpr int kResourceWcFd = 1004;
inline constexpr int kSysfsFileFd = 1100;  // + index into FakeVfio::sysfs_files
inline constexpr int kFakeFdBase = 1000;

// vfio-pci places region i at offset i << 40 of the device fd.
constexpr uint64_t region_offset(uint32_t index) { return uint64_t{index} << 40; }

class FakeVfio : public SysApi {
 public:
  struct Region {
    uint64_t size = 0;
    uint32_t flags = 0;
    std::byte* backing = nullptr;  // what mmap returns; nullptr: FakeVfio allocates it
  };

  // The machine.
  std::string bdf = "0000:00:04.0";
  int group = 7;
  std::string driver = "vfio-pci";
  bool has_iommu_group = true;
  bool noiommu = false;              // /dev/vfio/noiommu-N instead of /dev/vfio/N
  int api_version = VFIO_API_VERSION;
  bool type1v2 = true;               // CHECK_EXTENSION(VFIO_TYPE1v2_IOMMU)
  bool viable = true;
  std::map<std::string, std::string> group_members;  // other BDF -> driver ("" = none)
  uint32_t device_flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
  uint32_t msix_count = 2;
  bool wc_file = false;              // /sys/bus/pci/devices/<bdf>/resourceN_wc exists (for every BAR)
  std::vector<uint8_t> config = std::vector<uint8_t>(256, 0);
  // Other PCI devices in /sys/bus/pci/devices, and plain sysfs files (path -> content).
  std::vector<std::string> other_devices;
  std::vector<std::pair<std::string, std::string>> sysfs_files;
  Region regions[VFIO_PCI_NUM_REGIONS]{};

  // What happened.
  std::vector<vfio_iommu_type1_dma_map> dma_maps;
  std::vector<vfio_iommu_type1_dma_unmap> dma_unmaps;
  std::vector<std::vector<int32_t>> irq_sets;  // eventfds of each SET_IRQS; empty = disable
  std::vector<int> closed;                     // fake descriptors closed, in order
  int unmapped = 0;

  FakeVfio() {
    set16(0x00, 0x1af4);  // vendor
    set16(0x02, 0x1110);  // device
    set16(0x04, 0x0103);  // command: I/O + memory + SERR (as QEMU leaves it)
    regions[VFIO_PCI_CONFIG_REGION_INDEX] = {256, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE, nullptr};
  }
  ~FakeVfio() override {
    for (auto& b : owned_) std::free(b);
  }

  void set16(size_t off, uint16_t v) { std::memcpy(&config[off], &v, 2); }
  void set32(size_t off, uint32_t v) { std::memcpy(&config[off], &v, 4); }
  uint16_t get16(size_t off) const { uint16_t v; std::memcpy(&v, &config[off], 2); return v; }

  // A memory BAR of `size` bytes, mappable; prefetchable sets bit 3 of its config register.
  void add_bar(uint32_t bar, uint64_t size, bool prefetchable, std::byte* backing = nullptr) {
    regions[bar] = {size, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP,
                    backing};
    set32(0x10 + 4 * bar, prefetchable ? 0x8u : 0x0u);
  }
  std::byte* bar_memory(uint32_t bar) { return backing(bar); }

  std::string dev_dir() const { return "/sys/bus/pci/devices/" + bdf; }
  std::string group_dev() const {
    return (noiommu ? "/dev/vfio/noiommu-" : "/dev/vfio/") + std::to_string(group);
  }

  // ---- SysApi
  int open(const char* path, int) override {
    const std::string p = path;
    if (p == "/dev/vfio/vfio") return kContainerFd;
    if (p == group_dev()) return kGroupFd;
    if (wc_file && p.starts_with(dev_dir() + "/resource") && p.ends_with("_wc")) return kResourceWcFd;
    for (size_t i = 0; i < sysfs_files.size(); ++i)
      if (sysfs_files[i].first == p) return kSysfsFileFd + static_cast<int>(i);
    errno = ENOENT;
    return -1;
  }
  int close(int fd) override {
    if (fd >= kFakeFdBase) {
      closed.push_back(fd);
      return 0;
    }
    return ::close(fd);
  }
  int ioctl_value(int fd, unsigned long req, unsigned long value) override {
    if (fd == kContainerFd && req == VFIO_GET_API_VERSION) return api_version;
    if (fd == kContainerFd && req == VFIO_CHECK_EXTENSION)
      return value == VFIO_TYPE1v2_IOMMU ? (type1v2 ? 1 : 0) : value == VFIO_NOIOMMU_IOMMU ? (noiommu ? 1 : 0) : 0;
    if (fd == kContainerFd && req == VFIO_SET_IOMMU) return 0;
    if (fd == kDeviceFd && req == VFIO_DEVICE_RESET) return 0;
    errno = ENOTTY;
    return -1;
  }
  int ioctl(int fd, unsigned long req, void* arg) override {
    if (fd == kGroupFd && req == VFIO_GROUP_GET_STATUS) {
      auto* st = static_cast<vfio_group_status*>(arg);
      st->flags = (viable ? VFIO_GROUP_FLAGS_VIABLE : 0u) | VFIO_GROUP_FLAGS_CONTAINER_SET;
      return 0;
    }
    if (fd == kGroupFd && req == VFIO_GROUP_SET_CONTAINER) return 0;
    if (fd == kGroupFd && req == VFIO_GROUP_GET_DEVICE_FD) {
      if (bdf != static_cast<const char*>(arg)) { errno = ENODEV; return -1; }
      return kDeviceFd;
    }
    if (fd == kDeviceFd && req == VFIO_DEVICE_GET_INFO) {
      auto* info = static_cast<vfio_device_info*>(arg);
      info->flags = device_flags;
      info->num_regions = VFIO_PCI_NUM_REGIONS;
      info->num_irqs = VFIO_PCI_NUM_IRQS;
      return 0;
    }
    if (fd == kDeviceFd && req == VFIO_DEVICE_GET_REGION_INFO) {
      auto* ri = static_cast<vfio_region_info*>(arg);
      if (ri->index >= VFIO_PCI_NUM_REGIONS) { errno = EINVAL; return -1; }
      ri->flags = regions[ri->index].flags;
      ri->size = regions[ri->index].size;
      ri->offset = region_offset(ri->index);
      return 0;
    }
    if (fd == kDeviceFd && req == VFIO_DEVICE_GET_IRQ_INFO) {
      auto* ii = static_cast<vfio_irq_info*>(arg);
      ii->count = ii->index == VFIO_PCI_MSIX_IRQ_INDEX ? msix_count : 0;
      ii->flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
      return 0;
    }
    if (fd == kDeviceFd && req == VFIO_DEVICE_SET_IRQS) {
      vfio_irq_set hdr;
      std::memcpy(&hdr, arg, sizeof hdr);
      std::vector<int32_t> fds(hdr.count);
      if ((hdr.flags & VFIO_IRQ_SET_DATA_EVENTFD) != 0)
        std::memcpy(fds.data(), static_cast<const char*>(arg) + sizeof hdr, 4 * fds.size());
      irq_sets.push_back(fds);
      return 0;
    }
    if (fd == kContainerFd && req == VFIO_IOMMU_MAP_DMA) {
      dma_maps.push_back(*static_cast<vfio_iommu_type1_dma_map*>(arg));
      return 0;
    }
    if (fd == kContainerFd && req == VFIO_IOMMU_UNMAP_DMA) {
      dma_unmaps.push_back(*static_cast<vfio_iommu_type1_dma_unmap*>(arg));
      return 0;
    }
    errno = ENOTTY;
    return -1;
  }
  void* mmap(void*, size_t len, int, int, int fd, off_t off) override {
    if (fd == kResourceWcFd && off == 0) return backing(wc_bar_for(len));
    if (fd != kDeviceFd) { errno = EBADF; return MAP_FAILED; }
    for (uint32_t i = 0; i < VFIO_PCI_NUM_REGIONS; ++i)
      if (static_cast<uint64_t>(off) == region_offset(i) && len <= regions[i].size) return backing(i);
    errno = EINVAL;
    return MAP_FAILED;
  }
  int munmap(void*, size_t) override {
    ++unmapped;
    return 0;
  }
  ssize_t pread(int fd, void* buf, size_t n, off_t off) override {
    if (fd >= kSysfsFileFd && static_cast<size_t>(fd - kSysfsFileFd) < sysfs_files.size()) {
      const std::string& c = sysfs_files[static_cast<size_t>(fd - kSysfsFileFd)].second;
      const size_t k = off < static_cast<off_t>(c.size()) ? std::min(n, c.size() - static_cast<size_t>(off)) : 0;
      std::memcpy(buf, c.data() + off, k);
      return static_cast<ssize_t>(k);
    }
    const uint64_t cfg = region_offset(VFIO_PCI_CONFIG_REGION_INDEX);
    if (fd != kDeviceFd || static_cast<uint64_t>(off) < cfg || off - cfg + n > config.size()) { errno = EINVAL; return -1; }
    std::memcpy(buf, &config[off - cfg], n);
    return static_cast<ssize_t>(n);
  }
  ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) override {
    const uint64_t cfg = region_offset(VFIO_PCI_CONFIG_REGION_INDEX);
    if (fd != kDeviceFd || static_cast<uint64_t>(off) < cfg || off - cfg + n > config.size()) { errno = EINVAL; return -1; }
    std::memcpy(&config[off - cfg], buf, n);
    return static_cast<ssize_t>(n);
  }
  int eventfd(unsigned initval, int flags) override { return ::eventfd(initval, flags); }
  ssize_t read(int fd, void* buf, size_t n) override { return ::read(fd, buf, n); }
  int poll(pollfd* fds, nfds_t nfds, int64_t timeout_ns) override {
    return system_sys_api().poll(fds, nfds, timeout_ns);
  }
  ssize_t readlink(const char* path, char* buf, size_t size) override {
    const std::string p = path;
    std::string target;
    if (p == dev_dir()) target = "../../../devices/pci0000:00/" + bdf;
    else if (p == dev_dir() + "/iommu_group" && has_iommu_group) target = "../../../kernel/iommu_groups/" + std::to_string(group);
    else if (p == dev_dir() + "/driver" && !driver.empty()) target = "../../../bus/pci/drivers/" + driver;
    for (const auto& [other, drv] : group_members)
      if (p == "/sys/bus/pci/devices/" + other + "/driver" && !drv.empty()) target = "../../../bus/pci/drivers/" + drv;
    if (target.empty()) { errno = ENOENT; return -1; }
    const size_t n = std::min(size, target.size());
    std::memcpy(buf, target.data(), n);
    return static_cast<ssize_t>(n);
  }
  int list_dir(const char* path, std::vector<std::string>* names) override {
    if (std::string(path) == "/sys/bus/pci/devices/") {
      names->assign(other_devices.begin(), other_devices.end());
      names->push_back(bdf);
      return 0;
    }
    if (std::string(path) != "/sys/kernel/iommu_groups/" + std::to_string(group) + "/devices") { errno = ENOENT; return -1; }
    names->assign({bdf});
    for (const auto& [other, drv] : group_members) names->push_back(other);
    return 0;
  }

 private:
  std::byte* backing(uint32_t i) {
    if (regions[i].backing == nullptr) {
      const size_t n = (regions[i].size + 4095) & ~size_t{4095};
      regions[i].backing = static_cast<std::byte*>(std::aligned_alloc(4096, n));
      std::memset(regions[i].backing, 0, n);
      owned_.push_back(regions[i].backing);
    }
    return regions[i].backing;
  }
  uint32_t wc_bar_for(size_t len) const {
    for (uint32_t i = 0; i < 6; ++i)
      if (regions[i].size == len && (config[0x10 + 4 * i] & 0x8) != 0) return i;
    return 0;
  }
  std::vector<std::byte*> owned_;
};

}  // namespace pbx::vfio::test
