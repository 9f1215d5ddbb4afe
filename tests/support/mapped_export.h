// MappedExport: a window a device exported (hal::WindowExport), mapped the way another process
// of the node maps it (MAP_SHARED at the export's offset), for tests that check an export shows
// the device's own bytes. Unmapped on destruction.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "pbx/hal/device.h"

namespace pbx::test {

class MappedExport {
 public:
  explicit MappedExport(const hal::WindowExport& w) : len_(w.length) {
    void* p = ::mmap(nullptr, w.length, PROT_READ | PROT_WRITE, MAP_SHARED, w.fd, static_cast<off_t>(w.offset));
    p_ = p == MAP_FAILED ? nullptr : static_cast<std::byte*>(p);
  }
  ~MappedExport() {
    if (p_ != nullptr) ::munmap(p_, len_);
  }
  MappedExport(const MappedExport&) = delete;
  MappedExport& operator=(const MappedExport&) = delete;

  bool ok() const noexcept { return p_ != nullptr; }
  // Relaxed: the tests store and load from one thread; atomic_ref keeps the accesses whole.
  uint64_t load(size_t off) const { return word(off).load(std::memory_order_relaxed); }
  void store(size_t off, uint64_t v) { word(off).store(v, std::memory_order_relaxed); }

 private:
  std::atomic_ref<uint64_t> word(size_t off) const {
    return std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(p_ + off));
  }
  std::byte* p_ = nullptr;
  size_t len_ = 0;
};

}  // namespace pbx::test
