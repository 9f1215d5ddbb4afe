// Two Intel NTB register models back to back, each behind an IntelNtbPort, and the data path
// between them: route() maps each side's BAR2 onto the memory the *peer's* translation
// registers point at (the pages the peer DMA-mapped at that IOVA), as the NTB would forward the
// writes. A test tool, never the product.
//
//   ModelFabric f(Part::kSpr);
//   auto a = IntelNtbDevice::attach(f.port(Side::kUsd), opts);
//   auto b = IntelNtbDevice::attach(f.port(Side::kDsd), opts);
//   ... poll link_status() on both until up ...
//   ASSERT_TRUE(f.route());            // both translations open onto DMA-mapped memory
//   a->peer_mw(1)->store64(0, 42, ...); // appears in b->local_mw(0)
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "pbx/hal/intel_ntb.h"
#include "support/ntb/intel_model.h"

namespace pbx::test {

class ModelFabric {
 public:
  struct Side {
    explicit Side(const IntelNtbModelSpec& s) : model(s) {}
    IntelNtbModel model;
    std::string name;
    std::byte* bar2 = nullptr;
    size_t bar2_size = 0;
    int bar2_fd = -1;                // a memfd behind bar2 (until route() maps the peer's memory there)
    bool bar2_exportable = true;     // outbound_file() hands out bar2_fd; false: the port's default
    std::span<std::byte> dma_mem;    // what the backend DMA-mapped
    uint64_t dma_iova = 0;
    bool dma_mapped = false;
    std::vector<uint64_t> unmapped;  // IOVAs unmapped, in order
    bool unmapped_while_translated = false;  // the translation was still open at unmap time
    bool fail_dma = false;           // map_dma fails (as without an IOMMU)
    bool enabled = false;            // enable_device() was called
  };

  explicit ModelFabric(ntb::intel::Part part, IntelNtbModelSpec base = {}) {
    base.part = part;
    base.side = ntb::intel::Side::kUsd;
    usd_ = std::make_unique<Side>(base);
    base.side = ntb::intel::Side::kDsd;
    dsd_ = std::make_unique<Side>(base);
    usd_->name = "0000:af:00.0";
    dsd_->name = "0000:17:00.0";
    connect_b2b(usd_->model, dsd_->model);
    for (Side* s : {usd_.get(), dsd_.get()}) {
      s->bar2_size = base.bar2_size;
      s->bar2_fd = ::memfd_create(("model-bar2-" + s->name).c_str(), MFD_CLOEXEC);
      if (s->bar2_fd < 0 || ::ftruncate(s->bar2_fd, static_cast<off_t>(s->bar2_size)) != 0) std::abort();
      s->bar2 = static_cast<std::byte*>(
          ::mmap(nullptr, s->bar2_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->bar2_fd, 0));
      if (s->bar2 == MAP_FAILED) std::abort();
    }
  }
  ~ModelFabric() {
    for (Side* s : {usd_.get(), dsd_.get()}) {
      ::munmap(s->bar2, s->bar2_size);
      ::close(s->bar2_fd);
    }
  }
  ModelFabric(const ModelFabric&) = delete;
  ModelFabric& operator=(const ModelFabric&) = delete;

  Side& side(ntb::intel::Side s) { return s == ntb::intel::Side::kUsd ? *usd_ : *dsd_; }
  Side& usd() { return *usd_; }
  Side& dsd() { return *dsd_; }

  std::unique_ptr<hal::IntelNtbPort> port(ntb::intel::Side s) { return std::make_unique<Port>(side(s)); }

  // Routes both directions; false if a side's translation is closed or does not point at memory
  // it DMA-mapped (its BAR2 peer then writes into scratch memory, as into a closed window).
  bool route() {
    const bool a = route_into(*dsd_, *usd_);
    const bool b = route_into(*usd_, *dsd_);
    return a && b;
  }

 private:
  class Port final : public hal::IntelNtbPort {
   public:
    explicit Port(Side& s) : s_(&s) {}
    std::string name() const override { return s_->name; }
    Result<void> enable_device() override {
      s_->enabled = true;
      return {};
    }
    ntb::intel::IntelNtb::AttachParams attach_params() override { return s_->model.attach_params(s_->name); }
    Result<std::span<std::byte>> map_outbound() override { return std::span<std::byte>(s_->bar2, s_->bar2_size); }
    hal::MemType outbound_mem_type() const noexcept override { return hal::MemType::kUncached; }
    Result<void> map_dma(std::span<std::byte> mem, uint64_t iova) override {
      if (s_->fail_dma) return fail(Errc::kNotSupported, "VFIO_IOMMU_MAP_DMA: no IOMMU (test)");
      s_->dma_mem = mem;
      s_->dma_iova = iova;
      s_->dma_mapped = true;
      return {};
    }
    void unmap_dma(uint64_t iova) noexcept override {
      if (s_->model.translation(0).open) s_->unmapped_while_translated = true;
      s_->unmapped.push_back(iova);
      s_->dma_mapped = false;
    }
    uint16_t vector_count() const noexcept override { return 0; }
    Result<bool> wait(uint16_t, uint64_t) override { return false; }
    Result<hal::MappableFile> outbound_file() override {
      if (!s_->bar2_exportable) return IntelNtbPort::outbound_file();
      return hal::MappableFile{s_->bar2_fd, 0, hal::MemType::kUncached};
    }

   private:
    Side* s_;
  };

  // Maps `from`'s BAR2 onto the memory `to`'s translation points at.
  static bool route_into(Side& to, Side& from) {
    const auto t = to.model.translation(0);
    const bool ok = to.dma_mapped && t.open && t.xlat >= to.dma_iova &&
                    t.xlat + t.size <= to.dma_iova + to.dma_mem.size() && t.size <= from.bar2_size;
    void* p;
    if (ok)  // a second mapping of the same (shared) pages, at BAR2's address
      p = ::mremap(to.dma_mem.data() + (t.xlat - to.dma_iova), 0, t.size, MREMAP_MAYMOVE | MREMAP_FIXED, from.bar2);
    else
      p = ::mmap(from.bar2, from.bar2_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    return ok && p == from.bar2;
  }

  std::unique_ptr<Side> usd_;
  std::unique_ptr<Side> dsd_;
};

}  // namespace pbx::test
