// Windows: the data-path view of a node's memory. Concrete, non-virtual, inline.
//
// OutboundWindow: memory on a peer node that this process writes through (a BAR mapping on NTB
// hardware, a shared-memory mapping on loopback). Stores only: a load through a real window is
// a non-posted PCIe read that stalls the CPU for a round trip, so the data path never reads
// one. read64_slow() exists for teardown and diagnostics and is recorded as a remote read.
//
// InboundWindow: local memory that a peer's processes write into. Polled with plain loads.
//
// Every store can be reported to an AccessRecorder (tests only; null in production), which is
// how tests prove "no remote read on the data path" and "no indicator without a flush after
// its payload" even on x86 loopback memory, where a missing fence never shows.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "pbx/base/barrier.h"
#include "pbx/hal/copy.h"
#include "pbx/hal/types.h"

namespace pbx::hal {

// What a store carries, so that a recorder can check the ordering rules.
enum class StoreKind : uint8_t {
  kPayload,         // message bytes in a pool block: must be flushed before their indicator
  kIndicator,       // publishes earlier payload stores (postbox slot of a pool message)
  kSelfValidating,  // words that carry their own validity check (inline slots, acks)
  kControl,         // segment headers, presence lines, epochs
};

class AccessRecorder {
 public:
  virtual ~AccessRecorder() = default;
  virtual void on_store(size_t offset, size_t len, StoreKind kind) = 0;
  virtual void on_flush() = 0;
  virtual void on_read(size_t offset, size_t len) = 0;
};

// Copies into and out of windows: small ones with memcpy, large ones with bulk_copy() in the
// variant that fits the CPU (pbx/hal/copy.h).
inline void window_copy(void* dst, const void* src, size_t n) noexcept {
  if (n < kBulkCopyMin) std::memcpy(dst, src, n);
  else bulk_copy(dst, src, n);
}

// Whole-line stores with the widest stores the CPU has (detected once): one 64-byte store
// with AVX-512, two 32-byte stores with AVX2, else eight 8-byte stores. Fewer stores per line
// keep more lines in flight in the store buffer while each waits for ownership of its line
// (a cache line on the peer core, a posted write through a BAR).
enum class LineStore : uint8_t { kWords, kTwoHalves, kWhole };
extern const LineStore kLineStore;
void store_line_avx512(void* dst, const uint64_t* w) noexcept;
void store_line_avx2(void* dst, const uint64_t* w) noexcept;

class OutboundWindow final {
 public:
  OutboundWindow() = default;
  OutboundWindow(std::byte* base, size_t size, MemType type) noexcept
      : base_(base), size_(size), type_(type) {}

  bool valid() const noexcept { return base_ != nullptr; }
  size_t size() const noexcept { return size_; }
  MemType mem_type() const noexcept { return type_; }

  // Tests: report every access to `rec`, with offsets relative to this window.
  void set_recorder(AccessRecorder* rec) noexcept { rec_ = rec; }

  // A view of [off, off + len) of this window; offsets of the view start at 0. The recorder
  // (if any) is shared and sees offsets relative to the parent.
  OutboundWindow subwindow(size_t off, size_t len) const noexcept {
    assert(off + len <= size_);
    OutboundWindow w(base_ + off, len, type_);
    w.rec_ = rec_;
    w.rec_base_ = rec_base_ + off;
    return w;
  }

  // Copies payload bytes into the window. Not ordered against later stores until flush().
  void write(size_t off, const void* src, size_t n, StoreKind kind = StoreKind::kPayload) noexcept {
    assert(off + n <= size_);
    window_copy(base_ + off, src, n);
    if (rec_ != nullptr) rec_->on_store(rec_base_ + off, n, kind);
  }

  // The same through a copy routine of the caller's, `copy(dst, src, n)`, that may compute
  // something on the way (a checksum of the source); returns what it returns.
  template <class Copy>
  auto write_with(size_t off, const void* src, size_t n, StoreKind kind, Copy&& copy) noexcept {
    assert(off + n <= size_);
    auto r = copy(base_ + off, src, n);
    if (rec_ != nullptr) rec_->on_store(rec_base_ + off, n, kind);
    return r;
  }

  // One naturally aligned 8-byte store: single-copy atomic, never torn on the link.
  void store64(size_t off, uint64_t v, StoreKind kind) noexcept {
    assert(off % 8 == 0 && off + 8 <= size_);
    std::atomic_ref<uint64_t>(*word(off)).store(v, std::memory_order_relaxed);
    if (rec_ != nullptr) rec_->on_store(rec_base_ + off, 8, kind);
  }

  // Stores one whole 64-byte line, for readers that check every word on its own: one
  // 64-byte store where the CPU has one (a full-size posted write on a WC mapping), else
  // words 1..7, then word 0 with release order (pairs with an acquire load of word 0).
  void store_line(size_t off, const uint64_t (&w)[8], StoreKind kind) noexcept {
    assert(off % 64 == 0 && off + 64 <= size_);
    uint64_t* line = word(off);  // local pointer: the stores below cannot reload members
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
    if (kLineStore != LineStore::kWords) {
      // Release (x86: stores are not reordered with stores, so the compiler is all that needs
      // telling): earlier stores, a flushed payload, stay before the line. With two halves,
      // words 4..7 go first and word 0 travels with words 1..3.
      std::atomic_signal_fence(std::memory_order_release);
      if (kLineStore == LineStore::kWhole) store_line_avx512(line, w);
      else store_line_avx2(line, w);
      if (rec_ != nullptr) rec_->on_store(rec_base_ + off, 64, kind);
      return;
    }
#endif
    for (size_t i = 1; i < 8; ++i) std::atomic_ref<uint64_t>(line[i]).store(w[i], std::memory_order_relaxed);
    std::atomic_ref<uint64_t>(line[0]).store(w[0], std::memory_order_release);
    if (rec_ != nullptr) rec_->on_store(rec_base_ + off, 64, kind);
  }

