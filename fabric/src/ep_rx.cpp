// The endpoint's receiving side: posted and unexpected queues, tag matching, delivery into the
// application's buffers, FI_PEEK / FI_CLAIM, fi_cancel, and progress.
#include <time.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "av.h"
#include "cntr.h"
#include "cq.h"
#include "ep.h"
#include "errors.h"

namespace pbx::fabric {
namespace {

bool tag_matches(uint64_t want, uint64_t ignore, uint64_t got) noexcept { return ((want ^ got) & ~ignore) == 0; }

// Copies len bytes into the receive's buffers; returns how many fit.
size_t scatter(const RxReq& r, const std::byte* data, size_t len) noexcept {
  if (r.iov_count == 1) [[likely]] {
    const size_t n = std::min(len, r.iov[0].iov_len);
    if (n != 0) std::memcpy(r.iov[0].iov_base, data, n);
    return n;
  }
  size_t done = 0;
  for (size_t i = 0; i < r.iov_count && done < len; ++i) {
    const size_t n = std::min(len - done, r.iov[i].iov_len);
    if (n != 0) std::memcpy(r.iov[i].iov_base, data + done, n);
    done += n;
  }
  return done;
}

uint64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

constexpr uint32_t kPollBudget = 64;                     // messages taken per progress call
constexpr uint64_t kPeerCheckNs = 100'000'000;           // looks for departed peers this often when idle

}  // namespace

// ---- progress ------------------------------------------------------------------------------

void Endpoint::progress() noexcept {
  if (!ensure_joined()) return;
  if (!acks_.empty()) drain_acks();
  if (!tx_queue_.empty()) drain_tx();
  if (!in_flight_.empty()) poll_in_flight();
  poll_rx();
}

// Takes arriving messages until one completes a receive (the application is waiting for it:
// returning at once keeps another, empty, poll off the latency path), none is left, or the
// budget is spent. When idle, it looks for losses and departed peers now and then.
void Endpoint::poll_rx() noexcept {
  uint32_t taken = 0;
  const uint64_t completed_before = rx_completions_;
  for (; taken < kPollBudget && rx_completions_ == completed_before; ++taken) {
    if (pending_payloads_ == 0) {
      const std::span<std::byte> stage(rx_stage_.get(), wire::kMaxHeader + kStageMax);
      auto r = pbx_->try_recv(stage, kAnySource);
      if (r) {
        Arrived m{flat_rank(r->source), r->tag, stage.data(), r->size, nullptr};
        on_message(m);
        continue;
      }
      if (r.error().code() == Errc::kWouldBlock) break;
      if (r.error().code() != Errc::kBufferTooSmall) {
        report_rx_error(r.error());
        continue;
      }
      // Larger than any message of this provider (a foreign one): taken as a view below.
    }
    auto v = pbx_->try_recv_view(kAnySource);
    if (!v) {
      if (v.error().code() == Errc::kWouldBlock) break;
      report_rx_error(v.error());
      continue;
    }
    Arrived m{flat_rank(v->source()), v->tag(), v->data().data(), v->size(), &*v};
    on_message(m);
  }
  if (taken == 0 && (++idle_polls_ & 63) == 0) {
    report_lost();
    const uint64_t now = now_ns();
    if (now >= next_peer_check_ns_) {
      next_peer_check_ns_ = now + kPeerCheckNs;
      check_peers();
    }
  }
}

// A message was refused (malformed, failed its checksum) or a channel closed: say so.
void Endpoint::report_rx_error(const pbx::Error& e) noexcept {
  std::string msg;
  try {
    msg = "postbox: receive: " + e.message();
  } catch (...) {
  }
  PBX_FI_WARN(FI_LOG_EP_DATA, "%s\n", msg.c_str());
  if (rx_cq_ != nullptr)
    rx_cq_->push_error(Completion{nullptr, FI_RECV, 0, nullptr, 0, 0, FI_ADDR_NOTAVAIL}, fi_errno_of(e.code()),
                       static_cast<int>(e.code()), 0, std::move(msg));
  if (recv_cntr_ != nullptr) recv_cntr_->inc_err();
}

// Receives posted for one source, and sends waiting for a receiver's acknowledgement, fail
// once that peer has left the job (nothing can come from it any more).
void Endpoint::check_peers() noexcept {
  auto gone = [&](uint32_t rank) {
    auto p = pbx_->probe(ranks_[rank]);
    return !p && p.error().code() == Errc::kPeerGone;
  };
  for (List<RxReq>* l : {&posted_msg_, &posted_tagged_})
    for (RxReq* r = l->front(); r != nullptr;) {
      RxReq* next = r->next;
      if (r->src != kAnyRank && gone(r->src)) {
        l->remove(r);
        fail_rx(r, FI_EHOSTUNREACH, static_cast<int>(Errc::kPeerGone),
                "postbox: receive from rank " + std::to_string(r->src) +
                    ": that process has left the job; every message it sent was received before");
      }
      r = next;
    }
  for (TxReq* t = await_ack_.front(); t != nullptr;) {
    TxReq* next = t->next;
    if (gone(t->dst)) {
      await_ack_.remove(t);
      fail_tx(t, pbx::Error(Errc::kPeerGone, "rank " + std::to_string(t->dst) +
                                                 " left the job before it acknowledged the delivery of the message"));
    }
    t = next;
  }
}

// ---- arriving messages ---------------------------------------------------------------------

void Endpoint::on_message(Arrived& m) noexcept {
  const uint32_t src = m.src;
  if (pending_[src].active) {
    on_payload(m);
    return;
  }
  wire::Header h;
  size_t hdr_len = 0;
  if (!wire::decode(m.ptag, std::span<const std::byte>(m.data, m.size), h, hdr_len)) {
    if ((foreign_messages_++ & 1023) == 0)
      PBX_FI_WARN(FI_LOG_EP_DATA,
                  "postbox: a message from rank %u (postbox tag 0x%x, %zu bytes) is not the libfabric provider's: "
                  "dropped (is a pbx::Endpoint program sending to this process?)\n",
                  src, m.ptag, m.size);
    return;
  }
  switch (h.op) {
    case wire::Op::kAck: on_ack(h.ack_id); return;
    case wire::Op::kPayload:
      PBX_FI_WARN(FI_LOG_EP_DATA, "postbox: a payload from rank %u without its header: dropped\n", src);
      return;
    default: break;
  }
  const bool tagged = h.op == wire::Op::kTagged;
  if (RxReq* r = match_posted(tagged, src, h.tag)) {
    if (h.large) {
      pending_[src] = Pending{true, h, r, nullptr};
      ++pending_payloads_;
      return;
    }
    deliver(r, h, src, m.data + hdr_len, m.size - hdr_len);
    return;
  }
  Unexpected* u = ux_pool_.get();
  if (u == nullptr) {
    PBX_FI_WARN(FI_LOG_EP_DATA, "postbox: out of memory for an unexpected message from rank %u: dropped\n", src);
    return;
  }
  u->src = src;
  u->h = h;
  u->bound = nullptr;
  u->claim = nullptr;
  u->discard = false;
  if (h.large) {
    u->len = h.total_len;
    u->ready = false;
    pending_[src] = Pending{true, h, nullptr, u};
    ++pending_payloads_;
  } else {
    store_unexpected(u, m, hdr_len);
  }
  (tagged ? unexpected_tagged_ : unexpected_msg_).push_back(u);
}

// The payload of the large message announced by the source's previous message.
void Endpoint::on_payload(Arrived& m) noexcept {
  const uint32_t src = m.src;
  Pending p = pending_[src];
  pending_[src] = Pending{};
  --pending_payloads_;
  if (m.ptag != wire::kPayloadTag || m.size != p.h.total_len) {
    // The sender gave up between header and payload (its isend failed): the message is cut.
    std::string msg;
    try {
      msg = "postbox: the payload of a " + std::to_string(p.h.total_len) + "-byte message from rank " +
            std::to_string(src) + " never came (the sender's send failed)";
    } catch (...) {
    }
    if (p.rx != nullptr) fail_rx(p.rx, FI_EIO, static_cast<int>(Errc::kCancelled), msg);
    if (Unexpected* u = p.ux) {
      if (u->bound != nullptr) fail_rx(u->bound, FI_EIO, static_cast<int>(Errc::kCancelled), msg);
      else if (u->claim != nullptr) claimed_.remove(u);
      else if (!u->discard) (p.h.op == wire::Op::kTagged ? unexpected_tagged_ : unexpected_msg_).remove(u);
      free_unexpected(u);
    }
    on_message(m);  // what came instead is a message of its own
    return;
  }
  if (p.rx != nullptr) {
    deliver(p.rx, p.h, src, m.data, m.size);
    return;
  }
  Unexpected* u = p.ux;
  store_unexpected(u, m, 0);
  if (u->discard) {
    free_unexpected(u);
  } else if (u->bound != nullptr) {  // matched while the payload was on its way
    deliver(u->bound, u->h, src, u->data, u->len);
    free_unexpected(u);
  }
}

void Endpoint::store_unexpected(Unexpected* u, Arrived& m, size_t offset) noexcept {
  const size_t len = m.size - offset;
  u->len = len;
  u->ready = true;
  if (len <= sizeof u->small) {
    std::memcpy(u->small, m.data + offset, len);
    u->data = u->small;
    return;
  }
  if (m.view != nullptr && held_views_ < kMaxHeldViews) {  // borrow it in place: no copy
    u->view = std::move(*m.view);
    u->data = u->view.data().data() + offset;
    ++held_views_;
    return;
  }
  // Copied (too many held already: the senders' pools must not be held up by us).
  if (u->heap_cap < len) {
    u->heap.reset(new (std::nothrow) std::byte[len]);
    u->heap_cap = u->heap ? len : 0;
  }
  if (!u->heap) {
    if (m.view != nullptr) {
      PBX_FI_WARN(FI_LOG_EP_DATA, "postbox: out of memory for a %zu-byte unexpected message: held in place\n", len);
      u->view = std::move(*m.view);
      u->data = u->view.data().data() + offset;
      ++held_views_;
    } else {
      PBX_FI_WARN(FI_LOG_EP_DATA, "postbox: out of memory for a %zu-byte unexpected message: dropped\n", len);
      u->len = 0;
      u->data = u->small;
    }
    return;
  }
  std::memcpy(u->heap.get(), m.data + offset, len);
  u->data = u->heap.get();
}

void Endpoint::free_unexpected(Unexpected* u) noexcept {
  if (u->view.valid()) {
    pbx_->release(u->view);
    --held_views_;
  }
  if (u->heap_cap > (64u << 10)) {  // keep small copies' buffers for reuse, not large ones
    u->heap.reset();
    u->heap_cap = 0;
  }
  u->data = nullptr;
  u->bound = nullptr;
  u->claim = nullptr;
  u->discard = false;
  ux_pool_.put(u);
}

RxReq* Endpoint::match_posted(bool tagged, uint32_t src, uint64_t tag) noexcept {
  List<RxReq>& l = tagged ? posted_tagged_ : posted_msg_;
  RxReq* r = l.find([&](const RxReq& x) {
    return (x.src == kAnyRank || x.src == src) && (!tagged || tag_matches(x.tag, x.ignore, tag));
  });
  if (r != nullptr) l.remove(r);
  return r;
}

Unexpected* Endpoint::match_unexpected(bool tagged, uint32_t src, uint64_t tag, uint64_t ignore) noexcept {
  List<Unexpected>& l = tagged ? unexpected_tagged_ : unexpected_msg_;
  return l.find([&](const Unexpected& u) {
    return (src == kAnyRank || u.src == src) && (!tagged || tag_matches(tag, ignore, u.h.tag));
  });
}

// ---- completing receives ---------------------------------------------------------------------

Completion Endpoint::recv_completion(const RxReq& r, const wire::Header& h, uint32_t src, size_t len) const noexcept {
  Completion c;
  c.op_context = r.context;
  c.flags = FI_RECV | (r.tagged ? FI_TAGGED : FI_MSG) | (h.has_data ? FI_REMOTE_CQ_DATA : 0);
  c.len = len;
  c.buf = r.iov_count != 0 ? r.iov[0].iov_base : nullptr;
  c.data = h.has_data ? h.data : 0;
  c.tag = h.op == wire::Op::kTagged ? h.tag : 0;
  c.src = av_->addr_of(src);
  return c;
}

void Endpoint::deliver(RxReq* r, const wire::Header& h, uint32_t src, const std::byte* data, size_t len) noexcept {
  const size_t got = scatter(*r, data, len);
  if (got < len) {
    // FI_ETRUNC as libfabric's providers report it: len = what was placed, olen = what was not.
    if (rx_cq_ != nullptr) {
      std::string msg;
      try {
        msg = "postbox: a " + std::to_string(len) + "-byte message from rank " + std::to_string(src) +
              " did not fit the " + std::to_string(r->capacity) + "-byte receive buffer; " + std::to_string(len - got) +
              " bytes were dropped (post a larger buffer)";
      } catch (...) {
      }
      rx_cq_->push_error(recv_completion(*r, h, src, got), FI_ETRUNC, kProvTruncated, len - got, std::move(msg));
    }
    if (recv_cntr_ != nullptr) recv_cntr_->inc_err();
  } else {
    if (rx_cq_ != nullptr && r->completion) rx_cq_->push(recv_completion(*r, h, src, got));
    if (recv_cntr_ != nullptr) recv_cntr_->inc();
  }
  if (h.want_ack) queue_ack(src, h.ack_id);
  rx_pool_.put(r);
  ++rx_completions_;
}

void Endpoint::fail_rx(RxReq* r, int err, int prov_errno, const std::string& message) noexcept {
  if (rx_cq_ != nullptr) {
    Completion c;
    c.op_context = r->context;
    c.flags = FI_RECV | (r->tagged ? FI_TAGGED : FI_MSG);
    c.buf = r->iov_count != 0 ? r->iov[0].iov_base : nullptr;
    c.tag = r->tag;
    std::string msg;
    try {
      msg = message;
    } catch (...) {
    }
    rx_cq_->push_error(c, err, prov_errno, 0, std::move(msg));
  }
  if (recv_cntr_ != nullptr) recv_cntr_->inc_err();
  rx_pool_.put(r);
  ++rx_completions_;
}

// A receive that found its message in the unexpected queue.
void Endpoint::take_unexpected(RxReq* r, Unexpected* u) noexcept {
  if (!u->ready) {  // a large message whose payload is still on its way
    u->bound = r;
    return;
  }
  deliver(r, u->h, u->src, u->data, u->len);
  free_unexpected(u);
}

// ---- posting receives ------------------------------------------------------------------------

ssize_t Endpoint::recv(const iovec* iov, size_t count, fi_addr_t src_addr, uint64_t tag, uint64_t ignore,
                       void* context, uint64_t flags, bool tagged) noexcept {
  if (!enabled_) return -FI_EOPBADSTATE;
  if (count > kIovLimit || (count != 0 && iov == nullptr)) return -FI_EINVAL;
  uint32_t src = kAnyRank;
  if (directed_ && src_addr != FI_ADDR_UNSPEC) {
    src = av_->rank_of(src_addr);
    if (src == Av::kNoRank) {
      PBX_FI_WARN(FI_LOG_EP_DATA, "postbox: receive from fi_addr %llu, which is not in the address vector\n",
                  static_cast<unsigned long long>(src_addr));
      return -FI_EINVAL;
    }
  }
  if ((flags & (FI_PEEK | FI_CLAIM | FI_DISCARD)) != 0) [[unlikely]] {
    if (tagged && (flags & FI_PEEK) != 0) {
      RxReq want;
      want.src = src;
      want.tag = tag;
      want.ignore = ignore;
      want.context = context;
      return peek(want, flags);
    }
    if (!tagged || (flags & FI_CLAIM) == 0) return -FI_EINVAL;  // FI_DISCARD alone, or on FI_MSG
  }
  RxReq* r = rx_pool_.get();
  if (r == nullptr) [[unlikely]] {
    progress();
    return -FI_EAGAIN;
  }
  r->tagged = tagged;
  r->src = src;
  r->tag = tag;
  r->ignore = ignore;
  r->context = context;
  r->completion = !rx_selective_ || (flags & FI_COMPLETION) != 0;
  r->iov_count = count;
  if (count == 1) {
    r->iov[0] = iov[0];
    r->capacity = iov[0].iov_len;
  } else {
    r->capacity = 0;
    for (size_t i = 0; i < count; ++i) {
      r->iov[i] = iov[i];
      r->capacity += iov[i].iov_len;
    }
  }
  if ((flags & FI_CLAIM) != 0) [[unlikely]] return claim(r, flags);
  List<Unexpected>& waiting = tagged ? unexpected_tagged_ : unexpected_msg_;
  if (!waiting.empty()) {
    if (Unexpected* u = match_unexpected(tagged, src, tag, ignore)) {
      waiting.remove(u);
      take_unexpected(r, u);
      return 0;
    }
  }
  (tagged ? posted_tagged_ : posted_msg_).push_back(r);
  return 0;
}

// FI_PEEK: reports the first matching unexpected message (a completion without data), or an
// FI_ENOMSG error entry; FI_CLAIM reserves it for a later FI_CLAIM receive with the same
// context; FI_DISCARD drops it.
ssize_t Endpoint::peek(const RxReq& want, uint64_t flags) noexcept {
  progress();
  Unexpected* u = match_unexpected(true, want.src, want.tag, want.ignore);
  if (u == nullptr) {
    if (rx_cq_ != nullptr) {
      Completion c;
      c.op_context = want.context;
      c.flags = FI_RECV | FI_TAGGED;
      c.tag = want.tag;
      rx_cq_->push_error(c, FI_ENOMSG, kProvNoMatch, 0, "postbox: FI_PEEK: no message matches yet");
    }
    return 0;
  }
  if (rx_cq_ != nullptr) {
    Completion c;
    c.op_context = want.context;
    c.flags = FI_RECV | FI_TAGGED | (u->h.has_data ? FI_REMOTE_CQ_DATA : 0);
    c.len = u->len;
    c.data = u->h.has_data ? u->h.data : 0;
    c.tag = u->h.tag;
    c.src = av_->addr_of(u->src);
    rx_cq_->push(c);
  }
  if ((flags & FI_DISCARD) != 0) {
    unexpected_tagged_.remove(u);
    if (u->h.want_ack) queue_ack(u->src, u->h.ack_id);  // discarded is processed: the sender completes
    if (u->ready) free_unexpected(u);
    else u->discard = true;  // its payload is on its way: dropped when it arrives
    return 0;
  }
  if ((flags & FI_CLAIM) != 0) {
    unexpected_tagged_.remove(u);
    u->claim = want.context;
    claimed_.push_back(u);
  }
  return 0;
}

// FI_CLAIM without FI_PEEK: receives (or with FI_DISCARD drops) the message an earlier
// FI_PEEK | FI_CLAIM reserved for this context.
ssize_t Endpoint::claim(RxReq* r, uint64_t flags) noexcept {
  Unexpected* u = claimed_.find([&](const Unexpected& x) { return x.claim == r->context; });
  if (u == nullptr) {
    rx_pool_.put(r);
    PBX_FI_WARN(FI_LOG_EP_DATA, "postbox: FI_CLAIM: no message was claimed with this context (FI_PEEK | FI_CLAIM first)\n");
    return -FI_EINVAL;
  }
  claimed_.remove(u);
  if ((flags & FI_DISCARD) != 0) {
    if (rx_cq_ != nullptr && r->completion) rx_cq_->push(recv_completion(*r, u->h, u->src, 0));
    if (u->h.want_ack) queue_ack(u->src, u->h.ack_id);
    rx_pool_.put(r);
    if (u->ready) free_unexpected(u);
    else u->discard = true;
    return 0;
  }
  take_unexpected(r, u);
  return 0;
}

ssize_t Endpoint::cancel(void* context) noexcept {
  if (!enabled_) return -FI_ENOENT;
  for (List<RxReq>* l : {&posted_msg_, &posted_tagged_}) {
    RxReq* r = l->find([&](const RxReq& x) { return x.context == context; });
    if (r == nullptr) continue;
    l->remove(r);
    fail_rx(r, FI_ECANCELED, kProvCancelled, "postbox: the receive was cancelled (fi_cancel)");
    return 0;
  }
  return -FI_ENOENT;
}

}  // namespace pbx::fabric
