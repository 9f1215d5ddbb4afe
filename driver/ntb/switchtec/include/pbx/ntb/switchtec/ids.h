// Which PCI functions are Switchtec NT endpoints, which switch they belong to, and whether the
// running kernel gives their proxy requester IDs an IOMMU alias.
//
// An NT endpoint is a function of class "bridge, other" (0x068000) with vendor 0x11F8
// (Microsemi/Microchip) or 0x1055 (Microchip's PCI100x parts, registered under the EFAR ID);
// its BAR0 is the switch's GAS. The management endpoint of the same switch has class 0x058000
// and is not an NT endpoint. Sources: linux drivers/ntb/hw/mscc/ntb_hw_switchtec.c
// (switchtec_ntb_add accepts only class PCI_CLASS_BRIDGE_OTHER << 8), drivers/pci/switch/
// switchtec.c (switchtec_pci_tbl: device IDs and generations), drivers/pci/quirks.c
// (SWITCHTEC_QUIRK / SWITCHTEC_PCI100X_QUIRK: the devices quirk_switchtec_ntb_dma_alias runs on).
//
// The NT register blocks are the same in every generation (ntb_hw_switchtec.c does not look at
// the generation; Microchip's Gen6 ID patch: "no changes to the driver were required"), so an
// NT endpoint with an ID not in the table below is still driven; only its name is unknown.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pbx::ntb::switchtec {

inline constexpr uint16_t kVendorMicrosemi = 0x11f8;
inline constexpr uint16_t kVendorMicrochipPci100x = 0x1055;  // PCI_VENDOR_ID_EFAR
inline constexpr uint32_t kClassNtEndpoint = 0x068000;       // bridge, other
inline constexpr uint32_t kClassManagement = 0x058000;       // memory controller, other

struct PartInfo {
  uint16_t vendor;
  uint16_t device;
  uint8_t gen;         // PCIe generation of the switch: 3, 4, 5
  const char* name;    // "PFX 96xG3", "PAX 28XG4", "PCI1003XG4"
  // First Linux release whose drivers/pci/quirks.c aliases this device's proxy IDs for the
  // IOMMU; nullptr when the table here does not record it.
  const char* alias_quirk_since;
};

// True for a function postbox drives as a Switchtec NT endpoint.
constexpr bool is_nt_endpoint(uint16_t vendor, uint32_t class_code) noexcept {
  return (vendor == kVendorMicrosemi || vendor == kVendorMicrochipPci100x) && class_code == kClassNtEndpoint;
}

// The part, when its ID is one Linux lists; nullopt for an unknown (newer) ID.
std::optional<PartInfo> lookup(uint16_t vendor, uint16_t device) noexcept;

// Whether the kernel gives this NT endpoint's proxy requester IDs a DMA alias (Linux's
// quirk_switchtec_ntb_dma_alias). Without it the IOMMU refuses every write a peer host makes
// into this host's memory ("DMAR: ... Present bit in context entry is clear",
// Microsemi/switchtec-kernel#110).
struct AliasQuirk {
  enum class State : uint8_t { kCovered, kMissing, kUnknown };
  State state = State::kUnknown;
  std::string message;  // names the device, the kernel and what to do
};
// `kernel_release` as uname -r prints it ("6.1.0-13-amd64").
AliasQuirk check_alias_quirk(uint16_t vendor, uint16_t device, std::string_view kernel_release);

// "PFX 96xG3 (gen3)" or "unknown Switchtec [11f8:xxxx]".
std::string describe(uint16_t vendor, uint16_t device);

}  // namespace pbx::ntb::switchtec