  // For an encoder that builds a whole 64-byte line in registers and writes it with one
  // store (readers check every word on its own): the line's address, and the report of that
  // store to the recorder.
  std::byte* line_address(size_t off) const noexcept {
    assert(off % 64 == 0 && off + 64 <= size_);
    return base_ + off;
  }
  void record_store(size_t off, size_t len, StoreKind kind) const noexcept {
    if (rec_ != nullptr) rec_->on_store(rec_base_ + off, len, kind);
  }

  // Same, with release order for the compiler and the CPU's memory model (pairs with an
  // acquire load by the reader). Does NOT drain write-combining buffers: use flush() first
  // when earlier stores must land before this one on a WC mapping.
  void store64_release(size_t off, uint64_t v, StoreKind kind) noexcept {
    assert(off % 8 == 0 && off + 8 <= size_);
    std::atomic_ref<uint64_t>(*word(off)).store(v, std::memory_order_release);
    if (rec_ != nullptr) rec_->on_store(rec_base_ + off, 8, kind);
  }

  // Every store before it lands before any store after it. On write-combining and uncached
  // mappings: drains the WC buffers (sfence). On write-back memory the CPU keeps stores in
  // order on x86 (a release fence orders them on weaker CPUs): no sfence, which would wait for
  // the store buffer. (Copies that use non-temporal stores fence themselves: bulk_copy.)
  void flush() noexcept {
    if (type_ != MemType::kWriteBack) wc_flush();
#if defined(__SANITIZE_THREAD__)
    // g++ refuses thread fences under -fsanitize=thread (TSan cannot model them): a compiler
    // fence there; the release stores that publish what a flush orders carry what TSan checks.
    else std::atomic_signal_fence(std::memory_order_release);
#else
    else std::atomic_thread_fence(std::memory_order_release);
#endif
    if (rec_ != nullptr) rec_->on_flush();
  }

  // Pushes stores out promptly where the mapping buffers them (WC); free on write-back memory.
  void push() noexcept {
    if (type_ != MemType::kWriteBack) flush();
  }

  // A non-posted read across the link (microseconds on hardware). Teardown and diagnostics
  // only, never the data path; recorded so tests can prove the data path makes none.
  uint64_t read64_slow(size_t off) const noexcept {
    assert(off % 8 == 0 && off + 8 <= size_);
    if (rec_ != nullptr) rec_->on_read(rec_base_ + off, 8);
    return std::atomic_ref<uint64_t>(*word(off)).load(std::memory_order_acquire);
  }

 private:
  uint64_t* word(size_t off) const noexcept {
    return reinterpret_cast<uint64_t*>(base_ + off);  // NOLINT: window memory is raw bytes
  }

  std::byte* base_ = nullptr;
  size_t size_ = 0;
  MemType type_ = MemType::kWriteBack;
  AccessRecorder* rec_ = nullptr;
  size_t rec_base_ = 0;
};

class InboundWindow final {
 public:
  InboundWindow() = default;
  InboundWindow(const std::byte* base, size_t size) noexcept : base_(base), size_(size) {}

  bool valid() const noexcept { return base_ != nullptr; }
  size_t size() const noexcept { return size_; }
  const std::byte* data() const noexcept { return base_; }

  InboundWindow subwindow(size_t off, size_t len) const noexcept {
    assert(off + len <= size_);
    return InboundWindow(base_ + off, len);
  }

  // Acquire load of a word a peer publishes (pairs with the peer's release store / flush).
  uint64_t load64_acquire(size_t off) const noexcept {
    assert(off % 8 == 0 && off + 8 <= size_);
    return std::atomic_ref<uint64_t>(*word(off)).load(std::memory_order_acquire);
  }
  uint64_t load64(size_t off) const noexcept {
    assert(off % 8 == 0 && off + 8 <= size_);
    return std::atomic_ref<uint64_t>(*word(off)).load(std::memory_order_relaxed);
  }
  // Copies bytes out. The caller has bounds-checked [off, off + n) against its own layout.
  void read(size_t off, void* dst, size_t n) const noexcept {
    assert(off + n <= size_);
    window_copy(dst, base_ + off, n);
  }
  // The same through a copy routine of the caller's (see OutboundWindow::write_with).
  template <class Copy>
  auto read_with(size_t off, void* dst, size_t n, Copy&& copy) const noexcept {
    assert(off + n <= size_);
    return copy(dst, base_ + off, n);
  }
  const std::byte* at(size_t off) const noexcept {
    assert(off <= size_);
    return base_ + off;
  }

 private:
  uint64_t* word(size_t off) const noexcept {
    // atomic_ref needs a non-const object; loads never write (the mapping may be read-only).
    return const_cast<uint64_t*>(reinterpret_cast<const uint64_t*>(base_ + off));  // NOLINT
  }

  const std::byte* base_ = nullptr;
  size_t size_ = 0;
};

}  // namespace pbx::hal
