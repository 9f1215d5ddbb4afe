// The product path: IntelNtbDevice over the real NTB, through VFIO.
#include "pbx/hal/intel_ntb.h"
#include "pbx/ntb/intel/regs.h"
#include "vfio_ntb_port.h"

namespace pbx::hal {
namespace {

using detail::VfioNtbPort;

class VfioIntelNtbPort final : public VfioNtbPort<IntelNtbPort> {
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

  ntb::intel::IntelNtb::AttachParams attach_params() override {
    ntb::intel::IntelNtb::AttachParams a;
    a.name = name();
    a.bar0 = bar0_;
    a.cfg = &cfg_;
    a.mw_size = mw_size_;
    return a;
  }
  // BAR2, the outbound window.
  Result<std::span<std::byte>> map_outbound() override { return map_bar_for_stores(ntb::intel::kMwBar[0]); }
  Result<MappableFile> outbound_file() override { return bar_file(ntb::intel::kMwBar[0]); }
  MemType outbound_mem_type() const noexcept override { return bar_mem_type(); }
  uint16_t vector_count() const noexcept override { return vectors_; }
  Result<bool> wait(uint16_t vector, uint64_t timeout_ns) override { return msix_wait(vector, timeout_ns); }

 private:
  VfioIntelNtbPort(vfio::VfioDevice dev, bool wc) noexcept : VfioNtbPort(std::move(dev), wc) {}

  std::span<std::byte> bar0_;
  std::array<uint64_t, ntb::intel::kMwCount> mw_size_{};
  uint16_t vectors_ = 0;
};

}  // namespace

Result<std::unique_ptr<IntelNtbDevice>> IntelNtbDevice::open(const vfio::Bdf& bdf, const IntelNtbOptions& opts) {
  return detail::open_over_vfio<IntelNtbDevice>(bdf, opts);
}

Result<std::unique_ptr<IntelNtbDevice>> IntelNtbDevice::open(vfio::VfioDevice dev, const IntelNtbOptions& opts) {
  return detail::attach_over_vfio<IntelNtbDevice, VfioIntelNtbPort>(std::move(dev), opts);
}

}  // namespace pbx::hal
