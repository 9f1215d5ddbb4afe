// The C API over the C++ one. Errors become negative codes plus a thread-local message.
#include "pbx/postbox.h"

#include <cstring>
#include <new>
#include <string>

#include "pbx/postbox.hpp"

struct pbx_endpoint {
  pbx::Endpoint ep;
};

namespace {

thread_local std::string t_last_error;

int code_of(pbx::Errc c) {
  using pbx::Errc;
  switch (c) {
    case Errc::kInvalidArgument: return PBX_EINVAL;
    case Errc::kMessageTooLarge: return PBX_ETOOBIG;
    case Errc::kBufferTooSmall: return PBX_ENOSPACE;
    case Errc::kWouldBlock: return PBX_EAGAIN;
    case Errc::kTimedOut: return PBX_ETIMEDOUT;
    case Errc::kPeerNotUp: return PBX_ENOTUP;
    case Errc::kPeerGone: return PBX_EGONE;
    case Errc::kLinkDown: return PBX_ELINKDOWN;
    case Errc::kProtocolError: return PBX_EPROTO;
    case Errc::kConfigMismatch: return PBX_EMISMATCH;
    case Errc::kNoDevice: return PBX_ENODEV;
    case Errc::kPermissionDenied: return PBX_EPERM;
    case Errc::kNoMemory: return PBX_ENOMEM;
    case Errc::kNotSupported: return PBX_ENOTSUP;
    case Errc::kBusy: return PBX_EBUSY;
    case Errc::kIoError: return PBX_EIO;
    case Errc::kCancelled: return PBX_ECANCELED;
    case Errc::kDataCorrupt: return PBX_ECORRUPT;
  }
  return PBX_EIO;
}

int report(const pbx::Error& e) {
  // would_block is the common non-error of polling: keep it free of string work.
  if (e.code() != pbx::Errc::kWouldBlock) t_last_error = e.message();
  return code_of(e.code());
}

int bad_arg(const char* what) {
  t_last_error = what;
  return PBX_EINVAL;
}

pbx::Rank to_rank(pbx_rank r) { return pbx::Rank{r.node, r.local}; }
pbx_rank to_c(pbx::Rank r) { return pbx_rank{r.node, r.local}; }

void fill(pbx_recv_info* info, const pbx::RecvInfo& r) {
  if (info == nullptr) return;
  info->source = to_c(r.source);
  info->tag = r.tag;
  info->size = r.size;
}

}  // namespace

