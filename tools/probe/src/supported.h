// The devices pbx-probe lists, and which of them postbox binds to vfio-pci.
//
//   Intel Xeon NTB    8086:201C, 347E, 0DB4, 7868   driver/ntb/intel, HAL backend (spec ntb: or intel:)
//   QEMU ivshmem      1AF4:1110                     driver/ivshmem, HAL backend (spec ivshmem:)
//   AMD NTB           1022:145B 148B 14C0 14C3 155A 17D4 17D7, Hygon 1D94:145B   driver/ntb/amd,
//                     HAL backend (spec ntb: or amd:)
//   Microchip Switchtec NT endpoints: vendor 11F8 or 1055, class 0680   driver/ntb/switchtec,
//                     HAL backend (spec ntb: or switchtec:)
//
// IDs from the drivers' own tables (ntb/intel/ids.h, ntb/amd/ids.h, ntb/switchtec/ids.h:
// Switchtec NT endpoints are matched by vendor and class, as Linux's ntb_hw_switchtec does,
// since every switch generation adds device IDs).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace pbx::probe {

enum class Family : uint8_t { kIntelNtb, kIvshmem, kAmdNtb, kSwitchtecNtb };

struct PciId {
  uint16_t vendor;
  uint16_t device;
  friend bool operator==(PciId, PciId) = default;
};

// Functions matched by vendor and 24-bit class rather than by device ID.
struct PciClassMatch {
  uint16_t vendor;
  uint32_t class_code;
  friend bool operator==(PciClassMatch, PciClassMatch) = default;
};

struct Classification {
  Family family;
  std::string kind;       // "intel-gen3", "intel-gen4", "ivshmem", "amd-ntb", "switchtec-ntb"
  std::string part;       // "SKX", "SPR", "PFX 96xG3", ...; empty when unknown
  std::string part_name;  // "Skylake-SP / Cascade Lake", "gen3 switch"
  bool postbox_driver;    // postbox has a register-level driver for it
  bool hal_backend;       // ... and a HAL backend: a job can run on it
  std::string note;       // why the part is not fully identified, if so
  // The device spec that opens it (hal/factory), for `address`: "ntb:0000:af:00.0"; empty when
  // no backend drives it.
  std::string spec(const std::string& address) const {
    if (!hal_backend) return {};
    return (family == Family::kIvshmem ? "ivshmem:" : "ntb:") + address;
  }
};

// `class_code` is the 24-bit class (0x068000).
std::optional<Classification> classify(uint16_t vendor, uint16_t device, uint8_t revision, uint32_t class_code);

// What the udev rules bind to vfio-pci: every device postbox has a driver for, by ID, and the
// Switchtec NT endpoints by vendor and class.
std::span<const PciId> vfio_bind_ids();
std::span<const PciClassMatch> vfio_bind_classes();

inline constexpr PciId kIvshmem{0x1af4, 0x1110};

}  // namespace pbx::probe
