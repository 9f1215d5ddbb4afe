// Registers of QEMU's ivshmem PCI device (1af4:1110), BAR0, from QEMU's
// docs/specs/ivshmem-spec.rst. BAR1 holds the MSI-X table (ivshmem-doorbell only); BAR2 is the
// shared memory.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pbx/mmio/mmio.h"

namespace pbx::ivshmem {

inline constexpr uint16_t kVendorId = 0x1af4;
inline constexpr uint16_t kDeviceId = 0x1110;
inline constexpr unsigned kRegsBar = 0;
inline constexpr unsigned kSharedMemoryBar = 2;

struct Regs {
  static constexpr std::size_t kSize = 0x100;
  // Interrupt mask / status: INTx of revision-0 devices without MSI-X only; unused here.
  static constexpr mmio::Reg<uint32_t, 0x0> intr_mask{};
  static constexpr mmio::Reg<uint32_t, 0x4> intr_status{};
  // This VM's peer ID (0..65535) given by the ivshmem server; 0 on ivshmem-plain.
  static constexpr mmio::Reg<uint32_t, 0x8, mmio::Access::kRO> iv_position{};
  // Write (peer_id << 16) | vector to interrupt that vector of that peer. Ignored if the peer
  // or vector is not connected; the device cannot tell.
  static constexpr mmio::Reg<uint32_t, 0xc, mmio::Access::kWO> doorbell{};
};

constexpr uint32_t doorbell_value(uint16_t peer_id, uint16_t vector) noexcept {
  return (uint32_t{peer_id} << 16) | vector;
}

}  // namespace pbx::ivshmem
