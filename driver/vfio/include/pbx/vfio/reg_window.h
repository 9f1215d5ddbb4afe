// Type-safe MMIO register windows over a mapped BAR (STYLE.md §3).
//
//   struct MyRegs {
//     static constexpr std::size_t kSize = 0x100;                     // bytes the layout spans
//     static constexpr Reg<uint32_t, 0x08, Access::kRO> id{};
//     static constexpr Reg<uint32_t, 0x0c, Access::kWO> doorbell{};
//   };
//   auto regs = RegWindow<MyRegs>::over(bar0.mem, "BAR0 of 0000:00:04.0");  // checks the length once
//   uint32_t id = regs->read(MyRegs::id);
//   regs->write(MyRegs::doorbell, 1);    // regs->write(MyRegs::id, 1) does not compile
//
// Accesses are single, naturally aligned, relaxed atomic loads/stores (one MMIO access each,
// never split or merged by the compiler). They order nothing: callers put the barrier that
// their protocol needs next to the access and say what it pairs with.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "pbx/base/error.h"

namespace pbx::vfio {

enum class Access : uint8_t {
  kRO,   // read-only: writes do not compile
  kWO,   // write-only: reads do not compile (reading may have side effects or return garbage)
  kRW,
  kW1C,  // read, write 1 to clear
};

template <class T, std::size_t Off, Access A = Access::kRW>
struct Reg {
  using value_type = T;
  static constexpr std::size_t offset = Off;
  static constexpr Access access = A;
  static_assert(Off % sizeof(T) == 0, "a register is naturally aligned");
  static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);
};

template <class Layout>
class RegWindow {
 public:
  RegWindow() = default;

  // A window over `mem`, which must hold at least Layout::kSize bytes. `what` names it in the
  // error ("BAR0 of 0000:00:04.0").
  [[nodiscard]] static Result<RegWindow> over(std::span<std::byte> mem, std::string_view what) {
    if (mem.size() < Layout::kSize || reinterpret_cast<std::uintptr_t>(mem.data()) % 8 != 0)
      return fail(Errc::kInvalidArgument, "%.*s: %zu bytes at %p cannot hold the %zu-byte register layout",
                  static_cast<int>(what.size()), what.data(), mem.size(), static_cast<void*>(mem.data()),
                  Layout::kSize);
    return RegWindow(mem.data());
  }

  bool valid() const noexcept { return base_ != nullptr; }

  template <class R>
    requires(R::access != Access::kWO)
  typename R::value_type read(R) const noexcept {
    static_assert(R::offset + sizeof(typename R::value_type) <= Layout::kSize, "register beyond the layout");
    return std::atomic_ref<typename R::value_type>(*at<R>()).load(std::memory_order_relaxed);
  }

  template <class R>
    requires(R::access != Access::kRO)
  void write(R, typename R::value_type v) const noexcept {
    static_assert(R::offset + sizeof(typename R::value_type) <= Layout::kSize, "register beyond the layout");
    std::atomic_ref<typename R::value_type>(*at<R>()).store(v, std::memory_order_relaxed);
  }

 private:
  explicit RegWindow(std::byte* base) noexcept : base_(base) {}

  template <class R>
  typename R::value_type* at() const noexcept {
    return reinterpret_cast<typename R::value_type*>(base_ + R::offset);  // NOLINT: MMIO is raw bytes
  }

  std::byte* base_ = nullptr;
};

}  // namespace pbx::vfio
