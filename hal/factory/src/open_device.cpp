// open_device(): a DeviceSpec to a backend.
#include "pbx/hal/postboxd/client.h"
#include "pbx/hal/factory.h"
#include "pbx/hal/ntb_device.h"
#include "pbx/hal/ivshmem.h"
#include "pbx/hal/loopback.h"
#include "pbx/vfio/bdf.h"

namespace pbx::hal {
namespace {

template <class D>
Result<std::unique_ptr<Device>> as_device(Result<std::unique_ptr<D>> r) {
  if (!r) return tl::unexpected(r.error());
  return std::unique_ptr<Device>(std::move(*r));
}

}  // namespace

Result<std::unique_ptr<Device>> open_device(const DeviceSpec& spec, const OpenOptions& opts) {
  switch (spec.kind) {
    case DeviceSpec::Kind::kLoopback:
      return as_device(LoopbackDevice::open(spec.job, NodeIdx(spec.node)));
    case DeviceSpec::Kind::kPostboxd:
      return as_device(PostboxdClientDevice::open(spec.socket));
    case DeviceSpec::Kind::kIvshmem:
    case DeviceSpec::Kind::kNtb:
    case DeviceSpec::Kind::kIntel:
    case DeviceSpec::Kind::kAmd:
    case DeviceSpec::Kind::kSwitchtec: break;
  }
  auto bdf = vfio::Bdf::parse(spec.bdf);  // a spec built by hand may hold anything
  if (!bdf) return tl::unexpected(bdf.error());
  if (spec.kind == DeviceSpec::Kind::kIvshmem) {
    IvshmemOptions o;
    o.node_count = spec.nodes.value_or(2);
    o.window_size = spec.window;
    o.vfio.sys = opts.vfio_sys;
    return as_device(IvshmemDevice::open(*bdf, o));
  }
  NtbOpenOptions o;
  o.kind = spec.kind == DeviceSpec::Kind::kIntel       ? NtbKind::kIntel
           : spec.kind == DeviceSpec::Kind::kAmd       ? NtbKind::kAmd
           : spec.kind == DeviceSpec::Kind::kSwitchtec ? NtbKind::kSwitchtec
                                                       : NtbKind::kAny;
  o.window_size = spec.window;
  o.vfio.sys = opts.vfio_sys;
  return open_ntb_device(*bdf, o);
}

}  // namespace pbx::hal
