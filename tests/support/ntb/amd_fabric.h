// Two AMD NTB register models back to back, each behind an AmdNtbPort, and the data path
// between them: route() maps each side's first window BAR onto the memory its XLAT/LMT (which
// the *peer* programmed through its peer view) point at in the peer's DMA-mapped memory, as
// the NTB would forward the writes. A test tool, never the product.
//
//   AmdFabric f;
//   auto a = AmdNtbDevice::attach(f.port(Side::kPrimary), opts);
//   auto b = AmdNtbDevice::attach(f.port(Side::kSecondary), opts);
//   ASSERT_TRUE(f.route());              // both translations lead into DMA-mapped memory
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "pbx/hal/amd_ntb.h"
#include "support/ntb/amd_model.h"

namespace pbx::test {

class AmdFabric {
 public:
  struct Side {
    std::string name;
    std::byte* bar = nullptr;        // the window BAR as this host maps it
    size_t bar_size = 0;
    int bar_fd = -1;                 // a memfd behind it (until route() maps the peer's memory there)
    std::span<std::byte> dma_mem;    // what the backend DMA-mapped
    uint64_t dma_iova = 0;
    bool dma_mapped = false;
    std::vector<uint64_t> unmapped;  // IOVAs unmapped, in order
    bool enabled = false;
  };

  explicit AmdFabric(const AmdNtbModelSpec& spec = {}) : pair_(spec) {
    primary_.name = "0000:41:00.1";
    secondary_.name = "0000:42:00.1";
    for (Side* s : {&primary_, &secondary_}) {
      s->bar_size = spec.mw_size[0];
      s->bar_fd = ::memfd_create(("model-amd-bar-" + s->name).c_str(), MFD_CLOEXEC);
      if (s->bar_fd < 0 || ::ftruncate(s->bar_fd, static_cast<off_t>(s->bar_size)) != 0) std::abort();
      void* p = ::mmap(nullptr, s->bar_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->bar_fd, 0);
      if (p == MAP_FAILED) std::abort();
      s->bar = static_cast<std::byte*>(p);
    }
  }
  ~AmdFabric() {
    for (Side* s : {&primary_, &secondary_}) {
      ::munmap(s->bar, s->bar_size);
      ::close(s->bar_fd);
    }
  }
  AmdFabric(const AmdFabric&) = delete;
  AmdFabric& operator=(const AmdFabric&) = delete;

  AmdNtbPair& pair() noexcept { return pair_; }
  Side& side(ntb::amd::Side s) noexcept { return s == ntb::amd::Side::kPrimary ? primary_ : secondary_; }

  std::unique_ptr<hal::AmdNtbPort> port(ntb::amd::Side s) { return std::make_unique<Port>(*this, s); }

  // Routes both directions; false if a side's translation is closed or does not lead into memory
  // the peer DMA-mapped (its window then writes into scratch memory).
  bool route() {
    const bool a = route_from(ntb::amd::Side::kPrimary);
    const bool b = route_from(ntb::amd::Side::kSecondary);
    return a && b;
  }

 private:
  class Port final : public hal::AmdNtbPort {
   public:
    Port(AmdFabric& f, ntb::amd::Side s) : f_(&f), side_(s) {}
    std::string name() const override { return f_->side(side_).name; }
    Result<void> enable_device() override {
      f_->side(side_).enabled = true;
      return {};
    }
    ntb::amd::AmdNtb::AttachParams attach_params() override {
      return f_->pair_.side(side_).attach_params(f_->side(side_).name);
    }
    Result<std::span<std::byte>> map_window_bar(unsigned /*bar*/) override {
      return std::span<std::byte>(f_->side(side_).bar, f_->side(side_).bar_size);
    }
    hal::MemType window_mem_type() const noexcept override { return hal::MemType::kUncached; }
    Result<void> map_dma(std::span<std::byte> mem, uint64_t iova) override {
      Side& s = f_->side(side_);
      s.dma_mem = mem;
      s.dma_iova = iova;
      s.dma_mapped = true;
      return {};
    }
    void unmap_dma(uint64_t iova) noexcept override {
      Side& s = f_->side(side_);
      s.unmapped.push_back(iova);
      s.dma_mapped = false;
    }
    Result<hal::MappableFile> window_file(unsigned /*bar*/) override {
      return hal::MappableFile{f_->side(side_).bar_fd, 0, hal::MemType::kUncached};
    }

   private:
    AmdFabric* f_;
    ntb::amd::Side side_;
  };

  // Maps `from`'s window BAR onto the peer memory its translation (window 0, BAR2) leads to.
  bool route_from(ntb::amd::Side from) {
    Side& s = side(from);
    Side& to = side(from == ntb::amd::Side::kPrimary ? ntb::amd::Side::kSecondary : ntb::amd::Side::kPrimary);
    const uint64_t xlat = pair_.side(from).peek(0x438, 8);
    const uint64_t lmt = pair_.side(from).peek(0x418, 8);
    const bool ok = to.dma_mapped && lmt != 0 && lmt <= s.bar_size && xlat >= to.dma_iova &&
                    xlat + lmt <= to.dma_iova + to.dma_mem.size();
    void* p = ok ? ::mremap(to.dma_mem.data() + (xlat - to.dma_iova), 0, lmt, MREMAP_MAYMOVE | MREMAP_FIXED, s.bar)
                 : ::mmap(s.bar, s.bar_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    return ok && p == s.bar;
  }

  AmdNtbPair pair_;
  Side primary_, secondary_;
};

}  // namespace pbx::test
