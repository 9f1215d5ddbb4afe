#include "cq.h"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "domain.h"
#include "ep.h"
#include "errors.h"
#include "nosys.h"

namespace pbx::fabric {
namespace {

size_t entry_size_of(fi_cq_format f) {
  switch (f) {
    case FI_CQ_FORMAT_CONTEXT: return sizeof(fi_cq_entry);
    case FI_CQ_FORMAT_MSG: return sizeof(fi_cq_msg_entry);
    case FI_CQ_FORMAT_DATA: return sizeof(fi_cq_data_entry);
    case FI_CQ_FORMAT_TAGGED: return sizeof(fi_cq_tagged_entry);
    default: return 0;
  }
}

uint64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

}  // namespace

Cq::Cq(Domain* domain, const fi_cq_attr& attr, void* context)
    : domain_(domain), format_(attr.format), entry_size_(entry_size_of(attr.format)), wait_obj_(attr.wait_obj) {
  static fi_ops fi_ops_cq_fid = {sizeof(fi_ops), &Cq::close, nullptr, &Cq::control, nosys::ops_open, nullptr,
                                 nullptr};
  static fi_ops_cq ops = {sizeof(fi_ops_cq), &Cq::op_read,   &Cq::op_readfrom, &Cq::op_readerr, &Cq::op_sread,
                          &Cq::op_sreadfrom, &Cq::op_signal, &Cq::op_strerror};
  h_.self = this;
  h_.fid.fid.fclass = FI_CLASS_CQ;
  h_.fid.fid.context = context;
  h_.fid.fid.ops = &fi_ops_cq_fid;
  h_.fid.ops = &ops;
  size_t cap = 64;
  while (cap < std::max<size_t>(attr.size, kCqDefaultSize)) cap <<= 1;
  ring_.resize(cap);
  mask_ = cap - 1;
}

int Cq::open(Domain* domain, fi_cq_attr* attr, fid_cq** out, void* context) {
  if (attr == nullptr) return -FI_EINVAL;
  if (attr->format == FI_CQ_FORMAT_UNSPEC) attr->format = FI_CQ_FORMAT_CONTEXT;
  if (entry_size_of(attr->format) == 0) {
    PBX_FI_WARN(FI_LOG_CQ, "postbox: CQ format %d is not supported (context, msg, data and tagged are)\n",
                attr->format);
    return -FI_ENOSYS;
  }
  switch (attr->wait_obj) {
    case FI_WAIT_NONE:
    case FI_WAIT_UNSPEC:
    case FI_WAIT_YIELD: break;
    default:
      PBX_FI_INFO(FI_LOG_CQ, "postbox: CQ wait object %d is not supported (FI_WAIT_NONE, FI_WAIT_UNSPEC and "
                             "FI_WAIT_YIELD are: fi_cq_sread polls)\n", attr->wait_obj);
      return -FI_ENOSYS;
  }
  if (attr->wait_obj == FI_WAIT_UNSPEC) attr->wait_obj = FI_WAIT_YIELD;
  if ((attr->flags & ~FI_AFFINITY) != 0 || attr->wait_cond > FI_CQ_COND_THRESHOLD) return -FI_EBADFLAGS;
  try {
    Cq* cq = new Cq(domain, *attr, context);
    domain->ref();
    *out = &cq->h_.fid;
    return 0;
  } catch (...) {
    return -FI_ENOMEM;
  }
}

int Cq::close(fid* f) {
  Cq* cq = self_of_fid<Cq, fid_cq>(f);
  if (cq->refs_.load() != 0) return -FI_EBUSY;  // an endpoint is still bound
  cq->domain_->unref();
  delete cq;
  return 0;
}

int Cq::control(fid* f, int command, void* arg) {
  Cq* cq = self_of_fid<Cq, fid_cq>(f);
  if (command == FI_GETWAITOBJ && arg != nullptr) {
    *static_cast<fi_wait_obj*>(arg) = cq->wait_obj_;
    return 0;
  }
  return -FI_ENOSYS;
}

// An endpoint bound for both directions is progressed once per read (and counted twice).
void Cq::attach(Endpoint* ep) {
  if (std::find(eps_.begin(), eps_.end(), ep) == eps_.end()) eps_.push_back(ep);
  refs_.fetch_add(1);
}

void Cq::detach(Endpoint* ep) noexcept {
  auto it = std::find(eps_.begin(), eps_.end(), ep);
  if (it != eps_.end()) eps_.erase(it);
  refs_.fetch_sub(1);
}

void Cq::grow() noexcept {
  try {
    std::vector<Slot> bigger(ring_.size() * 2);
    const size_t n = tail_ - head_;
    for (size_t i = 0; i < n; ++i) bigger[i] = ring_[(head_ + i) & (ring_.size() - 1)];
    ring_.swap(bigger);
    mask_ = ring_.size() - 1;
    head_ = 0;
    tail_ = n;
  } catch (...) {
    // Out of memory with a full ring: the entry replaces the newest (reported in the log).
    PBX_FI_WARN(FI_LOG_CQ, "postbox: out of memory growing a full completion queue: a completion is lost\n");
    --tail_;
  }
}

void Cq::push_error(const Completion& c, int err, int prov_errno, size_t olen, std::string message) noexcept {
  try {
    errors_.push_back(ErrorEntry{err, prov_errno, olen, std::move(message)});
  } catch (...) {
    PBX_FI_WARN(FI_LOG_CQ, "postbox: out of memory recording an error completion (error %d)\n", err);
    return;
  }
  if (tail_ - head_ == mask_ + 1) grow();
  Slot& s = ring_[tail_ & mask_];
  s.c = c;
  s.error = true;
  ++tail_;
}

void Cq::progress() noexcept {
  for (Endpoint* ep : eps_) ep->progress();
}

void Cq::write_entry(void* dst, const Completion& c) const noexcept {
  switch (format_) {
    case FI_CQ_FORMAT_CONTEXT: {
      auto* e = static_cast<fi_cq_entry*>(dst);
      e->op_context = c.op_context;
      break;
    }
    case FI_CQ_FORMAT_MSG: {
      auto* e = static_cast<fi_cq_msg_entry*>(dst);
      *e = fi_cq_msg_entry{c.op_context, c.flags, c.len};
      break;
    }
    case FI_CQ_FORMAT_DATA: {
      auto* e = static_cast<fi_cq_data_entry*>(dst);
      *e = fi_cq_data_entry{c.op_context, c.flags, c.len, c.buf, c.data};
      break;
    }
    default: {
      auto* e = static_cast<fi_cq_tagged_entry*>(dst);
      *e = fi_cq_tagged_entry{c.op_context, c.flags, c.len, c.buf, c.data, c.tag};
      break;
    }
  }
}

ssize_t Cq::read(void* buf, size_t count, fi_addr_t* src) noexcept {
  if (empty()) progress();
  if (empty()) return -FI_EAGAIN;
  if (ring_[head_ & mask_].error) return -FI_EAVAIL;
  size_t n = 0;
  auto* out = static_cast<std::byte*>(buf);
  while (n < count && !empty()) {
    const Slot& s = ring_[head_ & mask_];
    if (s.error) break;
    write_entry(out + n * entry_size_, s.c);
    if (src != nullptr) src[n] = s.c.src;
    ++head_;
    ++n;
  }
  return static_cast<ssize_t>(n);
}

ssize_t Cq::readerr(fi_cq_err_entry* out, uint64_t /*flags*/) noexcept {
  if (empty() || !ring_[head_ & mask_].error) {
    progress();
    if (empty() || !ring_[head_ & mask_].error) return -FI_EAGAIN;
  }
  const Slot& s = ring_[head_ & mask_];
  ErrorEntry e = std::move(errors_.front());
  errors_.pop_front();
  ++head_;
  last_error_ = std::move(e.message);
  fi_cq_err_entry entry{};
  entry.op_context = s.c.op_context;
  entry.flags = s.c.flags;
  entry.len = s.c.len;
  entry.buf = s.c.buf;
  entry.data = s.c.data;
  entry.tag = s.c.tag;
  entry.olen = e.olen;
  entry.err = e.err;
  entry.prov_errno = e.prov_errno;
  // The text stays in the CQ (valid until the next read) and err_data points at it; it is never
  // copied through the caller's err_data: applications (fabtests among them) pass entries with
  // err_data / err_data_size uninitialised, which libfabric's own providers survive only because
  // they rarely have error data.
  entry.err_data = last_error_.data();
  entry.err_data_size = last_error_.size() + 1;
  if (FI_VERSION_GE(domain_->api_version(), FI_VERSION(1, 5))) *out = entry;
  else std::memcpy(out, &entry, offsetof(fi_cq_err_entry, err_data_size));  // the 1.0 layout is shorter
  return 1;
}

ssize_t Cq::sread(void* buf, size_t count, fi_addr_t* src, const void* cond, int timeout) noexcept {
  if (wait_obj_ == FI_WAIT_NONE) return -FI_ENOSYS;
  size_t threshold = 1;
  if (cond != nullptr) threshold = std::max<size_t>(1, std::min(count, *static_cast<const size_t*>(cond)));
  const uint64_t deadline = timeout < 0 ? UINT64_MAX : now_ms() + static_cast<uint64_t>(timeout);
  for (uint32_t spin = 0;; ++spin) {
    if (signaled_.exchange(false)) return -FI_EAGAIN;
    progress();
    size_t ready = 0;
    for (size_t i = head_; i != tail_ && ready < threshold; ++i, ++ready)
      if (ring_[i & mask_].error) return ready == 0 ? -FI_EAVAIL : read(buf, count, src);
    if (ready >= threshold) return read(buf, count, src);
    if ((spin & 63) == 63) {
      if (now_ms() >= deadline) return ready > 0 ? read(buf, count, src) : -FI_EAGAIN;
      sched_yield();  // a blocking read on a shared CPU lets the peer run
    }
  }
}

// ---- ops table entry points -------------------------------------------------------------

ssize_t Cq::op_read(fid_cq* f, void* buf, size_t count) { return self_of<Cq>(f)->read(buf, count, nullptr); }
ssize_t Cq::op_readfrom(fid_cq* f, void* buf, size_t count, fi_addr_t* src) {
  return self_of<Cq>(f)->read(buf, count, src);
}
ssize_t Cq::op_readerr(fid_cq* f, fi_cq_err_entry* buf, uint64_t flags) {
  return self_of<Cq>(f)->readerr(buf, flags);
}
ssize_t Cq::op_sread(fid_cq* f, void* buf, size_t count, const void* cond, int timeout) {
  return self_of<Cq>(f)->sread(buf, count, nullptr, cond, timeout);
}
ssize_t Cq::op_sreadfrom(fid_cq* f, void* buf, size_t count, fi_addr_t* src, const void* cond, int timeout) {
  return self_of<Cq>(f)->sread(buf, count, src, cond, timeout);
}
int Cq::op_signal(fid_cq* f) {
  self_of<Cq>(f)->signaled_.store(true);
  return 0;
}
const char* Cq::op_strerror(fid_cq* /*cq*/, int prov_errno, const void* err_data, char* buf, size_t len) {
  return provider_strerror(prov_errno, err_data, buf, len);
}

}  // namespace pbx::fabric
