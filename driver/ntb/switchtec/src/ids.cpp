#include "pbx/ntb/switchtec/ids.h"

#include <cstdio>
#include <cstdlib>

namespace pbx::ntb::switchtec {
namespace {

// Device IDs from linux drivers/pci/switch/switchtec.c (switchtec_pci_tbl) and the same IDs in
// drivers/pci/quirks.c (SWITCHTEC_QUIRK). Gen3 IDs entered the quirk list with the quirk itself
// (commit ad281ecf1c7d "PCI: Add DMA alias quirk for Microsemi Switchtec NTB", in 4.19: its
// fix 742bbe1ee35b was backported to 4.19 stable); PCI100x was applied "for v6.14" (PCI
// maintainer's reply to the PCI100x patch). The release that added the Gen4 and Gen5 IDs to
// the quirk list is not recorded in the sources read for this table.
constexpr PartInfo kParts[] = {
    {kVendorMicrosemi, 0x8531, 3, "PFX 24xG3", "4.19"},  {kVendorMicrosemi, 0x8532, 3, "PFX 32xG3", "4.19"},
    {kVendorMicrosemi, 0x8533, 3, "PFX 48xG3", "4.19"},  {kVendorMicrosemi, 0x8534, 3, "PFX 64xG3", "4.19"},
    {kVendorMicrosemi, 0x8535, 3, "PFX 80xG3", "4.19"},  {kVendorMicrosemi, 0x8536, 3, "PFX 96xG3", "4.19"},
    {kVendorMicrosemi, 0x8541, 3, "PSX 24xG3", "4.19"},  {kVendorMicrosemi, 0x8542, 3, "PSX 32xG3", "4.19"},
    {kVendorMicrosemi, 0x8543, 3, "PSX 48xG3", "4.19"},  {kVendorMicrosemi, 0x8544, 3, "PSX 64xG3", "4.19"},
    {kVendorMicrosemi, 0x8545, 3, "PSX 80xG3", "4.19"},  {kVendorMicrosemi, 0x8546, 3, "PSX 96xG3", "4.19"},
    {kVendorMicrosemi, 0x8551, 3, "PAX 24XG3", "4.19"},  {kVendorMicrosemi, 0x8552, 3, "PAX 32XG3", "4.19"},
    {kVendorMicrosemi, 0x8553, 3, "PAX 48XG3", "4.19"},  {kVendorMicrosemi, 0x8554, 3, "PAX 64XG3", "4.19"},
    {kVendorMicrosemi, 0x8555, 3, "PAX 80XG3", "4.19"},  {kVendorMicrosemi, 0x8556, 3, "PAX 96XG3", "4.19"},
    {kVendorMicrosemi, 0x8561, 3, "PFXL 24XG3", "4.19"}, {kVendorMicrosemi, 0x8562, 3, "PFXL 32XG3", "4.19"},
    {kVendorMicrosemi, 0x8563, 3, "PFXL 48XG3", "4.19"}, {kVendorMicrosemi, 0x8564, 3, "PFXL 64XG3", "4.19"},
    {kVendorMicrosemi, 0x8565, 3, "PFXL 80XG3", "4.19"}, {kVendorMicrosemi, 0x8566, 3, "PFXL 96XG3", "4.19"},
    {kVendorMicrosemi, 0x8571, 3, "PFXI 24XG3", "4.19"}, {kVendorMicrosemi, 0x8572, 3, "PFXI 32XG3", "4.19"},
    {kVendorMicrosemi, 0x8573, 3, "PFXI 48XG3", "4.19"}, {kVendorMicrosemi, 0x8574, 3, "PFXI 64XG3", "4.19"},
    {kVendorMicrosemi, 0x8575, 3, "PFXI 80XG3", "4.19"}, {kVendorMicrosemi, 0x8576, 3, "PFXI 96XG3", "4.19"},
    {kVendorMicrosemi, 0x4000, 4, "PFX 100XG4", nullptr}, {kVendorMicrosemi, 0x4084, 4, "PFX 84XG4", nullptr},
    {kVendorMicrosemi, 0x4068, 4, "PFX 68XG4", nullptr},  {kVendorMicrosemi, 0x4052, 4, "PFX 52XG4", nullptr},
    {kVendorMicrosemi, 0x4036, 4, "PFX 36XG4", nullptr},  {kVendorMicrosemi, 0x4028, 4, "PFX 28XG4", nullptr},
    {kVendorMicrosemi, 0x4100, 4, "PSX 100XG4", nullptr}, {kVendorMicrosemi, 0x4184, 4, "PSX 84XG4", nullptr},
    {kVendorMicrosemi, 0x4168, 4, "PSX 68XG4", nullptr},  {kVendorMicrosemi, 0x4152, 4, "PSX 52XG4", nullptr},
    {kVendorMicrosemi, 0x4136, 4, "PSX 36XG4", nullptr},  {kVendorMicrosemi, 0x4128, 4, "PSX 28XG4", nullptr},
    {kVendorMicrosemi, 0x4200, 4, "PAX 100XG4", nullptr}, {kVendorMicrosemi, 0x4284, 4, "PAX 84XG4", nullptr},
    {kVendorMicrosemi, 0x4268, 4, "PAX 68XG4", nullptr},  {kVendorMicrosemi, 0x4252, 4, "PAX 52XG4", nullptr},
    {kVendorMicrosemi, 0x4236, 4, "PAX 36XG4", nullptr},  {kVendorMicrosemi, 0x4228, 4, "PAX 28XG4", nullptr},
    {kVendorMicrosemi, 0x4352, 4, "PFXA 52XG4", nullptr}, {kVendorMicrosemi, 0x4336, 4, "PFXA 36XG4", nullptr},
    {kVendorMicrosemi, 0x4328, 4, "PFXA 28XG4", nullptr}, {kVendorMicrosemi, 0x4452, 4, "PSXA 52XG4", nullptr},
    {kVendorMicrosemi, 0x4436, 4, "PSXA 36XG4", nullptr}, {kVendorMicrosemi, 0x4428, 4, "PSXA 28XG4", nullptr},
    {kVendorMicrosemi, 0x4552, 4, "PAXA 52XG4", nullptr}, {kVendorMicrosemi, 0x4536, 4, "PAXA 36XG4", nullptr},
    {kVendorMicrosemi, 0x4528, 4, "PAXA 28XG4", nullptr}, 
    {kVendorMicrosemi, 0x5000, 5, "PFX 100XG5", nullptr},
    {kVendorMicrosemi, 0x5084, 5, "PFX 84XG5", nullptr},
    {kVendorMicrosemi, 0x5068, 5, "PFX 68XG5", nullptr},
    {kVendorMicrosemi, 0x5052, 5, "PFX 52XG5", nullptr},
    {kVendorMicrosemi, 0x5036, 5, "PFX 36XG5", nullptr},
    {kVendorMicrosemi, 0x5028, 5, "PFX 28XG5", nullptr},
    {kVendorMicrosemi, 0x5100, 5, "PSX 100XG5", nullptr},
    {kVendorMicrosemi, 0x5184, 5, "PSX 84XG5", nullptr},
    {kVendorMicrosemi, 0x5168, 5, "PSX 68XG5", nullptr},
    {kVendorMicrosemi, 0x5152, 5, "PSX 52XG5", nullptr},
    {kVendorMicrosemi, 0x5136, 5, "PSX 36XG5", nullptr},
    {kVendorMicrosemi, 0x5128, 5, "PSX 28XG5", nullptr},
    {kVendorMicrosemi, 0x5200, 5, "PAX 100XG5", nullptr},
    {kVendorMicrosemi, 0x5284, 5, "PAX 84XG5", nullptr},
    {kVendorMicrosemi, 0x5268, 5, "PAX 68XG5", nullptr},
    {kVendorMicrosemi, 0x5252, 5, "PAX 52XG5", nullptr},
    {kVendorMicrosemi, 0x5236, 5, "PAX 36XG5", nullptr},
    {kVendorMicrosemi, 0x5228, 5, "PAX 28XG5", nullptr},
    {kVendorMicrosemi, 0x5300, 5, "PFXA 100XG5", nullptr},
    {kVendorMicrosemi, 0x5384, 5, "PFXA 84XG5", nullptr},
    {kVendorMicrosemi, 0x5368, 5, "PFXA 68XG5", nullptr},
    {kVendorMicrosemi, 0x5352, 5, "PFXA 52XG5", nullptr},
    {kVendorMicrosemi, 0x5336, 5, "PFXA 36XG5", nullptr},
    {kVendorMicrosemi, 0x5328, 5, "PFXA 28XG5", nullptr},
    {kVendorMicrosemi, 0x5400, 5, "PSXA 100XG5", nullptr},
    {kVendorMicrosemi, 0x5484, 5, "PSXA 84XG5", nullptr},
    {kVendorMicrosemi, 0x5468, 5, "PSXA 68XG5", nullptr},
    {kVendorMicrosemi, 0x5452, 5, "PSXA 52XG5", nullptr},
    {kVendorMicrosemi, 0x5436, 5, "PSXA 36XG5", nullptr},
    {kVendorMicrosemi, 0x5428, 5, "PSXA 28XG5", nullptr},
    {kVendorMicrosemi, 0x5500, 5, "PAXA 100XG5", nullptr},
    {kVendorMicrosemi, 0x5584, 5, "PAXA 84XG5", nullptr},
    {kVendorMicrosemi, 0x5568, 5, "PAXA 68XG5", nullptr},
    {kVendorMicrosemi, 0x5552, 5, "PAXA 52XG5", nullptr},
    {kVendorMicrosemi, 0x5536, 5, "PAXA 36XG5", nullptr},
    {kVendorMicrosemi, 0x5528, 5, "PAXA 28XG5", nullptr},
    {kVendorMicrochipPci100x, 0x1001, 4, "PCI1001XG4", "6.14"},
    {kVendorMicrochipPci100x, 0x1002, 4, "PCI1002XG4", "6.14"},
    {kVendorMicrochipPci100x, 0x1003, 4, "PCI1003XG4", "6.14"},
    {kVendorMicrochipPci100x, 0x1004, 4, "PCI1004XG4", "6.14"},
    {kVendorMicrochipPci100x, 0x1005, 4, "PCI1005XG4", "6.14"},
    {kVendorMicrochipPci100x, 0x1006, 4, "PCI1006XG4", "6.14"},
};

// (major, minor) of "6.1.0-13-amd64"; {0, 0} if it does not parse.
std::pair<int, int> release_version(std::string_view r) {
  std::string s(r);
  char* end = nullptr;
  const long major = std::strtol(s.c_str(), &end, 10);
  if (end == s.c_str() || *end != '.') return {0, 0};
  const char* minor_at = end + 1;
  const long minor = std::strtol(minor_at, &end, 10);
  if (end == minor_at) return {0, 0};
  return {static_cast<int>(major), static_cast<int>(minor)};
}

}  // namespace

std::optional<PartInfo> lookup(uint16_t vendor, uint16_t device) noexcept {
  for (const PartInfo& p : kParts)
    if (p.vendor == vendor && p.device == device) return p;
  return std::nullopt;
}

std::string describe(uint16_t vendor, uint16_t device) {
  char b[64];
  if (auto p = lookup(vendor, device)) {
    std::snprintf(b, sizeof b, "%s (gen%u)", p->name, static_cast<unsigned>(p->gen));
    return b;
  }
  std::snprintf(b, sizeof b, "unknown Switchtec [%04x:%04x]", vendor, device);
  return b;
}

AliasQuirk check_alias_quirk(uint16_t vendor, uint16_t device, std::string_view kernel_release) {
  AliasQuirk q;
  char b[640];
  const auto part = lookup(vendor, device);
  const int kl = static_cast<int>(kernel_release.size());
  if (!part) {
    q.state = AliasQuirk::State::kUnknown;
    std::snprintf(b, sizeof b,
                  "[%04x:%04x] is not in the device list this postbox knows, so whether kernel %.*s gives its proxy "
                  "requester IDs an IOMMU alias (quirk_switchtec_ntb_dma_alias in drivers/pci/quirks.c) is unknown; "
                  "if writes from peer hosts never arrive and the kernel logs DMAR/AMD-Vi faults, the kernel lacks the "
                  "quirk for this ID: use a kernel that lists it, or boot with iommu=pt",
                  vendor, device, kl, kernel_release.data());
    q.message = b;
    return q;
  }
  if (part->alias_quirk_since == nullptr) {
    q.state = AliasQuirk::State::kUnknown;
    std::snprintf(b, sizeof b,
                  "%s [%04x:%04x]: Linux aliases its proxy requester IDs for the IOMMU (quirk_switchtec_ntb_dma_alias), "
                  "but the release that added this ID is not recorded here: check that the quirks.c of kernel %.*s lists "
                  "0x%04x, else the IOMMU refuses every write from a peer host",
                  part->name, vendor, device, kl, kernel_release.data(), device);
    q.message = b;
    return q;
  }
  const auto have = release_version(kernel_release);
  const auto need = release_version(part->alias_quirk_since);
  if (have.first == 0) {
    q.state = AliasQuirk::State::kUnknown;
    std::snprintf(b, sizeof b, "%s: kernel release '%.*s' does not parse; the IOMMU alias quirk for this part needs "
                  "Linux %s or later", part->name, kl, kernel_release.data(), part->alias_quirk_since);
  } else if (have < need) {
    q.state = AliasQuirk::State::kMissing;
    std::snprintf(b, sizeof b,
                  "%s [%04x:%04x]: kernel %.*s predates Linux %s, whose quirk_switchtec_ntb_dma_alias gives the NT "
                  "endpoint's proxy requester IDs an IOMMU alias; without it the IOMMU refuses every write a peer host "
                  "makes into this host's memory (DMAR 'Present bit in context entry is clear'): upgrade the kernel, or "
                  "boot with iommu=pt",
                  part->name, vendor, device, kl, kernel_release.data(), part->alias_quirk_since);
  } else {
    q.state = AliasQuirk::State::kCovered;
    std::snprintf(b, sizeof b, "%s: kernel %.*s aliases the proxy requester IDs for the IOMMU (since Linux %s)",
                  part->name, kl, kernel_release.data(), part->alias_quirk_since);
  }
  q.message = b;
  return q;
}

}  // namespace pbx::ntb::switchtec
