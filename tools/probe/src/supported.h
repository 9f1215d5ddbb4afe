// The devices pbx-probe lists, and which of them postbox binds to vfio-pci.
//
//   Intel Xeon NTB    8086:201C, 347E, 0DB4, 7868   postbox driver (driver/ntb/intel)
//   QEMU ivshmem      1AF4:1110                     postbox driver (driver/ivshmem)
//   AMD NTB           1022:145B 148B 14C0 14C3 155A 17D4 17D7, Hygon 1D94:145B   listed only
//   Microchip Switchtec NT endpoints: vendor 11F8, class 0680 (bridge, other)  listed only
//
// AMD IDs from linux drivers/ntb/hw/amd/ntb_hw_amd.c; Switchtec NT functions are the
// bridge-class functions of the switch (linux drivers/pci/switch/switchtec.c binds the
// management endpoint by class 0580, the NT endpoints by class 0680).
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

struct Classification {
  Family family;
  std::string kind;       // "intel-gen3", "intel-gen4", "ivshmem", "amd-ntb", "switchtec-ntb"
  std::string part;       // "SKX", "SPR", ... (Intel); empty otherwise
  std::string part_name;  // "Skylake-SP / Cascade Lake"
  bool postbox_driver;    // postbox can drive it (else listed for diagnosis only)
  std::string note;       // why the part is not fully identified, if so
};

// `class_code` is the 24-bit class (0x068000).
std::optional<Classification> classify(uint16_t vendor, uint16_t device, uint8_t revision, uint32_t class_code);

// The IDs the udev rules bind to vfio-pci: every device postbox has a driver for.
std::span<const PciId> vfio_bind_ids();

inline constexpr PciId kIvshmem{0x1af4, 0x1110};

}  // namespace pbx::probe
