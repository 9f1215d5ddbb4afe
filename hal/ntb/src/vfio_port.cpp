// The product path: IntelNtbDevice over the real NTB, through VFIO.
#include "pbx/hal/intel_ntb.h"
#include "pbx/ntb/intel/regs.h"
#include "vfio_config_space.h"

namespace pbx::hal {
namespace {

using detail::VfioConfigSpace;

class VfioIntelNtbPort final : public IntelNtbPort {
 public:
  static Result<std::unique_ptr<VfioIntelNtbPort>> open(vfio::VfioDevice dev, const IntelNtbOptions& opts) {
    std::unique_ptr<VfioIntelNtbPort> p(new VfioIntelNtbPort(std::move(dev), opts.write_combining));
    auto bar0 = p->dev_.map_bar(0);  // registers: uncached
    if (!bar0) return tl::unexpected(bar0.error());
    p->bar0_ = bar0->mem;
    for (unsigned i = 0; i < ntb::intel::kMwCount; ++i) {
      auto ri = p->dev_.region_info(ntb::intel::kMwBar[i]);
      if (!ri) return tl::unexpected(ri.error());
      p->mw_size_[i] = ri->size;
    }
    auto cap = p->dev_.msix_capacity();
    if (cap && *cap >= 2) {
      if (auto ok = p->dev_.enable_msix(2); !ok) return tl::unexpected(ok.error());
      p->vectors_ = 2;
    }
    return p;
  }

  std::string name() const override { return dev_.bdf().str(); }
  Result<void> enable_device() override { return dev_.enable_bus_master(); }
  ntb::intel::IntelNtb::AttachParams attach_params() override {
    ntb::intel::IntelNtb::AttachParams a;
    a.name = name();
    a.bar0 = bar0_;
    a.cfg = &cfg_;
    a.mw_size = mw_size_;
    return a;
  }
  Result<std::span<std::byte>> map_outbound() override {
    auto v = dev_.map_bar(ntb::intel::kMwBar[0], {.write_combining = write_combining_});
    if (!v) return tl::unexpected(v.error());
    mem_type_ = v->mem_type == vfio::MemType::kWriteCombining ? MemType::kWriteCombining : MemType::kUncached;
    file_ = MappableFile{v->fd, v->fd_offset, mem_type_};
    return v->mem;
  }
  // The file BAR2 was mapped from: resource2_wc (write-combining) or the VFIO device fd at BAR2's
  // region offset (uncached, as vfio-pci maps it in any process that holds the fd).
  Result<MappableFile> outbound_file() override {
    if (file_.fd < 0) return fail(Errc::kInvalidArgument, "%s: BAR2 is not mapped yet", name().c_str());
    return file_;
  }
  MemType outbound_mem_type() const noexcept override { return mem_type_; }
  Result<void> map_dma(std::span<std::byte> mem, uint64_t iova) override { return dev_.map_dma(mem, iova); }
  void unmap_dma(uint64_t iova) noexcept override { (void)dev_.unmap_dma(iova); }
  uint16_t vector_count() const noexcept override { return vectors_; }
  Result<bool> wait(uint16_t vector, uint64_t timeout_ns) override {
    if (dev_.msix() == nullptr) return false;
    return dev_.msix()->wait(vector, static_cast<int64_t>(std::min<uint64_t>(timeout_ns, INT64_MAX)));
  }

 private:
  VfioIntelNtbPort(vfio::VfioDevice dev, bool wc) noexcept : dev_(std::move(dev)), cfg_(dev_), write_combining_(wc) {}

  vfio::VfioDevice dev_;
  VfioConfigSpace cfg_;
  bool write_combining_;
  std::span<std::byte> bar0_;
  std::array<uint64_t, ntb::intel::kMwCount> mw_size_{};
  MemType mem_type_ = MemType::kUncached;
  MappableFile file_;
  uint16_t vectors_ = 0;
};

}  // namespace

Result<std::unique_ptr<IntelNtbDevice>> IntelNtbDevice::open(const vfio::Bdf& bdf, const IntelNtbOptions& opts) {
  if (auto ok = opts.validate(); !ok) return tl::unexpected(ok.error());
  auto dev = vfio::VfioDevice::open(bdf, opts.vfio);
  if (!dev) return tl::unexpected(dev.error());
  return open(std::move(*dev), opts);
}

Result<std::unique_ptr<IntelNtbDevice>> IntelNtbDevice::open(vfio::VfioDevice dev, const IntelNtbOptions& opts) {
  if (auto ok = opts.validate(); !ok) return tl::unexpected(ok.error());
  auto port = VfioIntelNtbPort::open(std::move(dev), opts);
  if (!port) return tl::unexpected(port.error());
  return attach(std::move(*port), opts);
}

}  // namespace pbx::hal
