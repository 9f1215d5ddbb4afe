#include "supported.h"

#include <array>
#include <cstdio>
#include <vector>

#include "pbx/ntb/amd/ids.h"
#include "pbx/ntb/intel/ids.h"
#include "pbx/ntb/switchtec/ids.h"

namespace pbx::probe {
namespace {

namespace sw = ntb::switchtec;

constexpr std::array<PciClassMatch, 2> kClasses{{{sw::kVendorMicrosemi, sw::kClassNtEndpoint},
                                                 {sw::kVendorMicrochipPci100x, sw::kClassNtEndpoint}}};

const std::vector<PciId>& bind_ids() {
  static const std::vector<PciId> ids = [] {
    std::vector<PciId> v;
    for (uint16_t d : ntb::intel::supported_device_ids()) v.push_back({ntb::intel::kVendorIntel, d});
    v.push_back(kIvshmem);
    for (const auto& p : ntb::amd::parts()) v.push_back({p.vendor, p.device});
    return v;
  }();
  return ids;
}

}  // namespace

std::span<const PciId> vfio_bind_ids() { return bind_ids(); }
std::span<const PciClassMatch> vfio_bind_classes() { return kClasses; }

std::optional<Classification> classify(uint16_t vendor, uint16_t device, uint8_t revision, uint32_t class_code) {
  if (vendor == ntb::intel::kVendorIntel) {
    bool listed = false;
    for (uint16_t d : ntb::intel::supported_device_ids()) listed |= d == device;
    if (!listed) return std::nullopt;
    auto part = ntb::intel::identify(vendor, device, revision, "");
    if (!part)
      return Classification{Family::kIntelNtb, "intel-gen4", "", "", false, false,
                            "revision is neither Ice Lake (0x02-0x0f) nor Sapphire Rapids (>0x0f)"};
    return Classification{Family::kIntelNtb, std::string("intel-") + ntb::intel::to_string((*part)->regs),
                          (*part)->code, (*part)->name, true, true, ""};
  }
  if (PciId{vendor, device} == kIvshmem) return Classification{Family::kIvshmem, "ivshmem", "", "", true, true, ""};
  if (auto amd = ntb::amd::identify(vendor, device, ""))
    return Classification{Family::kAmdNtb, "amd-ntb", "", (*amd)->name, true, true, ""};
  if (sw::is_nt_endpoint(vendor, class_code)) {
    if (auto p = sw::lookup(vendor, device)) {
      char gen[16];
      std::snprintf(gen, sizeof gen, "gen%u switch", static_cast<unsigned>(p->gen));
      return Classification{Family::kSwitchtecNtb, "switchtec-ntb", p->name, gen, true, true, ""};
    }
    return Classification{Family::kSwitchtecNtb, "switchtec-ntb", "", "", true, true,
                          "device ID not in Linux's Switchtec table (a newer switch): driven as the others"};
  }
  return std::nullopt;
}

}  // namespace pbx::probe
