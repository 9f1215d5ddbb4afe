#include "cntr.h"

#include <sched.h>
#include <time.h>

#include <algorithm>

#include "domain.h"
#include "ep.h"
#include "nosys.h"

namespace pbx::fabric {
namespace {

uint64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

}  // namespace

Cntr::Cntr(Domain* domain, const fi_cntr_attr& attr, void* context) : domain_(domain), wait_obj_(attr.wait_obj) {
  static fi_ops fid_ops = {sizeof(fi_ops), &Cntr::close, nosys::bind, &Cntr::control, nosys::ops_open, nullptr,
                           nullptr};
  static fi_ops_cntr ops = {sizeof(fi_ops_cntr), &Cntr::op_read, &Cntr::op_readerr, &Cntr::op_add,
                            &Cntr::op_set,       &Cntr::op_wait, &Cntr::op_adderr,  &Cntr::op_seterr};
  h_.self = this;
  h_.fid.fid.fclass = FI_CLASS_CNTR;
  h_.fid.fid.context = context;
  h_.fid.fid.ops = &fid_ops;
  h_.fid.ops = &ops;
}

int Cntr::open(Domain* domain, fi_cntr_attr* attr, fid_cntr** out, void* context) {
  fi_cntr_attr a{};
  if (attr != nullptr) a = *attr;
  if (a.events != FI_CNTR_EVENTS_COMP) return -FI_ENOSYS;
  if (a.flags != 0) return -FI_EBADFLAGS;
  switch (a.wait_obj) {
    case FI_WAIT_NONE:
    case FI_WAIT_UNSPEC:
    case FI_WAIT_YIELD: break;
    default: return -FI_ENOSYS;  // fi_cntr_wait polls; there is no fd to block on
  }
  if (a.wait_obj == FI_WAIT_UNSPEC) a.wait_obj = FI_WAIT_YIELD;
  try {
    Cntr* c = new Cntr(domain, a, context);
    domain->ref();
    *out = &c->h_.fid;
    return 0;
  } catch (...) {
    return -FI_ENOMEM;
  }
}

int Cntr::close(fid* f) {
  Cntr* c = self_of_fid<Cntr, fid_cntr>(f);
  if (c->refs_.load() != 0) return -FI_EBUSY;
  c->domain_->unref();
  delete c;
  return 0;
}

int Cntr::control(fid* f, int command, void* arg) {
  Cntr* c = self_of_fid<Cntr, fid_cntr>(f);
  if (command == FI_GETWAITOBJ && arg != nullptr) {
    *static_cast<fi_wait_obj*>(arg) = c->wait_obj_;
    return 0;
  }
  return -FI_ENOSYS;
}

void Cntr::attach(Endpoint* ep) {
  if (std::find(eps_.begin(), eps_.end(), ep) == eps_.end()) eps_.push_back(ep);
  refs_.fetch_add(1);
}

void Cntr::detach(Endpoint* ep) noexcept {
  auto it = std::find(eps_.begin(), eps_.end(), ep);
  if (it != eps_.end()) eps_.erase(it);
  refs_.fetch_sub(1);
}

void Cntr::progress() noexcept {
  for (Endpoint* ep : eps_) ep->progress();
}

uint64_t Cntr::op_read(fid_cntr* f) {
  Cntr* c = self_of<Cntr>(f);
  c->progress();
  return c->value_.load(std::memory_order_relaxed);
}
uint64_t Cntr::op_readerr(fid_cntr* f) {
  Cntr* c = self_of<Cntr>(f);
  c->progress();
  return c->errors_.load(std::memory_order_relaxed);
}
int Cntr::op_add(fid_cntr* f, uint64_t v) {
  self_of<Cntr>(f)->value_.fetch_add(v);
  return 0;
}
int Cntr::op_set(fid_cntr* f, uint64_t v) {
  self_of<Cntr>(f)->value_.store(v);
  return 0;
}
int Cntr::op_adderr(fid_cntr* f, uint64_t v) {
  self_of<Cntr>(f)->errors_.fetch_add(v);
  return 0;
}
int Cntr::op_seterr(fid_cntr* f, uint64_t v) {
  self_of<Cntr>(f)->errors_.store(v);
  return 0;
}

// Waits until the counter reaches `threshold` (0: success), an error is counted (-FI_EAVAIL),
// or `timeout` ms pass (-FI_ETIMEDOUT; -1 waits for ever).
int Cntr::op_wait(fid_cntr* f, uint64_t threshold, int timeout) {
  Cntr* c = self_of<Cntr>(f);
  if (c->wait_obj_ == FI_WAIT_NONE) return -FI_EINVAL;
  const uint64_t errors = c->errors_.load();
  const uint64_t deadline = timeout < 0 ? UINT64_MAX : now_ms() + static_cast<uint64_t>(timeout);
  for (uint32_t spin = 0;; ++spin) {
    c->progress();
    if (c->value_.load(std::memory_order_relaxed) >= threshold) return 0;
    if (c->errors_.load(std::memory_order_relaxed) != errors) return -FI_EAVAIL;
    if ((spin & 63) == 63) {
      if (now_ms() >= deadline) return -FI_ETIMEDOUT;
      sched_yield();
    }
  }
}

}  // namespace pbx::fabric
