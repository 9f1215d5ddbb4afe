// What every object of the provider shares: the fi_provider that libfabric loaded, logging,
// the handles libfabric sees, and the provider's limits.
//
// Object model: libfabric hands the provider `struct fid_*` pointers. Each provider object
// (Fabric, Domain, Endpoint, Av, Cq, Cntr, Eq, Mr) holds a Handle: the libfabric struct as
// first member plus a pointer back to the object, so that an ops-table function turns the
// fid it gets back into the object with self_of<T>(fid). No virtual calls: the ops tables are
// the only indirection.
#pragma once

#include <rdma/fabric.h>
#include <rdma/providers/fi_log.h>
#include <rdma/providers/fi_prov.h>

#include <cstddef>
#include <cstdint>

#include "pbx/config.hpp"

namespace pbx::fabric {

// The provider object libfabric got from fi_prov_ini().
fi_provider& provider() noexcept;

// libfabric's API version the application asked for (fabric->api_version), per fabric.
inline constexpr uint32_t kProviderVersion = FI_VERSION(0, 1);
inline constexpr uint32_t kFiVersion = FI_VERSION(1, 17);

// Limits the provider advertises (fi_info) and enforces.
inline constexpr size_t kIovLimit = 4;
inline constexpr size_t kInjectSize = 4096;            // fi_inject and friends
inline constexpr size_t kStageMax = 4096;              // payloads up to this travel with their header
inline constexpr size_t kTxSize = 256;                 // outstanding sends per endpoint
inline constexpr size_t kRxSize = 1024;                // posted receives per endpoint
inline constexpr size_t kCqDefaultSize = 1024;
inline constexpr size_t kEqDefaultSize = 256;
inline constexpr size_t kMaxErrData = 256;             // bytes of error text per error entry
inline constexpr const char* kFabricName = "postbox";
inline constexpr const char* kDomainName = "postbox";

// The postbox configuration the provider's processes join with: postbox's defaults with the
// provider's choices, overridden by PBX_* variables (pbx::Config::from_env).
pbx::Config base_config() noexcept;

template <class Fid, class T>
struct Handle {
  Fid fid;   // what libfabric sees; first member
  T* self;
};

template <class T, class Fid>
T* self_of(Fid* f) noexcept {
  return reinterpret_cast<Handle<Fid, T>*>(f)->self;
}
// A struct fid* that begins a Fid (fid_cq, fid_ep, ...) of one of our handles.
template <class T, class Fid>
T* self_of_fid(fid* f) noexcept {
  return self_of<T>(reinterpret_cast<Fid*>(f));
}

}  // namespace pbx::fabric

#define PBX_FI_WARN(subsys, ...) FI_WARN(&::pbx::fabric::provider(), subsys, __VA_ARGS__)
#define PBX_FI_INFO(subsys, ...) FI_INFO(&::pbx::fabric::provider(), subsys, __VA_ARGS__)
