#include "eq.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>

#include "domain.h"
#include "errors.h"
#include "nosys.h"

namespace pbx::fabric {

Eq::Eq(Fabric* fabric, const fi_eq_attr& attr, void* context, UniqueFd efd)
    : fabric_(fabric), wait_obj_(attr.wait_obj), efd_(std::move(efd)) {
  static fi_ops fid_ops = {sizeof(fi_ops), &Eq::close, nosys::bind, &Eq::control, nosys::ops_open, nullptr, nullptr};
  static fi_ops_eq ops = {sizeof(fi_ops_eq), &Eq::op_read,  &Eq::op_readerr, &Eq::op_write,
                          &Eq::op_sread,     &Eq::op_strerror};
  h_.self = this;
  h_.fid.fid.fclass = FI_CLASS_EQ;
  h_.fid.fid.context = context;
  h_.fid.fid.ops = &fid_ops;
  h_.fid.ops = &ops;
}

int Eq::open(Fabric* fabric, fi_eq_attr* attr, fid_eq** out, void* context) {
  if (attr == nullptr) return -FI_EINVAL;
  if ((attr->flags & ~FI_WRITE) != 0) return -FI_EBADFLAGS;
  UniqueFd efd;
  switch (attr->wait_obj) {
    case FI_WAIT_NONE: break;
    case FI_WAIT_UNSPEC:
    case FI_WAIT_FD:
      efd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE));
      if (!efd) return -errno;
      attr->wait_obj = FI_WAIT_FD;
      break;
    default:
      PBX_FI_INFO(FI_LOG_EQ, "postbox: EQ wait object %d is not supported (FI_WAIT_NONE, FI_WAIT_FD)\n",
                  attr->wait_obj);
      return -FI_ENOSYS;
  }
  try {
    Eq* eq = new Eq(fabric, *attr, context, std::move(efd));
    fabric->ref();
    *out = &eq->h_.fid;
    return 0;
  } catch (...) {
    return -FI_ENOMEM;
  }
}

int Eq::close(fid* f) {
  Eq* eq = self_of_fid<Eq, fid_eq>(f);
  if (eq->refs_.load() != 0) return -FI_EBUSY;
  eq->fabric_->unref();
  delete eq;
  return 0;
}

int Eq::control(fid* f, int command, void* arg) {
  Eq* eq = self_of_fid<Eq, fid_eq>(f);
  switch (command) {
    case FI_GETWAIT:
      if (!eq->efd_ || arg == nullptr) return -FI_ENODATA;
      *static_cast<int*>(arg) = eq->efd_.get();
      return 0;
    case FI_GETWAITOBJ:
      if (arg == nullptr) return -FI_EINVAL;
      *static_cast<fi_wait_obj*>(arg) = eq->wait_obj_;
      return 0;
    default: return -FI_ENOSYS;
  }
}

void Eq::signal_locked() {
  if (!efd_) return;
  const uint64_t one = 1;
  (void)!::write(efd_.get(), &one, sizeof one);
}

void Eq::consume_locked() {
  events_.pop_front();
  if (!efd_) return;
  uint64_t v = 0;
  (void)!::read(efd_.get(), &v, sizeof v);  // semaphore mode: takes one count
}

bool Eq::empty() {
  std::lock_guard<std::mutex> lock(mu_);
  return events_.empty();
}

ssize_t Eq::push(uint32_t event, const void* buf, size_t len) {
  if (buf == nullptr && len != 0) return -FI_EINVAL;
  try {
    Event e;
    e.event = event;
    e.bytes.assign(static_cast<const std::byte*>(buf), static_cast<const std::byte*>(buf) + len);
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
    signal_locked();
  } catch (...) {
    return -FI_ENOMEM;
  }
  return static_cast<ssize_t>(len);
}

void Eq::push_error(fid_t fid, void* context, uint64_t data, int err, std::string message) {
  fi_eq_err_entry entry{};
  entry.fid = fid;
  entry.context = context;
  entry.data = data;
  entry.err = err;
  entry.prov_errno = 0;
  Event e;
  e.error = true;
  e.bytes.resize(sizeof entry);
  std::memcpy(e.bytes.data(), &entry, sizeof entry);
  e.message = std::move(message);
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back(std::move(e));
  signal_locked();
}

ssize_t Eq::read(uint32_t* event, void* buf, size_t len, uint64_t flags, int timeout) {
  if ((flags & ~FI_PEEK) != 0) return -FI_EBADFLAGS;
  if (timeout != 0 && efd_) {
    pollfd p{efd_.get(), POLLIN, 0};
    if (::poll(&p, 1, timeout) == 0) return -FI_EAGAIN;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (events_.empty()) return -FI_EAGAIN;
  const Event& e = events_.front();
  if (e.error) return -FI_EAVAIL;
  if (len < e.bytes.size()) return -FI_ETOOSMALL;
  if (event != nullptr) *event = e.event;
  if (!e.bytes.empty()) std::memcpy(buf, e.bytes.data(), e.bytes.size());
  const auto n = static_cast<ssize_t>(e.bytes.size());
  if ((flags & FI_PEEK) == 0) consume_locked();
  return n;
}

ssize_t Eq::readerr(fi_eq_err_entry* out, uint64_t flags) {
  if ((flags & ~FI_PEEK) != 0) return -FI_EBADFLAGS;
  std::lock_guard<std::mutex> lock(mu_);
  if (events_.empty() || !events_.front().error) return -FI_EAGAIN;
  const Event& e = events_.front();
  fi_eq_err_entry entry;
  std::memcpy(&entry, e.bytes.data(), sizeof entry);
  last_error_ = e.message;
  // As for completion queues (cq.cpp): err_data points at the text, which is never copied
  // through the caller's (possibly uninitialised) err_data.
  entry.err_data = last_error_.data();
  entry.err_data_size = last_error_.size() + 1;
  if (FI_VERSION_GE(fabric_->api_version(), FI_VERSION(1, 5))) *out = entry;
  else std::memcpy(out, &entry, offsetof(fi_eq_err_entry, err_data_size));
  if ((flags & FI_PEEK) == 0) consume_locked();
  return sizeof(fi_eq_err_entry);
}

ssize_t Eq::op_read(fid_eq* f, uint32_t* event, void* buf, size_t len, uint64_t flags) {
  return self_of<Eq>(f)->read(event, buf, len, flags, 0);
}
ssize_t Eq::op_readerr(fid_eq* f, fi_eq_err_entry* buf, uint64_t flags) {
  return self_of<Eq>(f)->readerr(buf, flags);
}
ssize_t Eq::op_write(fid_eq* f, uint32_t event, const void* buf, size_t len, uint64_t flags) {
  if (flags != 0) return -FI_EBADFLAGS;
  return self_of<Eq>(f)->push(event, buf, len);
}
ssize_t Eq::op_sread(fid_eq* f, uint32_t* event, void* buf, size_t len, int timeout, uint64_t flags) {
  Eq* eq = self_of<Eq>(f);
  if (!eq->efd_) return -FI_ENOSYS;  // FI_WAIT_NONE: nothing to block on
  return eq->read(event, buf, len, flags, timeout == 0 ? 1 : timeout);
}
const char* Eq::op_strerror(fid_eq*, int prov_errno, const void* err_data, char* buf, size_t len) {
  return provider_strerror(prov_errno, err_data, buf, len);
}

}  // namespace pbx::fabric
