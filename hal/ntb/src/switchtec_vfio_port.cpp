// The product path: SwitchtecNtbDevice over a real NT endpoint, through VFIO.
#include <sys/utsname.h>

#include "pbx/hal/switchtec_ntb.h"
#include "vfio_config_space.h"

namespace pbx::hal {
namespace {

using detail::VfioConfigSpace;
namespace sw = ntb::switchtec;

class VfioSwitchtecPort final : public SwitchtecNtbPort {
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

  std::string name() const override { return dev_.bdf().str(); }
  Result<void> enable_device() override { return dev_.enable_bus_master(); }
  sw::SwitchtecNtb::AttachParams attach_params() override {
    sw::SwitchtecNtb::AttachParams a;
    a.name = name();
    a.gas = gas_;
    a.cfg = &cfg_;
    a.bar_size = bar_size_;
    a.kernel_release = release_;
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
  Result<uint16_t> enable_vectors(uint16_t count) override {
    auto cap = dev_.msix_capacity();
    if (!cap || *cap < count) return uint16_t{0};
    if (auto ok = dev_.enable_msix(count); !ok) return tl::unexpected(ok.error());
    return count;
  }
  Result<bool> wait(uint16_t vector, uint64_t timeout_ns) override {
    if (dev_.msix() == nullptr) return false;
    return dev_.msix()->wait(vector, static_cast<int64_t>(std::min<uint64_t>(timeout_ns, INT64_MAX)));
  }
  Result<MappableFile> window_file(unsigned bar) override {
    if (file_.fd < 0 || bar != file_bar_)
      return fail(Errc::kInvalidArgument, "%s: BAR%u is not mapped", name().c_str(), bar);
    return file_;
  }

 private:
  VfioSwitchtecPort(vfio::VfioDevice dev, bool wc) noexcept : dev_(std::move(dev)), cfg_(dev_), write_combining_(wc) {}

  vfio::VfioDevice dev_;
  VfioConfigSpace cfg_;
  bool write_combining_;
  std::span<std::byte> gas_;
  std::array<uint64_t, sw::kBarEntries> bar_size_{};
  std::string release_;
  MemType mem_type_ = MemType::kUncached;
  MappableFile file_;
  unsigned file_bar_ = 0;
};

}  // namespace

Result<std::unique_ptr<SwitchtecNtbDevice>> SwitchtecNtbDevice::open(const vfio::Bdf& bdf,
                                                                     const SwitchtecNtbOptions& opts) {
  if (auto ok = opts.validate(); !ok) return tl::unexpected(ok.error());
  auto dev = vfio::VfioDevice::open(bdf, opts.vfio);
  if (!dev) return tl::unexpected(dev.error());
  return open(std::move(*dev), opts);
}

Result<std::unique_ptr<SwitchtecNtbDevice>> SwitchtecNtbDevice::open(vfio::VfioDevice dev,
                                                                     const SwitchtecNtbOptions& opts) {
  if (auto ok = opts.validate(); !ok) return tl::unexpected(ok.error());
  auto port = VfioSwitchtecPort::open(std::move(dev), opts);
  if (!port) return tl::unexpected(port.error());
  return attach(std::move(*port), opts);
}

}  // namespace pbx::hal
