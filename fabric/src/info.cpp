#include "info.h"

#include <strings.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "address.h"
#include "provider.h"

namespace pbx::fabric {
namespace {

// Ranks of the threading, progress and resource models, most demanding first (an application
// asking for a lower rank than the provider offers gets nothing), as libfabric's util code ranks them.
int thread_level(fi_threading t) {
  switch (t) {
    case FI_THREAD_SAFE: return 1;
    case FI_THREAD_FID: return 2;
    case FI_THREAD_ENDPOINT: return 3;
    case FI_THREAD_COMPLETION: return 4;
    case FI_THREAD_DOMAIN: return 5;
    case FI_THREAD_UNSPEC: return 6;
  }
  return -1;
}
int progress_level(fi_progress p) {
  switch (p) {
    case FI_PROGRESS_AUTO: return 1;
    case FI_PROGRESS_MANUAL: return 2;
    case FI_PROGRESS_UNSPEC: return 3;
  }
  return -1;
}
int rm_level(fi_resource_mgmt r) {
  switch (r) {
    case FI_RM_ENABLED: return 1;
    case FI_RM_DISABLED: return 2;
    case FI_RM_UNSPEC: return 3;
  }
  return -1;
}

std::string caps_text(uint64_t caps) {
  char buf[512];
  fi_tostr_r(buf, sizeof buf, &caps, FI_TYPE_CAPS);
  return buf;
}

int refuse(std::string& why, std::string text) {
  why = std::move(text);
  return -FI_ENODATA;
}

#define PBX_REFUSE_IF(cond, text) \
  do {                            \
    if (cond) return refuse(why, text); \
  } while (0)

int check_fabric(const fi_fabric_attr& o, const fi_fabric_attr& h, std::string& why) {
  PBX_REFUSE_IF(h.name != nullptr && std::strcmp(h.name, o.name) != 0,
                std::string("fabric name '") + h.name + "' is not " + o.name);
  PBX_REFUSE_IF(h.prov_name != nullptr && strcasecmp(h.prov_name, "postbox") != 0,
                std::string("provider name '") + h.prov_name + "' is not postbox");
  PBX_REFUSE_IF(h.prov_version > o.prov_version, "provider version is newer than this provider");
  return 0;
}

int check_domain(const fi_domain_attr& o, const fi_info& hints, uint32_t api, std::string& why) {
  const fi_domain_attr& h = *hints.domain_attr;
  PBX_REFUSE_IF(h.name != nullptr && std::strcmp(h.name, o.name) != 0,
                std::string("domain name '") + h.name + "' is not " + o.name);
  PBX_REFUSE_IF(thread_level(h.threading) < thread_level(o.threading),
                "threading model: the provider offers FI_THREAD_DOMAIN (one thread at a time per domain)");
  PBX_REFUSE_IF(progress_level(h.control_progress) < progress_level(o.control_progress),
                "control progress: the provider offers FI_PROGRESS_MANUAL");
  PBX_REFUSE_IF(progress_level(h.data_progress) < progress_level(o.data_progress),
                "data progress: the provider offers FI_PROGRESS_MANUAL (progress is made in fi_cq_read and friends)");
  PBX_REFUSE_IF(rm_level(h.resource_mgmt) < rm_level(o.resource_mgmt), "resource management model");
  PBX_REFUSE_IF(h.cq_data_size > o.cq_data_size, "remote CQ data: the provider carries 4 bytes");
  // Memory registration: none is needed. FI_MR_BASIC / FI_MR_SCALABLE (and API < 1.5, which
  // implies them) describe RMA targets, which the provider does not offer.
  if (FI_VERSION_LT(api, FI_VERSION(1, 5)))
    return refuse(why, "memory registration: API versions before 1.5 require FI_MR_BASIC or FI_MR_SCALABLE (RMA)");
  PBX_REFUSE_IF((h.mr_mode & (FI_MR_BASIC | FI_MR_SCALABLE)) != 0,
                "memory registration: FI_MR_BASIC / FI_MR_SCALABLE are RMA modes; the provider has no RMA");
  PBX_REFUSE_IF(h.cntr_cnt > o.cntr_cnt, "counter count");
  PBX_REFUSE_IF(h.mr_iov_limit > o.mr_iov_limit, "mr_iov_limit");
  PBX_REFUSE_IF((h.caps & ~o.caps) != 0, "domain caps: " + caps_text(h.caps & ~o.caps));
  PBX_REFUSE_IF((h.mode & o.mode) != o.mode, "domain mode");
  PBX_REFUSE_IF(h.max_err_data > o.max_err_data, "max_err_data");
  PBX_REFUSE_IF(h.mr_cnt > o.mr_cnt, "mr_cnt");
  return 0;
}

int check_ep(const fi_info& o, const fi_ep_attr& h, std::string& why) {
  PBX_REFUSE_IF(h.protocol != FI_PROTO_UNSPEC && h.protocol != o.ep_attr->protocol, "protocol");
  PBX_REFUSE_IF(h.protocol_version > o.ep_attr->protocol_version, "protocol version");
  PBX_REFUSE_IF(h.max_msg_size > o.ep_attr->max_msg_size, "max_msg_size");
  PBX_REFUSE_IF(h.tx_ctx_cnt > o.domain_attr->max_ep_tx_ctx,
                "tx_ctx_cnt: one transmit context per endpoint (no shared or scalable contexts)");
  PBX_REFUSE_IF(h.rx_ctx_cnt > o.domain_attr->max_ep_rx_ctx,
                "rx_ctx_cnt: one receive context per endpoint (no shared or scalable contexts)");
  PBX_REFUSE_IF(h.auth_key_size != 0, "authorization keys");
  return 0;
}

int check_rx(const fi_rx_attr& o, const fi_rx_attr& h, uint64_t info_mode, std::string& why) {
  const uint64_t ignored = FI_SEND | FI_READ | FI_WRITE;  // transmit-only bits are ignored here
  PBX_REFUSE_IF(((h.caps & ~ignored) & ~o.caps) != 0, "rx caps: " + caps_text((h.caps & ~ignored) & ~o.caps));
  const uint64_t mode = h.mode != 0 ? h.mode : info_mode;
  PBX_REFUSE_IF((mode & o.mode) != o.mode, "rx mode");
  PBX_REFUSE_IF((h.op_flags & ~o.op_flags) != 0, "rx op_flags");
  PBX_REFUSE_IF((h.msg_order & ~o.msg_order) != 0, "rx msg_order: postbox keeps send-after-send order (FI_ORDER_SAS)");
  PBX_REFUSE_IF((h.comp_order & ~o.comp_order) != 0, "rx comp_order");
  PBX_REFUSE_IF(h.total_buffered_recv > o.total_buffered_recv, "total_buffered_recv");
  PBX_REFUSE_IF(h.size > o.size, "rx size");
  PBX_REFUSE_IF(h.iov_limit > o.iov_limit, "rx iov_limit");
  return 0;
}

int check_tx(const fi_tx_attr& o, const fi_tx_attr& h, uint64_t info_mode, std::string& why) {
  const uint64_t ignored = FI_RECV | FI_REMOTE_READ | FI_REMOTE_WRITE | FI_DIRECTED_RECV | FI_SOURCE | FI_MULTI_RECV;
  PBX_REFUSE_IF(((h.caps & ~ignored) & ~o.caps) != 0, "tx caps: " + caps_text((h.caps & ~ignored) & ~o.caps));
  const uint64_t mode = h.mode != 0 ? h.mode : info_mode;
  PBX_REFUSE_IF((mode & o.mode) != o.mode, "tx mode");
  PBX_REFUSE_IF((h.op_flags & ~o.op_flags) != 0, "tx op_flags");
  PBX_REFUSE_IF((h.msg_order & ~o.msg_order) != 0, "tx msg_order: postbox keeps send-after-send order (FI_ORDER_SAS)");
  PBX_REFUSE_IF((h.comp_order & ~o.comp_order) != 0, "tx comp_order");
  PBX_REFUSE_IF(h.inject_size > o.inject_size, "inject_size");
  PBX_REFUSE_IF(h.size > o.size, "tx size");
  PBX_REFUSE_IF(h.iov_limit > o.iov_limit, "tx iov_limit");
  PBX_REFUSE_IF(h.rma_iov_limit > o.rma_iov_limit, "rma_iov_limit: no RMA");
  return 0;
}

#undef PBX_REFUSE_IF

void* dup_address(const Address& a) {
  void* p = std::malloc(sizeof a);
  if (p != nullptr) std::memcpy(p, &a, sizeof a);
  return p;
}

}  // namespace

fi_info* provider_info(const Identity& id) {
  fi_info* fi = fi_allocinfo();
  if (fi == nullptr) return nullptr;
  const pbx::Config cfg = base_config();
  fi->caps = kCaps;
  fi->mode = 0;
  fi->addr_format = FI_FORMAT_UNSPEC;

  fi->tx_attr->caps = FI_MSG | FI_TAGGED | FI_SEND;
  fi->tx_attr->op_flags = kTxOpFlags;
  fi->tx_attr->msg_order = kMsgOrder;
  fi->tx_attr->comp_order = FI_ORDER_NONE;
  fi->tx_attr->inject_size = kInjectSize;
  fi->tx_attr->size = kTxSize;
  fi->tx_attr->iov_limit = kIovLimit;
  fi->tx_attr->rma_iov_limit = 0;

  fi->rx_attr->caps = FI_MSG | FI_TAGGED | FI_RECV | FI_DIRECTED_RECV | FI_SOURCE;
  fi->rx_attr->op_flags = kRxOpFlags;
  fi->rx_attr->msg_order = kMsgOrder;
  fi->rx_attr->comp_order = FI_ORDER_NONE;
  fi->rx_attr->total_buffered_recv = 0;
  fi->rx_attr->size = kRxSize;
  fi->rx_attr->iov_limit = kIovLimit;

  fi->ep_attr->type = FI_EP_RDM;
  fi->ep_attr->protocol = FI_PROTO_UNSPEC;
  fi->ep_attr->protocol_version = 1;
  fi->ep_attr->max_msg_size = cfg.max_message;
  fi->ep_attr->msg_prefix_size = 0;
  fi->ep_attr->mem_tag_format = 0xaaaaaaaaaaaaaaaaull;  // libfabric's generic format: all 64 tag bits
  fi->ep_attr->tx_ctx_cnt = 1;
  fi->ep_attr->rx_ctx_cnt = 1;

  fi_domain_attr& d = *fi->domain_attr;
  d.name = strdup(kDomainName);
  d.threading = FI_THREAD_DOMAIN;
  d.control_progress = FI_PROGRESS_MANUAL;
  d.data_progress = FI_PROGRESS_MANUAL;
  d.resource_mgmt = FI_RM_ENABLED;
  d.av_type = FI_AV_UNSPEC;
  d.mr_mode = 0;
  d.mr_key_size = 8;
  d.cq_data_size = 4;
  d.cq_cnt = 64;
  d.ep_cnt = 1;  // postbox gives a process one rank: one endpoint at a time
  d.tx_ctx_cnt = 1;
  d.rx_ctx_cnt = 1;
  d.max_ep_tx_ctx = 1;
  d.max_ep_rx_ctx = 1;
  d.max_ep_stx_ctx = 0;
  d.max_ep_srx_ctx = 0;
  d.cntr_cnt = 64;
  d.mr_iov_limit = 1;
  d.caps = FI_LOCAL_COMM | FI_REMOTE_COMM;
  d.mode = 0;
  d.max_err_data = kMaxErrData;
  d.mr_cnt = 1 << 16;

  fi->fabric_attr->name = strdup(kFabricName);
  fi->fabric_attr->prov_version = kProviderVersion;

  Address self;
  self.job = id.job;
  self.rank = id.rank;
  fi->src_addr = dup_address(self);
  fi->src_addrlen = sizeof self;
  if (d.name == nullptr || fi->fabric_attr->name == nullptr || fi->src_addr == nullptr) {
    fi_freeinfo(fi);
    return nullptr;
  }
  return fi;
}

int check_hints(const fi_info& o, const fi_info* hints, uint32_t api, std::string& why) {
  if (hints == nullptr) return 0;
  if (hints->ep_attr != nullptr && hints->ep_attr->type != FI_EP_UNSPEC && hints->ep_attr->type != FI_EP_RDM)
    return refuse(why, "endpoint type: the provider offers FI_EP_RDM only");
  if ((hints->caps & ~o.caps) != 0)
    return refuse(why, "caps not offered: " + caps_text(hints->caps & ~o.caps) +
                           " (no RMA, atomics, multi-receive, triggered or collective operations yet)");
  if ((hints->mode & o.mode) != o.mode) return refuse(why, "mode");
  if (hints->addr_format != FI_FORMAT_UNSPEC)
    return refuse(why, "address format: postbox addresses are provider-defined (FI_FORMAT_UNSPEC)");
  if (hints->fabric_attr != nullptr)
    if (int r = check_fabric(*o.fabric_attr, *hints->fabric_attr, why)) return r;
  if (hints->domain_attr != nullptr)
    if (int r = check_domain(*o.domain_attr, *hints, api, why)) return r;
  if (hints->ep_attr != nullptr)
    if (int r = check_ep(o, *hints->ep_attr, why)) return r;
  if (hints->rx_attr != nullptr)
    if (int r = check_rx(*o.rx_attr, *hints->rx_attr, hints->mode, why)) return r;
  if (hints->tx_attr != nullptr)
    if (int r = check_tx(*o.tx_attr, *hints->tx_attr, hints->mode, why)) return r;
  return 0;
}

namespace {

// Requested primary caps plus the secondary ones; both directions unless one was asked for.
uint64_t fitted_caps(uint64_t offered, uint64_t requested) {
  uint64_t caps = requested == 0 ? offered : ((requested & (kPrimaryCaps | kDirectionCaps)) | kSecondaryCaps);
  if ((caps & (FI_MSG | FI_TAGGED)) != 0 && (caps & kDirectionCaps) == 0) caps |= kDirectionCaps;
  return caps & offered;
}

}  // namespace

void fit_to_hints(fi_info& fi, const fi_info* hints, uint32_t /*api*/) {
  if (hints == nullptr) return;
  fi.caps = fitted_caps(fi.caps, hints->caps);
  fi.handle = hints->handle;
  fi.tx_attr->caps = fi.caps & (FI_MSG | FI_TAGGED | FI_SEND);
  fi.rx_attr->caps = fi.caps & (FI_MSG | FI_TAGGED | FI_RECV | FI_DIRECTED_RECV | FI_SOURCE);
  if (const fi_domain_attr* h = hints->domain_attr) {
    if (h->threading != FI_THREAD_UNSPEC) fi.domain_attr->threading = h->threading;
    if (h->control_progress != FI_PROGRESS_UNSPEC) fi.domain_attr->control_progress = h->control_progress;
    if (h->data_progress != FI_PROGRESS_UNSPEC) fi.domain_attr->data_progress = h->data_progress;
    if (h->resource_mgmt != FI_RM_UNSPEC) fi.domain_attr->resource_mgmt = h->resource_mgmt;
    if (h->av_type != FI_AV_UNSPEC) fi.domain_attr->av_type = h->av_type;
  }
  if (const fi_tx_attr* h = hints->tx_attr) {
    fi.tx_attr->op_flags = h->op_flags;
    if (h->inject_size != 0) fi.tx_attr->inject_size = h->inject_size;
    if (h->size != 0) fi.tx_attr->size = h->size;
    if (h->iov_limit != 0) fi.tx_attr->iov_limit = h->iov_limit;
  }
  if (const fi_rx_attr* h = hints->rx_attr) {
    fi.rx_attr->op_flags = h->op_flags;
    if (h->size != 0) fi.rx_attr->size = h->size;
    if (h->iov_limit != 0) fi.rx_attr->iov_limit = h->iov_limit;
  }
}

int getinfo(uint32_t version, const char* node, const char* service, uint64_t flags, const fi_info* hints,
            fi_info** out) {
  (void)service;  // postbox addresses have no service (port): a rank names a process
  *out = nullptr;
  const Identity id = identity_from_env();
  const bool asked_for_us = hints != nullptr && hints->fabric_attr != nullptr && hints->fabric_attr->prov_name != nullptr;
  if (!id.in_job) {
    if (asked_for_us) PBX_FI_WARN(FI_LOG_CORE, "postbox: %s\n", id.why_not.c_str());
    else PBX_FI_INFO(FI_LOG_CORE, "postbox: %s\n", id.why_not.c_str());
    return -FI_ENODATA;
  }
  fi_info* fi = provider_info(id);
  if (fi == nullptr) return -FI_ENOMEM;
  std::string why;
  if (check_hints(*fi, hints, version, why) != 0) {
    PBX_FI_INFO(FI_LOG_CORE, "postbox: hints refused: %s\n", why.c_str());
    fi_freeinfo(fi);
    return -FI_ENODATA;
  }
  // Addresses: a node names a postbox rank ("postbox://<job>/<rank>" or a bare rank).
  std::optional<Address> dest;
  if (node != nullptr) {
    auto a = parse_node(node, id.job);
    if (!a) {
      PBX_FI_INFO(FI_LOG_CORE,
                  "postbox: node '%s' is not a postbox address (use a rank, or postbox://<job>/<rank> as "
                  "fi_av_straddr prints it)\n",
                  node);
      fi_freeinfo(fi);
      return -FI_ENODATA;
    }
    if ((flags & FI_SOURCE) != 0) {
      if (a->job != id.job || (id.rank != Address::kUnknownRank && a->rank != id.rank)) {
        PBX_FI_INFO(FI_LOG_CORE, "postbox: source node '%s' is not this process (%s)\n", node,
                    to_string(Address{Address::kMagic, Address::kVersion, 0, id.job, id.rank}).c_str());
        fi_freeinfo(fi);
        return -FI_ENODATA;
      }
    } else {
      dest = a;
    }
  }
  if (hints != nullptr && hints->dest_addr != nullptr) {
    dest = decode_address(hints->dest_addr, hints->dest_addrlen);
    if (!dest) {
      PBX_FI_INFO(FI_LOG_CORE, "postbox: hints->dest_addr is not a postbox address\n");
      fi_freeinfo(fi);
      return -FI_ENODATA;
    }
  }
  if (hints != nullptr && hints->src_addr != nullptr) {
    auto src = decode_address(hints->src_addr, hints->src_addrlen);
    if (!src || src->job != id.job || (id.rank != Address::kUnknownRank && src->rank != id.rank)) {
      PBX_FI_INFO(FI_LOG_CORE, "postbox: hints->src_addr is not this process's address\n");
      fi_freeinfo(fi);
      return -FI_ENODATA;
    }
  }
  if (dest) {
    fi->dest_addr = dup_address(*dest);
    if (fi->dest_addr == nullptr) {
      fi_freeinfo(fi);
      return -FI_ENOMEM;
    }
    fi->dest_addrlen = sizeof(Address);
  }
  fit_to_hints(*fi, hints, version);
  *out = fi;
  return 0;
}

}  // namespace pbx::fabric
