// The endpoint's sending side: staging, the FIFO of sends that would block, large payloads in
// flight, delivery acknowledgements, and losses postbox reports after a send completed.
#include <cstring>
#include <string>

#include "av.h"
#include "cntr.h"
#include "cq.h"
#include "ep.h"
#include "errors.h"

namespace pbx::fabric {
namespace {

size_t iov_total(const iovec* iov, size_t count) noexcept {
  size_t n = 0;
  for (size_t i = 0; i < count; ++i) n += iov[i].iov_len;
  return n;
}

void gather(std::byte* out, const iovec* iov, size_t count) noexcept {
  if (count == 1) [[likely]] {
    if (iov[0].iov_len != 0) std::memcpy(out, iov[0].iov_base, iov[0].iov_len);
    return;
  }
  for (size_t i = 0; i < count; ++i) {
    if (iov[i].iov_len != 0) std::memcpy(out, iov[i].iov_base, iov[i].iov_len);
    out += iov[i].iov_len;
  }
}

uint32_t ack_id_of(const TxReq& t) noexcept { return (uint32_t{t.generation} << 16) | t.pool_index; }

}  // namespace

TxReq* Endpoint::take_tx() noexcept {
  TxReq* t = tx_pool_.get();
  if (t == nullptr) return nullptr;
  ++t->generation;
  t->state = TxReq::State::kQueued;
  t->large = t->want_ack = t->internal = false;
  t->payload = nullptr;
  t->payload_len = 0;
  return t;
}

void Endpoint::free_tx(TxReq* t) noexcept {
  t->state = TxReq::State::kFree;
  t->gathered.reset();
  tx_pool_.put(t);
}

// Writes header + payload (small) or the header alone (large) into `out`; returns the length.
size_t Endpoint::stage(std::byte* out, const wire::Header& h, uint32_t& ptag, const iovec* iov, size_t count,
                       size_t len) noexcept {
  ptag = wire::encode(h, out);
  const size_t hl = wire::header_size(h);
  if (h.large) return hl;
  gather(out + hl, iov, count);
  return hl + len;
}

void Endpoint::send_completed(void* context, uint64_t cq_flags, bool completion) noexcept {
  if (completion && tx_cq_ != nullptr) tx_cq_->push(Completion{context, cq_flags, 0, nullptr, 0, 0, FI_ADDR_NOTAVAIL});
  if (send_cntr_ != nullptr) send_cntr_->inc();
}

void Endpoint::send_failed(void* context, uint64_t cq_flags, const pbx::Error& e, const char* what) noexcept {
  std::string msg;
  try {
    msg = std::string("postbox: ") + what + ": " + e.message();
  } catch (...) {
  }
  PBX_FI_INFO(FI_LOG_EP_DATA, "%s\n", msg.c_str());
  if (tx_cq_ != nullptr)
    tx_cq_->push_error(Completion{context, cq_flags, 0, nullptr, 0, 0, FI_ADDR_NOTAVAIL}, fi_errno_of(e.code()),
                       static_cast<int>(e.code()), 0, std::move(msg));
  if (send_cntr_ != nullptr) send_cntr_->inc_err();
}

void Endpoint::fail_tx(TxReq* t, const pbx::Error& e) noexcept {
  if (!t->internal) send_failed(t->context, t->cq_flags, e, "send");
  free_tx(t);
}

ssize_t Endpoint::send(const iovec* iov, size_t count, fi_addr_t dest, uint64_t tag, uint64_t data, void* context,
                       uint64_t flags, bool tagged, bool inject_call) noexcept {
  if (!enabled_) return -FI_EOPBADSTATE;
  if (!ensure_joined()) return -FI_EHOSTUNREACH;
  if (count > kIovLimit || (count != 0 && iov == nullptr)) return -FI_EINVAL;
  const uint32_t dst = av_->rank_of(dest);
  if (dst == Av::kNoRank || dst >= job_size_) {
    PBX_FI_WARN(FI_LOG_EP_DATA, "postbox: send to fi_addr %llu, which is not in the address vector\n",
                static_cast<unsigned long long>(dest));
    return -FI_EINVAL;
  }
  const size_t len = count == 1 ? iov[0].iov_len : iov_total(iov, count);
  if (len > pbx_->config().max_message) return -FI_EMSGSIZE;
  if ((inject_call || (flags & FI_INJECT) != 0) && len > kInjectSize) return -FI_EINVAL;

  wire::Header h;
  h.op = tagged ? wire::Op::kTagged : wire::Op::kMsg;
  h.tag = tag;
  h.has_data = (flags & FI_REMOTE_CQ_DATA) != 0;
  h.data = static_cast<uint32_t>(data);
  h.large = len > kStageMax;
  h.want_ack = !inject_call && (flags & FI_DELIVERY_COMPLETE) != 0;
  h.total_len = len;
  const uint64_t cq_flags = FI_SEND | (tagged ? FI_TAGGED : FI_MSG);
  const bool completion = !inject_call && (!tx_selective_ || (flags & FI_COMPLETION) != 0);

  // Fast path: nothing queued, a small message, no acknowledgement to wait for.
  if (tx_queue_.empty() && !h.large && !h.want_ack) {
    uint32_t ptag = 0;
    const size_t n = stage(stage_.get(), h, ptag, iov, count, len);
    auto r = pbx_->try_send(ranks_[dst], std::span<const std::byte>(stage_.get(), n), ptag);
    if (r) {
      send_completed(context, cq_flags, completion);
      return 0;
    }
    if (r.error().code() != Errc::kWouldBlock) {
      if (inject_call) return -fi_errno_of(r.error().code());
      send_failed(context, cq_flags, r.error(), "send");
      return 0;
    }
    TxReq* t = take_tx();
    if (t == nullptr) {
      progress();
      return -FI_EAGAIN;
    }
    std::memcpy(t->staged.get(), stage_.get(), n);
    t->staged_len = n;
    t->ptag = ptag;
    t->dst = dst;
    t->context = context;
    t->cq_flags = cq_flags;
    t->completion = completion;
    tx_queue_.push_back(t);
    return 0;
  }

  TxReq* t = take_tx();
  if (t == nullptr) {
    progress();
    return -FI_EAGAIN;
  }
  t->dst = dst;
  t->context = context;
  t->cq_flags = cq_flags;
  t->completion = completion;
  t->large = h.large;
  t->want_ack = h.want_ack;
  h.ack_id = ack_id_of(*t);
  t->staged_len = stage(t->staged.get(), h, t->ptag, iov, count, len);
  if (h.large) {
    if (count == 1) {
      t->payload = static_cast<const std::byte*>(iov[0].iov_base);
    } else {
      t->gathered.reset(new (std::nothrow) std::byte[len]);
      if (!t->gathered) {
        free_tx(t);
        return -FI_ENOMEM;
      }
      gather(t->gathered.get(), iov, count);
      t->payload = t->gathered.get();
    }
    t->payload_len = len;
  }
  tx_queue_.push_back(t);
  drain_tx();
  return 0;
}

// Hands the head of the queue to postbox. A large message goes as its header, then its payload
// with isend() as the pair's very next message; the header goes only when an isend slot is
// free, so that the payload follows at once.
bool Endpoint::start(TxReq* t) noexcept {
  const pbx::Rank dst = ranks_[t->dst];
  if (t->state == TxReq::State::kQueued) {
    if (t->large && in_flight_.size() >= max_in_flight_) return false;
    auto r = pbx_->try_send(dst, std::span<const std::byte>(t->staged.get(), t->staged_len), t->ptag);
    if (!r) {
      if (r.error().code() == Errc::kWouldBlock) return false;
      tx_queue_.remove(t);
      fail_tx(t, r.error());
      return true;
    }
    if (!t->large) {
      tx_queue_.remove(t);
      after_sent(t);
      return true;
    }
    t->state = TxReq::State::kHeaderSent;
  }
  auto h = pbx_->isend(dst, std::span<const std::byte>(t->payload, t->payload_len), wire::kPayloadTag);
  if (!h) {
    if (h.error().code() == Errc::kWouldBlock) return false;
    tx_queue_.remove(t);
    fail_tx(t, h.error());
    return true;
  }
  tx_queue_.remove(t);
  t->handle = *h;
  t->state = TxReq::State::kInFlight;
  in_flight_.push_back(t);
  return true;
}

void Endpoint::drain_tx() noexcept {
  while (TxReq* t = tx_queue_.front())
    if (!start(t)) break;
}

void Endpoint::poll_in_flight() noexcept {
  for (TxReq* t = in_flight_.front(); t != nullptr;) {
    TxReq* next = t->next;
    auto r = pbx_->test(t->handle);
    if (!r) {
      in_flight_.remove(t);
      fail_tx(t, r.error());
    } else if (*r) {
      in_flight_.remove(t);
      after_sent(t);
    }
    t = next;
  }
}

void Endpoint::after_sent(TxReq* t) noexcept {
  if (t->want_ack) {
    t->state = TxReq::State::kAwaitAck;
    await_ack_.push_back(t);
    return;
  }
  if (!t->internal) send_completed(t->context, t->cq_flags, t->completion);
  free_tx(t);
}

void Endpoint::on_ack(uint32_t ack_id) noexcept {
  TxReq* t = tx_pool_.at(ack_id & 0xffffu);
  if (t == nullptr || t->state != TxReq::State::kAwaitAck || t->generation != (ack_id >> 16)) {
    PBX_FI_WARN(FI_LOG_EP_DATA, "postbox: an acknowledgement for an unknown send (id %u) was dropped\n", ack_id);
    return;
  }
  await_ack_.remove(t);
  send_completed(t->context, t->cq_flags, t->completion);
  free_tx(t);
}

void Endpoint::queue_ack(uint32_t dst, uint32_t ack_id) noexcept {
  try {
    acks_.emplace_back(dst, ack_id);
  } catch (...) {
    PBX_FI_WARN(FI_LOG_EP_DATA, "postbox: out of memory queueing a delivery acknowledgement to rank %u\n", dst);
  }
  drain_acks();
}

void Endpoint::drain_acks() noexcept {
  // A large message whose header went out but whose payload is not in postbox yet must be
  // followed by its payload, nothing else: acknowledgements to that receiver wait.
  const TxReq* head = tx_queue_.front();
  const uint32_t blocked = head != nullptr && head->state == TxReq::State::kHeaderSent ? head->dst : kAnyRank;
  size_t done = 0;
  for (; done < acks_.size(); ++done) {
    if (acks_[done].first == blocked) break;
    wire::Header h;
    h.op = wire::Op::kAck;
    h.ack_id = acks_[done].second;
    std::byte buf[wire::kMaxHeader];
    const uint32_t ptag = wire::encode(h, buf);
    auto r = pbx_->try_send(ranks_[acks_[done].first],
                            std::span<const std::byte>(buf, wire::header_size(h)), ptag);
    if (!r && r.error().code() == Errc::kWouldBlock) break;
    // Any other error: the sender is gone or unreachable, and learns it there.
  }
  if (done != 0) acks_.erase(acks_.begin(), acks_.begin() + static_cast<std::ptrdiff_t>(done));
}

// Messages postbox reports lost after their sends completed (the link went down before they
// landed, or the receiver died before it took them): an error entry each, with no context.
void Endpoint::report_lost() noexcept {
  while (auto lost = pbx_->take_lost()) {
    std::string msg;
    try {
      msg = "postbox: " + std::to_string(lost->count) + " message(s) to rank " +
            std::to_string(pbx_->shape().flat(lost->dst)) + " (numbers " + std::to_string(lost->first) + ".." +
            std::to_string(lost->first + lost->count - 1) + " of that pair) were lost after their sends completed: " +
            errc_name(lost->reason);
    } catch (...) {
    }
    PBX_FI_WARN(FI_LOG_EP_DATA, "%s\n", msg.c_str());
    if (tx_cq_ != nullptr)
      tx_cq_->push_error(Completion{nullptr, FI_SEND, 0, nullptr, 0, 0, FI_ADDR_NOTAVAIL}, fi_errno_of(lost->reason),
                         kProvLost, 0, std::move(msg));
    if (send_cntr_ != nullptr) send_cntr_->inc_err();
  }
}

}  // namespace pbx::fabric
