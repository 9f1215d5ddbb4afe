// The endpoint's control path: open, bind, enable (joining the postbox job), close, options.
#include "ep.h"

#include <atomic>
#include <cstring>

#include "address.h"
#include "av.h"
#include "cntr.h"
#include "cq.h"
#include "domain.h"
#include "eq.h"
#include "errors.h"
#include "nosys.h"

namespace pbx::fabric {

extern fi_ops_msg g_msg_ops;        // ep_ops.cpp
extern fi_ops_tagged g_tagged_ops;  // ep_ops.cpp

namespace {

// postbox gives a process one rank: one enabled endpoint at a time.
std::atomic<bool> g_enabled{false};

}  // namespace

Endpoint::Endpoint(Domain* domain, const fi_info& info, void* context)
    : domain_(domain),
      caps_(info.caps != 0 ? info.caps : domain->info().caps),
      tx_op_flags_(info.tx_attr != nullptr ? info.tx_attr->op_flags : 0),
      rx_op_flags_(info.rx_attr != nullptr ? info.rx_attr->op_flags : 0),
      tx_size_(info.tx_attr != nullptr && info.tx_attr->size != 0 ? info.tx_attr->size : kTxSize),
      rx_size_(info.rx_attr != nullptr && info.rx_attr->size != 0 ? info.rx_attr->size : kRxSize),
      directed_((caps_ & FI_DIRECTED_RECV) != 0) {
  static fi_ops fid_ops = {sizeof(fi_ops), &Endpoint::op_close, &Endpoint::op_bind, &Endpoint::op_control,
                           nosys::ops_open, nullptr, nullptr};
  static fi_ops_ep ep_ops = {sizeof(fi_ops_ep),
                             &Endpoint::op_cancel,
                             &Endpoint::op_getopt,
                             &Endpoint::op_setopt,
                             [](fid_ep*, int, fi_tx_attr*, fid_ep**, void*) { return -FI_ENOSYS; },
                             [](fid_ep*, int, fi_rx_attr*, fid_ep**, void*) { return -FI_ENOSYS; },
                             &Endpoint::op_rx_size_left,
                             &Endpoint::op_tx_size_left};
  static fi_ops_cm cm_ops = {sizeof(fi_ops_cm), nosys::setname, &Endpoint::op_getname, nosys::getpeer,
                             nosys::connect,    nosys::listen,  nosys::accept,         nosys::reject,
                             nosys::shutdown,   nosys::join};
  h_.self = this;
  h_.fid.fid.fclass = FI_CLASS_EP;
  h_.fid.fid.context = context;
  h_.fid.fid.ops = &fid_ops;
  h_.fid.ops = &ep_ops;
  h_.fid.cm = &cm_ops;
  h_.fid.msg = &g_msg_ops;
  h_.fid.rma = &nosys::rma;
  h_.fid.tagged = &g_tagged_ops;
  h_.fid.atomic = &nosys::atomic;
  h_.fid.collective = &nosys::collective;
}

Endpoint::~Endpoint() = default;

int Endpoint::open(Domain* domain, fi_info* info, fid_ep** out, void* context) {
  if (info == nullptr || info->ep_attr == nullptr) return -FI_EINVAL;
  if (info->ep_attr->type != FI_EP_RDM) {
    PBX_FI_WARN(FI_LOG_EP_CTRL, "postbox: endpoint type %d: the provider offers FI_EP_RDM only\n", info->ep_attr->type);
    return -FI_EINVAL;
  }
  if (info->tx_attr != nullptr && (info->tx_attr->size > kTxSize || info->tx_attr->iov_limit > kIovLimit))
    return -FI_EINVAL;
  if (info->rx_attr != nullptr && (info->rx_attr->size > kRxSize || info->rx_attr->iov_limit > kIovLimit))
    return -FI_EINVAL;
  try {
    Endpoint* ep = new Endpoint(domain, *info, context);
    domain->ref();
    *out = &ep->h_.fid;
    return 0;
  } catch (...) {
    return -FI_ENOMEM;
  }
}

int Endpoint::bind(fid* bfid, uint64_t flags) {
  if (pbx_) return -FI_EOPBADSTATE;  // bindings come before fi_enable
  switch (bfid->fclass) {
    case FI_CLASS_AV: {
      if (av_ != nullptr) return -FI_EINVAL;
      av_ = self_of_fid<Av, fid_av>(bfid);
      av_->ref();
      return 0;
    }
    case FI_CLASS_CQ: {
      if ((flags & ~(FI_TRANSMIT | FI_RECV | FI_SELECTIVE_COMPLETION)) != 0) return -FI_EBADFLAGS;
      Cq* cq = self_of_fid<Cq, fid_cq>(bfid);
      if ((flags & FI_TRANSMIT) != 0) {
        if (tx_cq_ != nullptr) return -FI_EINVAL;
        tx_cq_ = cq;
        tx_selective_ = (flags & FI_SELECTIVE_COMPLETION) != 0;
        cq->attach(this);
      }
      if ((flags & FI_RECV) != 0) {
        if (rx_cq_ != nullptr) return -FI_EINVAL;
        rx_cq_ = cq;
        rx_selective_ = (flags & FI_SELECTIVE_COMPLETION) != 0;
        cq->attach(this);
      }
      return 0;
    }
    case FI_CLASS_CNTR: {
      Cntr* c = self_of_fid<Cntr, fid_cntr>(bfid);
      // Counting FI_READ / FI_WRITE / FI_REMOTE_* events is accepted: there are none (no RMA).
      if ((flags & ~(FI_SEND | FI_RECV | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE)) != 0)
        return -FI_EBADFLAGS;
      if ((flags & FI_SEND) != 0) {
        if (send_cntr_ != nullptr) return -FI_EINVAL;
        send_cntr_ = c;
        c->attach(this);
      }
      if ((flags & FI_RECV) != 0) {
        if (recv_cntr_ != nullptr) return -FI_EINVAL;
        recv_cntr_ = c;
        c->attach(this);
      }
      return 0;
    }
    case FI_CLASS_EQ: {
      if (eq_ != nullptr) return -FI_EINVAL;
      eq_ = self_of_fid<Eq, fid_eq>(bfid);
      eq_->ref();
      return 0;
    }
    case FI_CLASS_MR: return 0;
    default: return -FI_EINVAL;
  }
}

// Checks the bindings and sizes the queues; the job is joined on first use (ep.h).
int Endpoint::enable() {
  if (enabled_) return 0;
  if (av_ == nullptr) {
    PBX_FI_WARN(FI_LOG_EP_CTRL, "postbox: fi_enable: bind an address vector to the endpoint first\n");
    return -FI_ENOAV;
  }
  if (tx_cq_ == nullptr && send_cntr_ == nullptr && rx_cq_ == nullptr && recv_cntr_ == nullptr) {
    PBX_FI_WARN(FI_LOG_EP_CTRL, "postbox: fi_enable: bind a completion queue or counter to the endpoint first\n");
    return -FI_ENOCQ;
  }
  if (g_enabled.exchange(true)) {
    PBX_FI_WARN(FI_LOG_EP_CTRL,
                "postbox: fi_enable: this process already has an enabled endpoint; postbox gives a process one rank "
                "(close the other endpoint first)\n");
    return -FI_EBUSY;
  }
  try {
    tx_pool_.init(tx_size_, tx_size_);
    for (size_t i = 0; i < tx_size_; ++i)
      if (TxReq* t = tx_pool_.at(i)) t->staged = std::make_unique<std::byte[]>(wire::kMaxHeader + kStageMax);
    stage_ = std::make_unique<std::byte[]>(wire::kMaxHeader + kStageMax);
    rx_stage_ = std::make_unique<std::byte[]>(wire::kMaxHeader + kStageMax);
    rx_pool_.init(rx_size_, rx_size_);
    ux_pool_.init(256, 0);
    acks_.reserve(64);
  } catch (...) {
    g_enabled.store(false);
    return -FI_ENOMEM;
  }
  enabled_ = true;
  return 0;
}

// Joins the postbox job (pbx::Endpoint::from_env: pbxrun's variables, or PMIx under mpirun),
// waiting until every process of the job is up (postbox's timeout_ms). A failure is reported
// once, as an error entry in the completion queues, and sends fail from then on.
bool Endpoint::join() noexcept {
  if (!enabled_ || join_failed_) return false;
  std::string failure;
  try {
    auto ep = pbx::Endpoint::from_env(base_config());
    if (ep) {
      pbx_.emplace(std::move(*ep));
      self_ = pbx_->rank();
      job_size_ = pbx_->shape().size();
      max_in_flight_ = pbx_->config().max_pending_sends;
      av_->set_job_size(job_size_);
      pending_.assign(job_size_, Pending{});
      procs_per_node_ = pbx_->shape().procs_per_node;
      ranks_.resize(job_size_);
      for (uint32_t k = 0; k < job_size_; ++k) ranks_[k] = pbx_->shape().rank_of(k);
      const uint32_t expected = domain_->identity().rank;
      if (expected != Address::kUnknownRank && expected != self_)
        PBX_FI_WARN(FI_LOG_EP_CTRL, "postbox: joined as rank %u but fi_getname said rank %u: addresses are wrong\n",
                    self_, expected);
      return true;
    }
    failure = "postbox: cannot join the postbox job: " + ep.error().message();
  } catch (...) {
    pbx_.reset();
    failure = "postbox: out of memory joining the postbox job";
  }
  join_failed_ = true;
  PBX_FI_WARN(FI_LOG_EP_CTRL, "%s\n", failure.c_str());
  for (Cq* cq : {tx_cq_, rx_cq_})
    if (cq != nullptr) cq->push_error(Completion{}, FI_EHOSTUNREACH, static_cast<int>(Errc::kPeerNotUp), 0, failure);
  return false;
}

int Endpoint::close() {
  if (enabled_) g_enabled.store(false);
  if (pbx_) {
    // Borrowed messages go back before the endpoint they came from closes: those in the
    // queues, and those waiting for their payload that no queue holds (bound to a receive, or
    // discarded).
    for (Pending& p : pending_)
      if (p.ux != nullptr && (p.ux->bound != nullptr || p.ux->discard)) free_unexpected(p.ux);
    for (List<Unexpected>* l : {&unexpected_msg_, &unexpected_tagged_, &claimed_})
      while (Unexpected* u = l->pop_front()) free_unexpected(u);
    if (auto r = pbx_->close(); !r)
      PBX_FI_INFO(FI_LOG_EP_CTRL, "postbox: closing the endpoint: %s\n", r.error().message().c_str());
    pbx_.reset();
  }
  if (tx_cq_ != nullptr) tx_cq_->detach(this);
  if (rx_cq_ != nullptr) rx_cq_->detach(this);
  if (send_cntr_ != nullptr) send_cntr_->detach(this);
  if (recv_cntr_ != nullptr) recv_cntr_->detach(this);
  if (av_ != nullptr) av_->unref();
  if (eq_ != nullptr) eq_->unref();
  domain_->unref();
  delete this;
  return 0;
}

// ---- ops-table glue ------------------------------------------------------------------------

int Endpoint::op_close(fid* f) { return self_of_fid<Endpoint, fid_ep>(f)->close(); }

int Endpoint::op_bind(fid* f, fid* bfid, uint64_t flags) {
  if (bfid == nullptr) return -FI_EINVAL;
  return self_of_fid<Endpoint, fid_ep>(f)->bind(bfid, flags);
}

int Endpoint::op_control(fid* f, int command, void* arg) {
  Endpoint* ep = self_of_fid<Endpoint, fid_ep>(f);
  switch (command) {
    case FI_ENABLE: return ep->enable();
    case FI_GETOPSFLAG:
    case FI_SETOPSFLAG: {
      if (arg == nullptr) return -FI_EINVAL;
      uint64_t* flags = static_cast<uint64_t*>(arg);
      const bool tx = (*flags & FI_TRANSMIT) != 0, rx = (*flags & FI_RECV) != 0;
      if (tx == rx) return -FI_EINVAL;  // exactly one direction
      uint64_t& target = tx ? ep->tx_op_flags_ : ep->rx_op_flags_;
      if (command == FI_GETOPSFLAG) {
        *flags = target | (tx ? FI_TRANSMIT : FI_RECV);
      } else {
        target = *flags & ~(FI_TRANSMIT | FI_RECV);
      }
      return 0;
    }
    default: return -FI_ENOSYS;
  }
}

ssize_t Endpoint::op_cancel(fid_t f, void* context) {
  if (f->fclass != FI_CLASS_EP) return -FI_EINVAL;
  return self_of_fid<Endpoint, fid_ep>(f)->cancel(context);
}

int Endpoint::op_getopt(fid_t, int level, int optname, void* optval, size_t* optlen) {
  if (level != FI_OPT_ENDPOINT) return -FI_ENOPROTOOPT;
  if (optname == FI_OPT_CM_DATA_SIZE) {
    if (optval == nullptr || optlen == nullptr || *optlen < sizeof(size_t)) return -FI_ETOOSMALL;
    *static_cast<size_t*>(optval) = 0;
    *optlen = sizeof(size_t);
    return 0;
  }
  return -FI_ENOPROTOOPT;  // FI_OPT_MIN_MULTI_RECV: no FI_MULTI_RECV
}

int Endpoint::op_setopt(fid_t, int, int, const void*, size_t) { return -FI_ENOPROTOOPT; }

ssize_t Endpoint::op_rx_size_left(fid_ep* f) {
  Endpoint* ep = self_of<Endpoint>(f);
  if (!ep->enabled_) return -FI_EOPBADSTATE;
  return static_cast<ssize_t>(ep->rx_size_ - ep->rx_pool_.in_use());
}

ssize_t Endpoint::op_tx_size_left(fid_ep* f) {
  Endpoint* ep = self_of<Endpoint>(f);
  if (!ep->enabled_) return -FI_EOPBADSTATE;
  return static_cast<ssize_t>(ep->tx_size_ - ep->tx_pool_.in_use());
}

int Endpoint::op_getname(fid_t f, void* addr, size_t* addrlen) {
  if (f->fclass != FI_CLASS_EP || addrlen == nullptr) return -FI_EINVAL;
  Endpoint* ep = self_of_fid<Endpoint, fid_ep>(f);
  Address a;
  a.job = ep->domain_->identity().job;
  a.rank = ep->pbx_ ? ep->self_ : ep->domain_->identity().rank;
  if (a.rank == Address::kUnknownRank) {
    // The launcher did not say (NTB without PBX_NODE): the device does, once joined.
    if (!ep->enabled_) return -FI_EOPBADSTATE;
    if (!ep->ensure_joined()) return -FI_EHOSTUNREACH;
    a.rank = ep->self_;
  }
  const size_t have = *addrlen;
  *addrlen = sizeof a;
  if (have < sizeof a) return -FI_ETOOSMALL;
  std::memcpy(addr, &a, sizeof a);
  return 0;
}

}  // namespace pbx::fabric
