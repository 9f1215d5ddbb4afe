// Type-safe MMIO register windows over a mapped BAR, for every device family (STYLE.md §3).
//
//   struct MyRegs {
//     static constexpr std::size_t kSize = 0x10000;                        // bytes of the BAR
//     static constexpr Reg<uint32_t, 0x0000> ctrl{};
//     static constexpr Reg<uint64_t, 0x0040, Access::kW1C> status{};
//     static constexpr RegArray<uint32_t, 0x0080, 4, 16> spad{};          // 16 registers, stride 4
//   };
//   auto regs = RegWindow<MyRegs>::over(bar0, "0000:af:00.0 BAR0");      // checks the length once
//   uint32_t c = regs->read(MyRegs::ctrl);
//   regs->write(MyRegs::status, 0x1);                                      // W1C: clears bit 0
//   regs->write(MyRegs::spad, 3, 0xcafe);                                  // index checked in debug
//
// Every access is one naturally aligned, relaxed atomic load or store of the register's width:
// exactly one MMIO transaction, never split, merged or elided by the compiler. Accesses order
// nothing; callers put the barrier their protocol needs next to the access and comment it.
// A register that lies beyond Layout::kSize does not compile, and neither does a write to a
// read-only register or a read of a write-only one.
//
// A window can instead be backed by an MmioModel (tests): every access then goes to the model,
// which gives registers their side effects (write-1-to-clear, read-only, doorbells that ring a
// peer). Production windows have no model; the one predictable branch costs nothing next to an
// uncached MMIO access.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

#include "pbx/base/error.h"

namespace pbx::mmio {

enum class Access : uint8_t {
  kRO,   // read-only: writes do not compile
  kWO,   // write-only: reads do not compile (a read may have side effects or return garbage)
  kRW,
  kW1C,  // read; writing 1 to a bit clears it, 0 leaves it
};

template <class T>
concept RegValue = std::is_unsigned_v<T> && (sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);

// One register at byte offset Off.
template <RegValue T, std::size_t Off, Access A = Access::kRW>
struct Reg {
  using value_type = T;
  static constexpr std::size_t offset = Off;
  static constexpr std::size_t end = Off + sizeof(T);
  static constexpr Access access = A;
  static_assert(Off % sizeof(T) == 0, "a register is naturally aligned");
};

// Count registers of type T, the first at Off, Stride bytes apart (scratchpads, doorbell bells).
template <RegValue T, std::size_t Off, std::size_t Stride, std::size_t Count, Access A = Access::kRW>
struct RegArray {
  using value_type = T;
  static constexpr std::size_t offset = Off;
  static constexpr std::size_t stride = Stride;
  static constexpr std::size_t count = Count;
  static constexpr std::size_t end = Off + Stride * (Count - 1) + sizeof(T);
  static constexpr Access access = A;
  static_assert(Count > 0 && Stride >= sizeof(T));
  static_assert(Off % sizeof(T) == 0 && Stride % sizeof(T) == 0, "registers are naturally aligned");
  static constexpr std::size_t offset_of(std::size_t i) noexcept { return Off + Stride * i; }
};

// A software model of a register file (tests). Widths are 1, 2, 4 or 8 bytes.
class MmioModel {
 public:
  virtual ~MmioModel() = default;
  virtual uint64_t mmio_read(std::size_t off, unsigned width) = 0;
  virtual void mmio_write(std::size_t off, unsigned width, uint64_t value) = 0;
};

template <class Layout>
class RegWindow {
 public:
  static_assert(Layout::kSize > 0 && Layout::kSize % 8 == 0);

  RegWindow() = default;

  // A window over mapped memory, which must hold at least Layout::kSize bytes. `what` names the
  // memory in the error ("0000:af:00.0 BAR0").
  [[nodiscard]] static Result<RegWindow> over(std::span<std::byte> mem, std::string_view what) {
    if (mem.data() == nullptr || mem.size() < Layout::kSize || reinterpret_cast<std::uintptr_t>(mem.data()) % 8 != 0)
      return fail(Errc::kInvalidArgument,
                  "%.*s: %zu bytes at %p cannot hold the %zu-byte register file: the BAR is smaller than the "
                  "device's registers (wrong device, or a BIOS that sized BAR0 differently)",
                  static_cast<int>(what.size()), what.data(), mem.size(), static_cast<void*>(mem.data()),
                  static_cast<std::size_t>(Layout::kSize));
    RegWindow w;
    w.base_ = mem.data();
    return w;
  }

  // A window whose accesses go to `model` (tests). `base` is where this window starts in the
  // model's address space (a block of a larger register file: model offset = base + register
  // offset), as over(mem.subspan(base)) is for mapped memory.
  static RegWindow over_model(MmioModel& model, std::size_t base = 0) noexcept {
    RegWindow w;
    w.model_ = &model;
    w.model_base_ = base;
    return w;
  }

  bool valid() const noexcept { return base_ != nullptr || model_ != nullptr; }

  template <class R>
    requires(R::access != Access::kWO)
  typename R::value_type read(R) const noexcept {
    static_assert(R::end <= Layout::kSize, "register beyond the register file");
    return load<typename R::value_type>(R::offset);
  }

  template <class R>
    requires(R::access != Access::kRO)
  void write(R, typename R::value_type v) const noexcept {
    static_assert(R::end <= Layout::kSize, "register beyond the register file");
    store<typename R::value_type>(R::offset, v);
  }

  template <class A>
    requires(A::access != Access::kWO)
  typename A::value_type read(A, std::size_t i) const noexcept {
    static_assert(A::end <= Layout::kSize, "register array beyond the register file");
    assert(i < A::count);
    return load<typename A::value_type>(A::offset_of(i));
  }

  template <class A>
    requires(A::access != Access::kRO)
  void write(A, std::size_t i, typename A::value_type v) const noexcept {
    static_assert(A::end <= Layout::kSize, "register array beyond the register file");
    assert(i < A::count);
    store<typename A::value_type>(A::offset_of(i), v);
  }

 private:
  template <class T>
  T load(std::size_t off) const noexcept {
    if (model_ != nullptr) return static_cast<T>(model_->mmio_read(model_base_ + off, sizeof(T)));
    // Relaxed: one MMIO read; ordering against other accesses is the caller's (commented) job.
    return std::atomic_ref<T>(*reinterpret_cast<T*>(base_ + off)).load(std::memory_order_relaxed);  // NOLINT
  }
  template <class T>
  void store(std::size_t off, T v) const noexcept {
    if (model_ != nullptr) return model_->mmio_write(model_base_ + off, sizeof(T), v);
    // Relaxed: one MMIO write; ordering against other accesses is the caller's (commented) job.
    std::atomic_ref<T>(*reinterpret_cast<T*>(base_ + off)).store(v, std::memory_order_relaxed);  // NOLINT
  }

  std::byte* base_ = nullptr;
  MmioModel* model_ = nullptr;
  std::size_t model_base_ = 0;
};

}  // namespace pbx::mmio
