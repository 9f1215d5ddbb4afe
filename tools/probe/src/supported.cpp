#include "supported.h"

#include <array>
#include <vector>

#include "pbx/ntb/intel/ids.h"

namespace pbx::probe {
namespace {

constexpr std::array<PciId, 8> kAmd{{{0x1022, 0x145b},
                                     {0x1022, 0x148b},
                                     {0x1022, 0x14c0},
                                     {0x1022, 0x14c3},
                                     {0x1022, 0x155a},
                                     {0x1022, 0x17d4},
                                     {0x1022, 0x17d7},
                                     {0x1d94, 0x145b}}};  // Hygon Dhyana

constexpr uint16_t kVendorMicrosemi = 0x11f8;
constexpr uint32_t kClassBridgeOther = 0x0680;

const std::vector<PciId>& bind_ids() {
  static const std::vector<PciId> ids = [] {
    std::vector<PciId> v;
    for (uint16_t d : ntb::intel::supported_device_ids()) v.push_back({ntb::intel::kVendorIntel, d});
    v.push_back(kIvshmem);
    return v;
  }();
  return ids;
}

}  // namespace

std::span<const PciId> vfio_bind_ids() { return bind_ids(); }

std::optional<Classification> classify(uint16_t vendor, uint16_t device, uint8_t revision, uint32_t class_code) {
  if (vendor == ntb::intel::kVendorIntel) {
    bool listed = false;
    for (uint16_t d : ntb::intel::supported_device_ids()) listed |= d == device;
    if (!listed) return std::nullopt;
    auto part = ntb::intel::identify(vendor, device, revision, "");
    if (!part)
      return Classification{Family::kIntelNtb, "intel-gen4", "", "", false,
                            "revision is neither Ice Lake (0x02-0x0f) nor Sapphire Rapids (>0x0f)"};
    return Classification{Family::kIntelNtb, std::string("intel-") + ntb::intel::to_string((*part)->regs),
                          (*part)->code, (*part)->name, true, ""};
  }
  if (PciId{vendor, device} == kIvshmem) return Classification{Family::kIvshmem, "ivshmem", "", "", true, ""};
  for (PciId id : kAmd)
    if (id == PciId{vendor, device}) return Classification{Family::kAmdNtb, "amd-ntb", "", "", false, ""};
  if (vendor == kVendorMicrosemi && (class_code >> 8) == kClassBridgeOther)
    return Classification{Family::kSwitchtecNtb, "switchtec-ntb", "", "", false, ""};
  return std::nullopt;
}

}  // namespace pbx::probe
