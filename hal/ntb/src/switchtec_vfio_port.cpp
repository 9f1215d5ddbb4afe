// The product path: SwitchtecNtbDevice over a real NT endpoint, through VFIO.
#include <sys/utsname.h>

#include "pbx/hal/switchtec_ntb.h"
#include "vfio_ntb_port.h"

namespace pbx::hal {
namespace {

using detail::VfioNtbPort;
namespace sw = ntb::switchtec;

class VfioSwitchtecPort final : public VfioNtbPort<SwitchtecNtbPort> {
 public:
  static Result<std::unique_ptr<VfioSwitchtecPort>> open(vfio::VfioDevice dev, const SwitchtecNtbOptions& opts) {
    std::unique_ptr<VfioSwitchtecPort> p(new VfioSwitchtecPort(std::move(dev), opts.write_combining));
    auto gas = p->dev_.map_bar(0);  // the switch's GAS: registers, uncached
    if (!gas) return tl::unexpected(gas.error());
    p->gas_ = gas->mem;
    for (unsigned b = 0; b < sw::kBarEntries; ++b) {
      auto ri = p->dev_.region_info(b);
      p->bar_size_[b] = ri ? ri->size : 0;
    }
    utsname u{};
    if (::uname(&u) == 0) p->release_ = u.release;
    return p;
  }

  sw::SwitchtecNtb::AttachParams attach_params() override {
    sw::SwitchtecNtb::AttachParams a;
    a.name = name();
    a.gas = gas_;
    a.cfg = &cfg_;
    a.bar_size = bar_size_;
    a.kernel_release = release_;
    return a;
  }
  Result<std::span<std::byte>> map_window_bar(unsigned bar) override { return map_bar_for_stores(bar); }
  MemType window_mem_type() const noexcept override { return bar_mem_type(); }
  Result<uint16_t> enable_vectors(uint16_t count) override {
    auto cap = dev_.msix_capacity();
    if (!cap || *cap < count) return uint16_t{0};
    if (auto ok = dev_.enable_msix(count); !ok) return tl::unexpected(ok.error());
    return count;
  }
  Result<bool> wait(uint16_t vector, uint64_t timeout_ns) override { return msix_wait(vector, timeout_ns); }
  Result<MappableFile> window_file(unsigned bar) override { return bar_file(bar); }

 private:
  VfioSwitchtecPort(vfio::VfioDevice dev, bool wc) noexcept : VfioNtbPort(std::move(dev), wc) {}

  std::span<std::byte> gas_;
  std::array<uint64_t, sw::kBarEntries> bar_size_{};
  std::string release_;
};

}  // namespace

Result<std::unique_ptr<SwitchtecNtbDevice>> SwitchtecNtbDevice::open(const vfio::Bdf& bdf,
                                                                     const SwitchtecNtbOptions& opts) {
  return detail::open_over_vfio<SwitchtecNtbDevice>(bdf, opts);
}

Result<std::unique_ptr<SwitchtecNtbDevice>> SwitchtecNtbDevice::open(vfio::VfioDevice dev,
                                                                     const SwitchtecNtbOptions& opts) {
  return detail::attach_over_vfio<SwitchtecNtbDevice, VfioSwitchtecPort>(std::move(dev), opts);
}

}  // namespace pbx::hal
