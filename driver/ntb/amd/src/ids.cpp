#include "pbx/ntb/amd/ids.h"

#include <array>

namespace pbx::ntb::amd {
namespace {

// ntb_hw_amd.c: dev_data[0] {mw_count 3, mw_idx 1}, dev_data[1] {2, 2}, dev_data[2] {2, 2,
// is_endpoint}; window i sits at BAR (mw_idx << i).
constexpr std::array<PartInfo, 8> kParts{{
    {kVendorAmd, 0x145b, 3, {1, 2, 4}, false, "AMD Zeppelin NTB"},
    {kVendorAmd, 0x148b, 2, {2, 4, 0}, false, "AMD NTB (148b)"},
    {kVendorAmd, 0x14c0, 2, {2, 4, 0}, false, "AMD NTB (14c0)"},
    {kVendorAmd, 0x14c3, 2, {2, 4, 0}, false, "AMD NTB (14c3)"},
    {kVendorAmd, 0x155a, 2, {2, 4, 0}, false, "AMD NTB (155a)"},
    {kVendorAmd, 0x17d4, 2, {2, 4, 0}, false, "AMD NTB (17d4)"},
    {kVendorAmd, 0x17d7, 2, {2, 4, 0}, true, "AMD NTB endpoint (17d7)"},
    {kVendorHygon, 0x145b, 3, {1, 2, 4}, false, "Hygon Dhyana NTB"},
}};

}  // namespace

std::span<const PartInfo> parts() noexcept { return kParts; }

Result<const PartInfo*> identify(uint16_t vendor, uint16_t device, std::string_view where) {
  for (const PartInfo& p : kParts)
    if (p.vendor == vendor && p.device == device) return &p;
  return fail(Errc::kNotSupported,
              "%.*s [%04x:%04x] is not a supported AMD NTB: supported are 1022:145b, 148b, 14c0, 14c3, 155a, 17d4, 17d7 "
              "and 1d94:145b (Hygon)",
              static_cast<int>(where.size()), where.data(), vendor, device);
}

}  // namespace pbx::ntb::amd
