// LocalMemory: memory of this node that a window exposes, in a memfd so that a node manager can
// hand it to local processes. Inbound NTB windows use hugepages where the machine has them
// (fewer IOMMU and CPU TLB entries for a window of hundreds of MiB); the IOMMU makes the block
// contiguous in IOVA space, so physical contiguity is not needed.
//
//   auto m = LocalMemory::allocate("pbx-inbound", 512 << 20, PagePolicy::kHugeIfAvailable);
//   m->span();       // mapped read-write, zeroed
//   m->page_size();  // 2 MiB / 1 GiB, or 4 KiB when hugepages were not available
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "pbx/base/error.h"
#include "pbx/base/unique_fd.h"

namespace pbx::hal {

enum class PagePolicy : uint8_t {
  kHugeIfAvailable,  // hugetlb (1 GiB pages when the size allows, else 2 MiB), else small pages
  kHugeRequired,     // hugetlb or an error that says how to reserve hugepages
  kSmall,            // ordinary pages (tests, small windows)
};

class LocalMemory {
 public:
  // `populate`: fault every page in now (memory a device will DMA into must exist; hugetlb
  // shortages show here rather than as SIGBUS later). Off: pages appear on first touch.
  [[nodiscard]] static Result<LocalMemory> allocate(const std::string& name, size_t size, PagePolicy policy,
                                                    bool populate = true);

  std::span<std::byte> span() const noexcept { return map_.span(); }
  size_t page_size() const noexcept { return page_size_; }
  int fd() const noexcept { return fd_.get(); }

 private:
  UniqueFd fd_;
  MmapRegion map_;
  size_t page_size_ = 0;
};

}  // namespace pbx::hal
