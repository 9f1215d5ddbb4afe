// fi_getinfo for the provider: what it offers (one fi_info: FI_EP_RDM with FI_MSG and
// FI_TAGGED), checked against an application's hints the way libfabric's own providers check
// them, and fitted to them (requested caps, op_flags, sizes).
#pragma once

#include <rdma/fabric.h>

#include <string>

#include "identity.h"

namespace pbx::fabric {

// Capabilities: the primary ones an application may ask for, the secondary ones that come
// along, and FI_LOCAL_COMM | FI_REMOTE_COMM (Open MPI's ofi MTL needs both).
inline constexpr uint64_t kPrimaryCaps = FI_MSG | FI_TAGGED | FI_DIRECTED_RECV;
inline constexpr uint64_t kSecondaryCaps = FI_SOURCE | FI_LOCAL_COMM | FI_REMOTE_COMM;
inline constexpr uint64_t kDirectionCaps = FI_SEND | FI_RECV;
inline constexpr uint64_t kCaps = kPrimaryCaps | kSecondaryCaps | kDirectionCaps;
inline constexpr uint64_t kTxOpFlags =
    FI_COMPLETION | FI_INJECT | FI_INJECT_COMPLETE | FI_TRANSMIT_COMPLETE | FI_DELIVERY_COMPLETE;
inline constexpr uint64_t kRxOpFlags = FI_COMPLETION;
inline constexpr uint64_t kMsgOrder = FI_ORDER_SAS;

// The provider's offer for this process (src_addr from `id`); caller frees with fi_freeinfo.
fi_info* provider_info(const Identity& id);

// Checks `hints` against the offer; 0, or -FI_ENODATA with `why` saying which field refused.
int check_hints(const fi_info& offer, const fi_info* hints, uint32_t api_version, std::string& why);

// Fits the offer to accepted hints (caps narrowed to those requested, hint sizes and flags).
void fit_to_hints(fi_info& info, const fi_info* hints, uint32_t api_version);

// The whole of fi_getinfo: node/service/flags (FI_SOURCE), hints, this process's identity.
int getinfo(uint32_t version, const char* node, const char* service, uint64_t flags, const fi_info* hints,
            fi_info** out);

}  // namespace pbx::fabric
