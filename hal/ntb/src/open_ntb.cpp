// open_ntb_device(): an NTB's IDs to its backend.
#include <algorithm>

#include "pbx/hal/amd_ntb.h"
#include "pbx/hal/intel_ntb.h"
#include "pbx/hal/ntb_device.h"
#include "pbx/hal/switchtec_ntb.h"
#include "pbx/ntb/amd/ids.h"
#include "pbx/ntb/intel/ids.h"
#include "pbx/ntb/switchtec/ids.h"

namespace pbx::hal {
namespace {

template <class D>
Result<std::unique_ptr<Device>> as_device(Result<std::unique_ptr<D>> r) {
  if (!r) return tl::unexpected(r.error());
  return std::unique_ptr<Device>(std::move(*r));
}

constexpr const char* kSupported =
    "postbox drives Intel Xeon NTBs (8086:201c, 347e, 0db4, 7868), AMD/Hygon NTBs (1022:145b, 148b, 14c0, 14c3, 155a, "
    "17d4, 17d7; 1d94:145b) and Switchtec NT endpoints (vendor 11f8 or 1055, class 068000); `pbx-probe` lists them";

}  // namespace

const char* to_string(NtbKind k) noexcept {
  switch (k) {
    case NtbKind::kAny: return "ntb";
    case NtbKind::kIntel: return "intel";
    case NtbKind::kAmd: return "amd";
    case NtbKind::kSwitchtec: return "switchtec";
  }
  return "?";
}

NtbKind ntb_kind_of(uint16_t vendor, uint16_t device, uint32_t class_code) noexcept {
  if (ntb::switchtec::is_nt_endpoint(vendor, class_code)) return NtbKind::kSwitchtec;
  const auto intel = ntb::intel::supported_device_ids();
  if (vendor == ntb::intel::kVendorIntel && std::find(intel.begin(), intel.end(), device) != intel.end())
    return NtbKind::kIntel;
  for (const auto& p : ntb::amd::parts())
    if (p.vendor == vendor && p.device == device) return NtbKind::kAmd;
  return NtbKind::kAny;
}

Result<std::unique_ptr<Device>> open_ntb_device(const vfio::Bdf& bdf, const NtbOpenOptions& opts) {
  auto dev = vfio::VfioDevice::open(bdf, opts.vfio);
  if (!dev) return tl::unexpected(dev.error());
  auto vendor = dev->config_read<uint16_t>(0x00);
  auto device = dev->config_read<uint16_t>(0x02);
  auto class_rev = dev->config_read<uint32_t>(0x08);
  if (!vendor || !device || !class_rev)
    return tl::unexpected(with_context(!vendor ? vendor.error() : !device ? device.error() : class_rev.error(),
                                       bdf.str() + ": read its PCI IDs"));
  const NtbKind kind = ntb_kind_of(*vendor, *device, *class_rev >> 8);
  if (kind == NtbKind::kAny)
    return fail(Errc::kNotSupported, "%s [%04x:%04x] class %06x is not an NTB postbox drives: %s%s", bdf.str().c_str(),
                *vendor, *device, *class_rev >> 8, kSupported,
                *vendor == 0x1af4 ? " (QEMU's ivshmem is opened with ivshmem:BDF)" : "");
  if (opts.kind != NtbKind::kAny && opts.kind != kind)
    return fail(Errc::kInvalidArgument, "%s [%04x:%04x] is a%s %s NTB, not %s: write ntb:%s (any kind) or %s:%s",
                bdf.str().c_str(), *vendor, *device, kind == NtbKind::kIntel || kind == NtbKind::kAmd ? "n" : "",
                to_string(kind), to_string(opts.kind), bdf.str().c_str(), to_string(kind), bdf.str().c_str());
  switch (kind) {
    case NtbKind::kIntel: {
      IntelNtbOptions o;
      o.window_size = opts.window_size;
      o.vfio = opts.vfio;
      return as_device(IntelNtbDevice::open(std::move(*dev), o));
    }
    case NtbKind::kAmd: {
      AmdNtbOptions o;
      o.window_size = opts.window_size;
      o.vfio = opts.vfio;
      return as_device(AmdNtbDevice::open(std::move(*dev), o));
    }
    case NtbKind::kSwitchtec:
    case NtbKind::kAny: break;
  }
  SwitchtecNtbOptions o;
  o.window_size = opts.window_size;
  o.vfio = opts.vfio;
  return as_device(SwitchtecNtbDevice::open(std::move(*dev), o));
}

}  // namespace pbx::hal
