// Small value types of the hardware abstraction layer.
#pragma once

#include <compare>
#include <cstdint>

namespace pbx::hal {

// Strong index types, in the kernel's ntb.h grammar: a node (pidx), a scratchpad (sidx).
template <class Tag>
struct Idx {
  uint16_t v = 0;
  constexpr Idx() = default;
  constexpr explicit Idx(uint16_t x) noexcept : v(x) {}
  friend constexpr auto operator<=>(Idx, Idx) = default;
};
using NodeIdx = Idx<struct NodeTag>;
using SpadIdx = Idx<struct SpadTag>;

// How a window is mapped into this process. Data windows on NTB hardware are mapped
// write-combining where the platform allows (full 64-byte posted writes); uncached stores
// become 8-byte PCIe writes and are several times slower. Loopback memory is write-back.
enum class MemType : uint8_t { kWriteBack, kWriteCombining, kUncached };

constexpr const char* to_string(MemType t) noexcept {
  switch (t) {
    case MemType::kWriteBack: return "write-back";
    case MemType::kWriteCombining: return "write-combining";
    case MemType::kUncached: return "uncached";
  }
  return "?";
}

// Link to one peer node. `generation` changes on every up/down transition, so a poller
// that remembers it sees every event even if the link went down and up between two polls.
struct LinkStatus {
  bool up = false;
  uint32_t generation = 0;
  uint8_t speed_gts = 0;  // PCIe generation (1..6) where the device reports it, else 0
  uint8_t width = 0;      // lanes where the device reports it, else 0
};

}  // namespace pbx::hal
