#include "pbx/ntb/intel/ids.h"

#include <array>

namespace pbx::ntb::intel {
namespace {

constexpr const char* kGen3SizeKnob = "Imbar1/Imbar2/Embar1/Embar2 size (12-29 = 4 KiB-512 MiB, same on both hosts)";
constexpr const char* kGen4SizeKnob = "Imbar1/Imbar2/Embar1/Embar2 size (12-51, same on both hosts)";

constexpr std::array<PartInfo, 5> kParts{{
    {Part::kSkx, 0x201c, Gen::kGen3, PpdLayout::kGen3Config, "SKX", "Skylake-SP / Cascade Lake", true, false, 0,
     kGen3SizeKnob},
    {Part::kIcx, 0x347e, Gen::kGen4, PpdLayout::kIcxMmio, "ICX", "Ice Lake-SP", true, false, 0xb0d4, kGen4SizeKnob},
    {Part::kSpr, 0x347e, Gen::kGen4, PpdLayout::kSprMmio, "SPR", "Sapphire Rapids", false, true, 0xb0d4,
     kGen4SizeKnob},
    {Part::kGnr, 0x0db4, Gen::kGen4, PpdLayout::kSprMmio, "GNR", "Granite Rapids", false, true, 0xb0d4, kGen4SizeKnob},
    {Part::kDmr, 0x7868, Gen::kGen4, PpdLayout::kSprMmio, "DMR", "Diamond Rapids", false, true, 0xf0d4, kGen4SizeKnob},
}};

constexpr std::array<uint16_t, 4> kDeviceIds{0x201c, 0x347e, 0x0db4, 0x7868};

}  // namespace

std::span<const PartInfo> parts() noexcept { return kParts; }

const PartInfo& part_info(Part p) noexcept {
  for (const auto& i : kParts)
    if (i.part == p) return i;
  return kParts[0];  // unreachable: every Part has an entry
}

std::span<const uint16_t> supported_device_ids() noexcept { return kDeviceIds; }

const char* to_string(Gen g) noexcept { return g == Gen::kGen3 ? "gen3" : "gen4"; }

Result<const PartInfo*> identify(uint16_t vendor, uint16_t device, uint8_t revision, std::string_view where) {
  const int wl = static_cast<int>(where.size());
  if (vendor != kVendorIntel)
    return fail(Errc::kNotSupported, "%.*s [%04x:%04x] is not an Intel NTB (vendor 0x8086): wrong device address?",
                wl, where.data(), vendor, device);
  switch (device) {
    case 0x201c: return &part_info(Part::kSkx);
    case 0x347e:
      if (revision >= kIcxRevisionMin && revision <= kIcxRevisionMax) return &part_info(Part::kIcx);
      if (revision > kIcxRevisionMax) return &part_info(Part::kSpr);
      return fail(Errc::kNotSupported,
                  "%.*s [8086:347e] revision 0x%02x is neither Ice Lake (0x02-0x0f) nor Sapphire Rapids (>0x0f): "
                  "a pre-production part this driver does not know",
                  wl, where.data(), revision);
    case 0x0db4: return &part_info(Part::kGnr);
    case 0x7868: return &part_info(Part::kDmr);
    default: break;
  }
  return fail(Errc::kNotSupported,
              "%.*s [8086:%04x] is not a supported Intel NTB: supported are 201c (Skylake/Cascade Lake), 347e "
              "(Ice Lake, Sapphire Rapids), 0db4 (Granite Rapids), 7868 (Diamond Rapids); older Xeons (gen1) are not",
              wl, where.data(), device);
}

}  // namespace pbx::ntb::intel
