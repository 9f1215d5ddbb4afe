// PCI configuration space of one function, behind a small interface so that the VFIO config
// region (hardware) or a register model (tests) backs it. Cold path only: every access may be
// a system call.
//
//   auto ppd = cfg.read8(0xd4);                 // Result<uint8_t>
//   if (!ppd) return tl::unexpected(ppd.error());
//
// Values are little-endian on the wire; the helpers convert. Offsets are aligned to the access
// width (a misaligned access is a programming error and fails with kInvalidArgument).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "pbx/base/error.h"

namespace pbx::ntb {

class ConfigSpace {
 public:
  virtual ~ConfigSpace() = default;

  // Reads / writes `width` (1, 2 or 4) bytes at `off`, little-endian value in the low bits.
  [[nodiscard]] virtual Result<uint32_t> cfg_read(uint32_t off, unsigned width) = 0;
  [[nodiscard]] virtual Result<void> cfg_write(uint32_t off, unsigned width, uint32_t value) = 0;

  [[nodiscard]] Result<uint8_t> read8(uint32_t off) { return narrow<uint8_t>(off); }
  [[nodiscard]] Result<uint16_t> read16(uint32_t off) { return narrow<uint16_t>(off); }
  [[nodiscard]] Result<uint32_t> read32(uint32_t off) { return narrow<uint32_t>(off); }
  [[nodiscard]] Result<void> write16(uint32_t off, uint16_t v) { return cfg_write(off, 2, v); }

 private:
  template <class T>
  Result<T> narrow(uint32_t off) {
    auto v = cfg_read(off, sizeof(T));
    if (!v) return tl::unexpected(v.error());
    return static_cast<T>(*v);
  }
};

// Standard type-0 header offsets and bits used by the NTB drivers (PCI Local Bus 3.0 §6.1).
namespace pci {
inline constexpr uint32_t kVendorId = 0x00;  // 16-bit
inline constexpr uint32_t kDeviceId = 0x02;  // 16-bit
inline constexpr uint32_t kCommand = 0x04;   // 16-bit
inline constexpr uint32_t kRevision = 0x08;  // 8-bit
inline constexpr uint32_t kBar0 = 0x10;      // 32-bit each; BARn at kBar0 + 4n

inline constexpr uint16_t kCommandMemory = 1u << 1;
inline constexpr uint16_t kCommandMaster = 1u << 2;

inline constexpr uint32_t kBarIo = 1u << 0;
inline constexpr uint32_t kBarTypeMask = 3u << 1;
inline constexpr uint32_t kBarType64 = 2u << 1;
inline constexpr uint32_t kBarPrefetchable = 1u << 3;
inline constexpr uint64_t kBarAddrMask = ~uint64_t{0xf};
}  // namespace pci

}  // namespace pbx::ntb