extern "C" {

void pbx_config_init(pbx_config* cfg) {
  if (cfg == nullptr) return;
  const pbx::Config d;
  *cfg = pbx_config{d.postbox_slots, d.pool_size,    d.block_size, d.cts,        d.cts_slices,
                    d.inline_max,    d.max_message, d.ack_batch,  d.timeout_ms, d.max_pending_sends};
}

int pbx_endpoint_from_env(const pbx_config* c, pbx_endpoint** out) {
  if (out == nullptr) return bad_arg("pbx_endpoint_from_env: out is NULL");
  *out = nullptr;
  pbx::Config cfg;
  if (c != nullptr)
    cfg = pbx::Config{c->postbox_slots, c->pool_size,  c->block_size, c->cts,        c->cts_slices,
                      c->inline_max,    c->max_message, c->ack_batch, c->timeout_ms, c->max_pending_sends};
  auto ep = pbx::Endpoint::from_env(cfg);
  if (!ep) return report(ep.error());
  auto* h = new (std::nothrow) pbx_endpoint{std::move(*ep)};
  if (h == nullptr) return bad_arg("pbx_endpoint_from_env: out of memory");
  *out = h;
  return PBX_OK;
}

int pbx_endpoint_destroy(pbx_endpoint* ep) {
  if (ep == nullptr) return PBX_OK;
  auto r = ep->ep.close();
  delete ep;
  return r ? PBX_OK : report(r.error());
}

pbx_rank pbx_self(const pbx_endpoint* ep) { return to_c(ep->ep.self()); }
uint32_t pbx_job_nodes(const pbx_endpoint* ep) { return ep->ep.shape().nodes; }
uint32_t pbx_flat_rank(const pbx_endpoint* ep, pbx_rank r) { return ep->ep.shape().flat(to_rank(r)); }
pbx_rank pbx_rank_of(const pbx_endpoint* ep, uint32_t flat_rank) { return to_c(ep->ep.shape().rank_of(flat_rank)); }
uint32_t pbx_job_procs_per_node(const pbx_endpoint* ep) { return ep->ep.shape().procs_per_node; }

int pbx_send(pbx_endpoint* ep, pbx_rank dst, const void* buf, size_t len, uint32_t tag) {
  if (ep == nullptr || (buf == nullptr && len != 0)) return bad_arg("pbx_send: NULL endpoint or buffer");
  auto r = ep->ep.send(to_rank(dst), {static_cast<const std::byte*>(buf), len}, tag);
  return r ? PBX_OK : report(r.error());
}

int pbx_try_send(pbx_endpoint* ep, pbx_rank dst, const void* buf, size_t len, uint32_t tag) {
  if (ep == nullptr || (buf == nullptr && len != 0)) return bad_arg("pbx_try_send: NULL endpoint or buffer");
  auto r = ep->ep.try_send(to_rank(dst), {static_cast<const std::byte*>(buf), len}, tag);
  return r ? PBX_OK : report(r.error());
}

int pbx_recv(pbx_endpoint* ep, pbx_rank src, void* buf, size_t cap, pbx_recv_info* info) {
  if (ep == nullptr || (buf == nullptr && cap != 0)) return bad_arg("pbx_recv: NULL endpoint or buffer");
  auto r = ep->ep.recv({static_cast<std::byte*>(buf), cap}, to_rank(src));
  if (!r) return report(r.error());
  fill(info, *r);
  return PBX_OK;
}

int pbx_try_recv(pbx_endpoint* ep, pbx_rank src, void* buf, size_t cap, pbx_recv_info* info) {
  if (ep == nullptr || (buf == nullptr && cap != 0)) return bad_arg("pbx_try_recv: NULL endpoint or buffer");
  auto r = ep->ep.try_recv({static_cast<std::byte*>(buf), cap}, to_rank(src));
  if (!r) return report(r.error());
  fill(info, *r);
  return PBX_OK;
}

int pbx_probe(pbx_endpoint* ep, pbx_rank src, pbx_recv_info* info) {
  if (ep == nullptr) return bad_arg("pbx_probe: NULL endpoint");
  auto r = ep->ep.probe(to_rank(src));
  if (!r) return report(r.error());
  fill(info, *r);
  return PBX_OK;
}

int pbx_progress(pbx_endpoint* ep) { return ep == nullptr ? PBX_EINVAL : ep->ep.progress(); }

const char* pbx_last_error(const pbx_endpoint* /*ep*/) { return t_last_error.c_str(); }

const char* pbx_strerror(int code) {
  switch (code) {
    case PBX_OK: return "ok";
    case PBX_EINVAL: return "invalid_argument";
    case PBX_ETOOBIG: return "message_too_large";
    case PBX_ENOSPACE: return "buffer_too_small";
    case PBX_EAGAIN: return "would_block";
    case PBX_ETIMEDOUT: return "timed_out";
    case PBX_ENOTUP: return "peer_not_up";
    case PBX_EGONE: return "peer_gone";
    case PBX_ELINKDOWN: return "link_down";
    case PBX_EPROTO: return "protocol_error";
    case PBX_EMISMATCH: return "config_mismatch";
    case PBX_ENODEV: return "no_device";
    case PBX_EPERM: return "permission_denied";
    case PBX_ENOMEM: return "no_memory";
    case PBX_ENOTSUP: return "not_supported";
    case PBX_EBUSY: return "busy";
    case PBX_EIO: return "io_error";
    case PBX_ECANCELED: return "cancelled";
    default: return "unknown";
  }
}

}  // extern "C"
