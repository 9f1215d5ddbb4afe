// The product path: AmdNtbDevice over a real AMD/Hygon NTB, through VFIO.
#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "pbx/hal/amd_ntb.h"
#include "pbx/ntb/amd/regs.h"
#include "vfio_ntb_port.h"

namespace pbx::hal {
namespace {

using detail::VfioNtbPort;
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

class VfioAmdPort final : public VfioNtbPort<AmdNtbPort> {
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

  amd::AmdNtb::AttachParams attach_params() override {
    amd::AmdNtb::AttachParams a;
    a.name = name();
    a.bar0 = bar0_;
    a.cfg = &cfg_;
    a.link_cfg = link_cfg_.get();
    a.mw_size = mw_size_;
    return a;
  }
  Result<std::span<std::byte>> map_window_bar(unsigned bar) override { return map_bar_for_stores(bar); }
  MemType window_mem_type() const noexcept override { return bar_mem_type(); }
  Result<MappableFile> window_file(unsigned bar) override { return bar_file(bar); }

 private:
  VfioAmdPort(vfio::VfioDevice dev, bool wc) noexcept : VfioNtbPort(std::move(dev), wc) {}

  std::unique_ptr<SysfsConfigSpace> link_cfg_;
  std::span<std::byte> bar0_;
  std::array<uint64_t, amd::kMaxMws> mw_size_{};
};

}  // namespace

Result<std::unique_ptr<AmdNtbDevice>> AmdNtbDevice::open(const vfio::Bdf& bdf, const AmdNtbOptions& opts) {
  return detail::open_over_vfio<AmdNtbDevice>(bdf, opts);
}

Result<std::unique_ptr<AmdNtbDevice>> AmdNtbDevice::open(vfio::VfioDevice dev, const AmdNtbOptions& opts) {
  return detail::attach_over_vfio<AmdNtbDevice, VfioAmdPort>(std::move(dev), opts);
}

}  // namespace pbx::hal
