// libpostbox-fi.so: the provider's entry point, fi_prov_ini(), which libfabric calls when it
// loads the library from FI_PROVIDER_PATH or its provider folder.
#include <rdma/providers/fi_prov.h>

#include "domain.h"
#include "info.h"
#include "provider.h"

#ifndef EXTERNALLY_VISIBLE
#define EXTERNALLY_VISIBLE  // fi_prov.h uses it; libfabric's own build defines it
#endif

namespace pbx::fabric {
namespace {

int getinfo_entry(uint32_t version, const char* node, const char* service, uint64_t flags, const fi_info* hints,
                  fi_info** info) {
  try {
    return getinfo(version, node, service, flags, hints, info);
  } catch (...) {
    return -FI_ENOMEM;
  }
}

int fabric_entry(fi_fabric_attr* attr, fid_fabric** fabric, void* context) {
  return Fabric::open(attr, fabric, context);
}

void cleanup_entry() {}

fi_provider g_provider = {kProviderVersion, kFiVersion, {}, "postbox", getinfo_entry, fabric_entry, cleanup_entry};

}  // namespace

fi_provider& provider() noexcept { return g_provider; }

pbx::Config base_config() noexcept {
  pbx::Config c;
  // Large payloads go with isend(); a few in flight keep a stream of them moving.
  c.max_pending_sends = 64;
  // A CTS of half the pool in one slice: a payload up to 4 MiB goes whole and is borrowed in
  // place by the receiver's view (copied out once, into the posted buffer); above the CTS a
  // view would be assembled in the receiver's own memory first. In slices, a view would hold
  // every slice of its message until released, so the sender could not pipeline the next
  // message into them (1 MiB streaming measured 5x slower with 16 slices). PBX_CTS and
  // PBX_CTS_SLICES still set them (every process of a job must agree).
  c.cts = c.pool_size / 2;
  c.cts_slices = 1;
  try {
    auto env = pbx::Config::from_env(c);
    return env ? *env : c;  // a bad PBX_* value is reported by fi_enable, which joins with it
  } catch (...) {
    return c;
  }
}

}  // namespace pbx::fabric

extern "C" FI_EXT_INI { return &pbx::fabric::g_provider; }
