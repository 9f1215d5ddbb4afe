// The product path: IvshmemDevice over the real ivshmem device, through VFIO.
#include <algorithm>

#include "pbx/hal/ivshmem.h"
#include "pbx/ivshmem/ivshmem.h"

namespace pbx::hal {

namespace {

MemType to_hal(vfio::MemType t) noexcept {
  return t == vfio::MemType::kWriteCombining ? MemType::kWriteCombining : MemType::kUncached;
}

class VfioIvshmemPort final : public IvshmemPort {
 public:
  explicit VfioIvshmemPort(ivshmem::Ivshmem dev) noexcept : dev_(std::move(dev)) {}

  std::string name() const override { return dev_.bdf().str(); }
  std::span<std::byte> control_memory() const noexcept override { return dev_.shared_memory(); }
  std::span<std::byte> data_memory() const noexcept override { return dev_.shared_memory_data().mem; }
  MemType data_mem_type() const noexcept override { return to_hal(dev_.shared_memory_data().mem_type); }
  uint16_t peer_id() const noexcept override { return dev_.peer_id(); }
  uint16_t vector_count() const noexcept override {
    return static_cast<uint16_t>(std::min<uint32_t>(dev_.vector_count(), 0xffff));
  }
  void ring(uint16_t peer_id, uint16_t vector) noexcept override { dev_.ring(peer_id, vector); }
  Result<bool> wait(uint16_t vector, uint64_t timeout_ns) override {
    return dev_.wait(vector, static_cast<int64_t>(std::min<uint64_t>(timeout_ns, INT64_MAX)));
  }
  // The VFIO device fd at BAR2's region offset. vfio-pci maps any page-aligned part of a BAR
  // region, in any process that holds the fd, uncached (write-combining needs resource2_wc).
  Result<MappableFile> shared_memory_file() override {
    auto ri = dev_.vfio().region_info(ivshmem::kSharedMemoryBar);
    if (!ri) return tl::unexpected(ri.error());
    if (!ri->mappable())
      return fail(Errc::kNotSupported, "%s: vfio-pci does not allow mmap of BAR%u, so it cannot be shared",
                  name().c_str(), ivshmem::kSharedMemoryBar);
    return MappableFile{dev_.vfio().device_fd(), ri->offset, MemType::kUncached};
  }

 private:
  ivshmem::Ivshmem dev_;
};

}  // namespace

Result<std::unique_ptr<IvshmemDevice>> IvshmemDevice::open(const vfio::Bdf& bdf, const IvshmemOptions& opts) {
  if (auto ok = opts.validate(); !ok) return tl::unexpected(ok.error());
  ivshmem::Options o;
  o.vfio = opts.vfio;
  o.write_combining = opts.write_combining;
  auto dev = ivshmem::Ivshmem::open(bdf, o);
  if (!dev) return tl::unexpected(dev.error());
  return attach(std::make_unique<VfioIvshmemPort>(std::move(*dev)), opts);
}

}  // namespace pbx::hal
