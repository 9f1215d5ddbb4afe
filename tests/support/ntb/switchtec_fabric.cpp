#include "support/ntb/switchtec_fabric.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace pbx::test {

namespace sw = ntb::switchtec;

SwitchtecModelSpec SwitchtecFabric::mesh(unsigned n, uint16_t lut_entries) {
  SwitchtecModelSpec s = SwitchtecModelSpec::mesh(n);
  for (auto& p : s.partitions) {
    p.lut_entries = lut_entries;
    p.rid_entries = 16;
    p.bar_size[2] = std::max<uint64_t>(uint64_t{lut_entries} * sw::kLinuxLutSize, 1u << 20);
  }
  return s;
}

class SwitchtecFabric::Port final : public hal::SwitchtecNtbPort {
 public:
  Port(SwitchtecFabric& f, Host& h) : f_(&f), h_(&h) {}

  std::string name() const override { return attach_name(); }
  Result<void> enable_device() override {
    h_->enabled = true;
    return {};
  }
  sw::SwitchtecNtb::AttachParams attach_params() override {
    return f_->model_.attach_params(h_->partition, f_->clock_, f_->pacer_);
  }
  Result<std::span<std::byte>> map_window_bar(unsigned bar) override {
    const uint64_t size = f_->model_.spec().partitions.at(h_->partition).bar_size.at(bar);
    Result<std::span<std::byte>> out = fail(Errc::kInvalidArgument, "model BAR%u has no size", bar);
    f_->model_.locked([&] {
      auto it = h_->bars.find(bar);
      if (it == h_->bars.end()) {
        Host::Bar b;
        void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) std::abort();
        b.base = static_cast<std::byte*>(p);
        b.size = size;
        b.file = ::memfd_create("model-switchtec-bar", MFD_CLOEXEC);
        if (b.file < 0 || ::ftruncate(b.file, static_cast<off_t>(size)) != 0) std::abort();
        it = h_->bars.emplace(bar, std::move(b)).first;
      }
      f_->route_bar(*h_, bar, it->second);
      out = std::span<std::byte>(it->second.base, it->second.size);
    });
    return out;
  }
  hal::MemType window_mem_type() const noexcept override { return hal::MemType::kUncached; }
  Result<void> map_dma(std::span<std::byte> mem, uint64_t iova) override {
    f_->model_.locked([&] { h_->dma[iova] = mem; });
    f_->model_.add_memory(h_->partition, iova, mem);  // re-routes
    return {};
  }
  void unmap_dma(uint64_t iova) noexcept override {
    f_->model_.locked([&] {
      h_->dma.erase(iova);
      h_->unmapped.push_back(iova);
    });
    f_->model_.remove_memory(h_->partition, iova);  // re-routes
  }
  Result<uint16_t> enable_vectors(uint16_t count) override { return h_->vectors >= count ? count : uint16_t{0}; }
  Result<hal::MappableFile> window_file(unsigned bar) override {
    auto it = h_->bars.find(bar);
    if (it == h_->bars.end()) return SwitchtecNtbPort::window_file(bar);
    return hal::MappableFile{it->second.file, 0, hal::MemType::kUncached};
  }

 private:
  std::string attach_name() const { return f_->model_.attach_params(h_->partition, f_->clock_, f_->pacer_).name; }

  SwitchtecFabric* f_;
  Host* h_;
};

SwitchtecFabric::SwitchtecFabric(SwitchtecModelSpec spec) : model_(std::move(spec)) {
  for (unsigned p = 0; p < model_.spec().partition_count; ++p) {
    hosts_.push_back(std::make_unique<Host>());
    hosts_.back()->partition = p;
  }
  model_.on_change([this] { route(); });
}

SwitchtecFabric::~SwitchtecFabric() {
  model_.on_change(nullptr);
  for (auto& h : hosts_)
    for (auto& [bar, b] : h->bars) {
      ::munmap(b.base, b.size);
      ::close(b.file);
    }
}

std::unique_ptr<hal::SwitchtecNtbPort> SwitchtecFabric::port(unsigned partition) {
  return std::make_unique<Port>(*this, host(partition));
}

void SwitchtecFabric::route() {
  for (auto& h : hosts_)
    for (auto& [bar, b] : h->bars) route_bar(*h, bar, b);
}

// Maps each LUT window of `b` onto the memory it leads to, or onto scratch; only windows whose
// target changed are touched.
void SwitchtecFabric::route_bar(Host& h, unsigned bar, Host::Bar& b) {
  const auto [count, size] = model_.lut_windows(h.partition, bar);
  if (size != b.lut_size) {  // a new window size: every window starts again from scratch
    if (b.lut_size != 0 &&
        ::mmap(b.base, b.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
      std::abort();
    b.routed.clear();
    b.lut_size = size;
  }
  if (size == 0) return;
  const size_t windows = std::min<size_t>(std::max<size_t>(count, b.routed.size()), b.size / size);
  b.routed.resize(windows, nullptr);
  for (size_t e = 0; e < windows; ++e) {
    std::byte* to = e < count ? model_.resolve(h.partition, bar, e * size, size) : nullptr;
    if (to == b.routed[e]) continue;
    std::byte* at = b.base + e * size;
    void* p = to != nullptr
                  // A second mapping of the target's (shared) pages, at the window's address.
                  ? ::mremap(to, 0, size, MREMAP_MAYMOVE | MREMAP_FIXED, at)
                  : ::mmap(at, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p != at) std::abort();
    b.routed[e] = to;
  }
}

}  // namespace pbx::test
