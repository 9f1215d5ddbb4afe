// libfabric's message and tagged ops tables for the endpoint: each call becomes one
// Endpoint::send or Endpoint::recv with the endpoint's default op_flags or the caller's flags.
#include <rdma/fi_endpoint.h>
#include <rdma/fi_tagged.h>

#include "ep.h"

namespace pbx::fabric {
namespace {

Endpoint* ep_of(fid_ep* f) { return self_of<Endpoint>(f); }

iovec one(const void* buf, size_t len) { return iovec{const_cast<void*>(buf), len}; }

// ---- FI_MSG ----

ssize_t msg_recv(fid_ep* f, void* buf, size_t len, void*, fi_addr_t src, void* ctx) {
  const iovec v = one(buf, len);
  Endpoint* ep = ep_of(f);
  return ep->recv(&v, 1, src, 0, 0, ctx, ep->rx_op_flags(), false);
}
ssize_t msg_recvv(fid_ep* f, const iovec* iov, void**, size_t count, fi_addr_t src, void* ctx) {
  Endpoint* ep = ep_of(f);
  return ep->recv(iov, count, src, 0, 0, ctx, ep->rx_op_flags(), false);
}
ssize_t msg_recvmsg(fid_ep* f, const fi_msg* m, uint64_t flags) {
  return ep_of(f)->recv(m->msg_iov, m->iov_count, m->addr, 0, 0, m->context, flags, false);
}
ssize_t msg_send(fid_ep* f, const void* buf, size_t len, void*, fi_addr_t dest, void* ctx) {
  const iovec v = one(buf, len);
  Endpoint* ep = ep_of(f);
  return ep->send(&v, 1, dest, 0, 0, ctx, ep->tx_op_flags(), false, false);
}
ssize_t msg_sendv(fid_ep* f, const iovec* iov, void**, size_t count, fi_addr_t dest, void* ctx) {
  Endpoint* ep = ep_of(f);
  return ep->send(iov, count, dest, 0, 0, ctx, ep->tx_op_flags(), false, false);
}
ssize_t msg_sendmsg(fid_ep* f, const fi_msg* m, uint64_t flags) {
  return ep_of(f)->send(m->msg_iov, m->iov_count, m->addr, 0, m->data, m->context, flags, false, false);
}
ssize_t msg_inject(fid_ep* f, const void* buf, size_t len, fi_addr_t dest) {
  const iovec v = one(buf, len);
  return ep_of(f)->send(&v, 1, dest, 0, 0, nullptr, FI_INJECT, false, true);
}
ssize_t msg_senddata(fid_ep* f, const void* buf, size_t len, void*, uint64_t data, fi_addr_t dest, void* ctx) {
  const iovec v = one(buf, len);
  Endpoint* ep = ep_of(f);
  return ep->send(&v, 1, dest, 0, data, ctx, ep->tx_op_flags() | FI_REMOTE_CQ_DATA, false, false);
}
ssize_t msg_injectdata(fid_ep* f, const void* buf, size_t len, uint64_t data, fi_addr_t dest) {
  const iovec v = one(buf, len);
  return ep_of(f)->send(&v, 1, dest, 0, data, nullptr, FI_INJECT | FI_REMOTE_CQ_DATA, false, true);
}

// ---- FI_TAGGED ----

ssize_t tag_recv(fid_ep* f, void* buf, size_t len, void*, fi_addr_t src, uint64_t tag, uint64_t ignore, void* ctx) {
  const iovec v = one(buf, len);
  Endpoint* ep = ep_of(f);
  return ep->recv(&v, 1, src, tag, ignore, ctx, ep->rx_op_flags(), true);
}
ssize_t tag_recvv(fid_ep* f, const iovec* iov, void**, size_t count, fi_addr_t src, uint64_t tag, uint64_t ignore,
                  void* ctx) {
  Endpoint* ep = ep_of(f);
  return ep->recv(iov, count, src, tag, ignore, ctx, ep->rx_op_flags(), true);
}
ssize_t tag_recvmsg(fid_ep* f, const fi_msg_tagged* m, uint64_t flags) {
  return ep_of(f)->recv(m->msg_iov, m->iov_count, m->addr, m->tag, m->ignore, m->context, flags, true);
}
ssize_t tag_send(fid_ep* f, const void* buf, size_t len, void*, fi_addr_t dest, uint64_t tag, void* ctx) {
  const iovec v = one(buf, len);
  Endpoint* ep = ep_of(f);
  return ep->send(&v, 1, dest, tag, 0, ctx, ep->tx_op_flags(), true, false);
}
ssize_t tag_sendv(fid_ep* f, const iovec* iov, void**, size_t count, fi_addr_t dest, uint64_t tag, void* ctx) {
  Endpoint* ep = ep_of(f);
  return ep->send(iov, count, dest, tag, 0, ctx, ep->tx_op_flags(), true, false);
}
ssize_t tag_sendmsg(fid_ep* f, const fi_msg_tagged* m, uint64_t flags) {
  return ep_of(f)->send(m->msg_iov, m->iov_count, m->addr, m->tag, m->data, m->context, flags, true, false);
}
ssize_t tag_inject(fid_ep* f, const void* buf, size_t len, fi_addr_t dest, uint64_t tag) {
  const iovec v = one(buf, len);
  return ep_of(f)->send(&v, 1, dest, tag, 0, nullptr, FI_INJECT, true, true);
}
ssize_t tag_senddata(fid_ep* f, const void* buf, size_t len, void*, uint64_t data, fi_addr_t dest, uint64_t tag,
                     void* ctx) {
  const iovec v = one(buf, len);
  Endpoint* ep = ep_of(f);
  return ep->send(&v, 1, dest, tag, data, ctx, ep->tx_op_flags() | FI_REMOTE_CQ_DATA, true, false);
}
ssize_t tag_injectdata(fid_ep* f, const void* buf, size_t len, uint64_t data, fi_addr_t dest, uint64_t tag) {
  const iovec v = one(buf, len);
  return ep_of(f)->send(&v, 1, dest, tag, data, nullptr, FI_INJECT | FI_REMOTE_CQ_DATA, true, true);
}

}  // namespace

fi_ops_msg g_msg_ops = {sizeof(fi_ops_msg), msg_recv,   msg_recvv,   msg_recvmsg,   msg_send,
                        msg_sendv,          msg_sendmsg, msg_inject, msg_senddata, msg_injectdata};

fi_ops_tagged g_tagged_ops = {sizeof(fi_ops_tagged), tag_recv,   tag_recvv,   tag_recvmsg,   tag_send,
                              tag_sendv,             tag_sendmsg, tag_inject, tag_senddata, tag_injectdata};

}  // namespace pbx::fabric
