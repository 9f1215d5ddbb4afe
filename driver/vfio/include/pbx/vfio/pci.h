// PCI configuration-space offsets and bits the driver uses (PCI Local Bus spec 3.0, §6).
#pragma once

#include <cstdint>

namespace pbx::vfio::pci {

inline constexpr uint32_t kVendorId = 0x00;   // 16-bit
inline constexpr uint32_t kDeviceId = 0x02;   // 16-bit
inline constexpr uint32_t kCommand = 0x04;    // 16-bit
inline constexpr uint32_t kRevision = 0x08;   // 8-bit
inline constexpr uint32_t kBar0 = 0x10;       // 32-bit each, BARn at kBar0 + 4n

inline constexpr uint16_t kCommandMemory = 1u << 1;     // memory space decode
inline constexpr uint16_t kCommandBusMaster = 1u << 2;  // the device may master the bus (DMA, MSI)

inline constexpr uint32_t kBarIoSpace = 1u << 0;
inline constexpr uint32_t kBarPrefetchable = 1u << 3;

}  // namespace pbx::vfio::pci
