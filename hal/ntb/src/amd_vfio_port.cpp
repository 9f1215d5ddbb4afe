// The product path: AmdNtbDevice over a real AMD/Hygon NTB, through VFIO.
#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "pbx/hal/amd_ntb.h"
#include "pbx/ntb/amd/regs.h"
#include "vfio_config_space.h"

namespace pbx::hal {
namespace {

using detail::VfioConfigSpace;
namespace amd = ntb::amd;

// The config space of another PCI function through sysfs (read-only): on the secondary side the
// switch upstream port above the NTB's upstream bridge reports the link (ntb_hw_amd.c
// amd_ntb_get_link_status). Beyond the first 64 bytes sysfs answers only root.
class SysfsConfigSpace final : public ntb::ConfigSpace {
 public:
  static std::unique_ptr<SysfsConfigSpace> open(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return nullptr;
    return std::unique_ptr<SysfsConfigSpace>(new SysfsConfigSpace(std::move(fd), path));
  }
  Result<uint32_t> cfg_read(uint32_t off, unsigned width) override {
    uint32_t v = 0;
    if (width > 4 || ::pread(fd_.get(), &v, width, off) != static_cast<ssize_t>(width))
      return fail(Errc::kIoError, "read %u bytes at 0x%x of %s (the whole config space needs root)", width, off,
                  path_.c_str());
    return v;
  }
  Result<void> cfg_write(uint32_t off, unsigned width, uint32_t) override {
    return fail(Errc::kNotSupported, "%s: write of %u bytes at 0x%x: read-only", path_.c_str(), width, off);
  }

 private:
  SysfsConfigSpace(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

// /sys/devices/.../<upstream port>/<upstream bridge>/<the NTB>: the grandparent's config file.
std::string upstream_port_config(const std::string& bdf) {
  char real[PATH_MAX];
  if (::realpath(("/sys/bus/pci/devices/" + bdf).c_str(), real) == nullptr) return {};
  std::string p = real;
  for (int up = 0; up < 2; ++up) {
    const size_t slash = p.rfind('/');
    if (slash == std::string::npos || slash == 0) return {};
    p.resize(slash);
  }
  return p + "/config";
}

class VfioAmdPort final : public AmdNtbPort {
 public:
  static Result<std::unique_ptr<VfioAmdPort>> open(vfio::VfioDevice dev, const AmdNtbOptions& opts) {
    std::unique_ptr<VfioAmdPort> p(new VfioAmdPort(std::move(dev), opts.write_combining));
    auto bar0 = p->dev_.map_bar(0);  // registers: uncached
    if (!bar0) return tl::unexpected(bar0.error());
    p->bar0_ = bar0->mem;
    auto vendor = p->dev_.config_read<uint16_t>(0x00);
    auto device = p->dev_.config_read<uint16_t>(0x02);
    if (!vendor || !device) return tl::unexpected(!vendor ? vendor.error() : device.error());
    auto part = amd::identify(*vendor, *device, p->name());
    if (!part) return tl::unexpected(part.error());
    for (unsigned i = 0; i < (*part)->mw_count; ++i) {
      auto ri = p->dev_.region_info((*part)->mw_bar[i]);
      if (!ri) return tl::unexpected(ri.error());
      p->mw_size_[i] = ri->size;
    }
    // The secondary side of a non-endpoint part reports its link through the upstream port.
    if (p->bar0_.size() >= amd::kBar0Size && !(*part)->endpoint) {
      const uint32_t side = std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(  // NOLINT: MMIO
                                                         p->bar0_.data() + amd::Regs::sideinfo.offset))
                                .load(std::memory_order_relaxed);
      if (side != 0xffffffffu && (side & amd::kSideMask) != 0)
        p->link_cfg_ = SysfsConfigSpace::open(upstream_port_config(p->name()));
    }
    return p;
  }

  std::string name() const override { return dev_.bdf().str(); }
  Result<void> enable_device() override { return dev_.enable_bus_master(); }
  amd::AmdNtb::AttachParams attach_params() override {
    amd::AmdNtb::AttachParams a;
    a.name = name();
    a.bar0 = bar0_;
    a.cfg = &cfg_;
    a.link_cfg = link_cfg_.get();
    a.mw_size = mw_size_;
    return a;
  }
  Result<std::span<std::byte>> map_window_bar(unsigned bar) override {
    auto v = dev_.map_bar(bar, {.write_combining = write_combining_});
    if (!v) return tl::unexpected(v.error());
    mem_type_ = v->mem_type == vfio::MemType::kWriteCombining ? MemType::kWriteCombining : MemType::kUncached;
    file_ = MappableFile{v->fd, v->fd_offset, mem_type_};
    file_bar_ = bar;
    return v->mem;
  }
  MemType window_mem_type() const noexcept override { return mem_type_; }
  Result<void> map_dma(std::span<std::byte> mem, uint64_t iova) override { return dev_.map_dma(mem, iova); }
  void unmap_dma(uint64_t iova) noexcept override { (void)dev_.unmap_dma(iova); }
  Result<MappableFile> window_file(unsigned bar) override {
    if (file_.fd < 0 || bar != file_bar_)
      return fail(Errc::kInvalidArgument, "%s: BAR%u is not mapped", name().c_str(), bar);
    return file_;
  }

 private:
  VfioAmdPort(vfio::VfioDevice dev, bool wc) noexcept : dev_(std::move(dev)), cfg_(dev_), write_combining_(wc) {}

  vfio::VfioDevice dev_;
  VfioConfigSpace cfg_;
  std::unique_ptr<SysfsConfigSpace> link_cfg_;
  bool write_combining_;
  std::span<std::byte> bar0_;
  std::array<uint64_t, amd::kMaxMws> mw_size_{};
  MemType mem_type_ = MemType::kUncached;
  MappableFile file_;
  unsigned file_bar_ = 0;
};

}  // namespace

Result<std::unique_ptr<AmdNtbDevice>> AmdNtbDevice::open(const vfio::Bdf& bdf, const AmdNtbOptions& opts) {
  if (auto ok = opts.validate(); !ok) return tl::unexpected(ok.error());
  auto dev = vfio::VfioDevice::open(bdf, opts.vfio);
  if (!dev) return tl::unexpected(dev.error());
  return open(std::move(*dev), opts);
}

Result<std::unique_ptr<AmdNtbDevice>> AmdNtbDevice::open(vfio::VfioDevice dev, const AmdNtbOptions& opts) {
  if (auto ok = opts.validate(); !ok) return tl::unexpected(ok.error());
  auto port = VfioAmdPort::open(std::move(dev), opts);
  if (!port) return tl::unexpected(port.error());
  return attach(std::move(*port), opts);
}

}  // namespace pbx::hal
