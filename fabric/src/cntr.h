// Counters: completed and failed operations of the endpoints bound to them (FI_SEND, FI_RECV).
// Reading or waiting makes progress on those endpoints (FI_PROGRESS_MANUAL).
#pragma once

#include <rdma/fi_domain.h>
#include <rdma/fi_eq.h>

#include <atomic>
#include <vector>

#include "provider.h"

namespace pbx::fabric {

class Domain;
class Endpoint;

class Cntr {
 public:
  static int open(Domain* domain, fi_cntr_attr* attr, fid_cntr** out, void* context);

  void inc() noexcept { value_.fetch_add(1, std::memory_order_relaxed); }
  void inc_err() noexcept { errors_.fetch_add(1, std::memory_order_relaxed); }
  void attach(Endpoint* ep);
  void detach(Endpoint* ep) noexcept;

 private:
  Cntr(Domain* domain, const fi_cntr_attr& attr, void* context);
  void progress() noexcept;

  static int close(fid* f);
  static int control(fid* f, int command, void* arg);
  static uint64_t op_read(fid_cntr* c);
  static uint64_t op_readerr(fid_cntr* c);
  static int op_add(fid_cntr* c, uint64_t value);
  static int op_set(fid_cntr* c, uint64_t value);
  static int op_wait(fid_cntr* c, uint64_t threshold, int timeout);
  static int op_adderr(fid_cntr* c, uint64_t value);
  static int op_seterr(fid_cntr* c, uint64_t value);

  Handle<fid_cntr, Cntr> h_;
  Domain* domain_;
  fi_wait_obj wait_obj_;
  // Relaxed throughout: a counter publishes no data (completions carry none; the application
  // learns of a transfer's data from the CQ or by the count alone, FI_THREAD_DOMAIN keeps one
  // thread in the domain), so its value orders nothing and pairs with nothing.
  std::atomic<uint64_t> value_{0}, errors_{0};
  std::vector<Endpoint*> eps_;
  std::atomic<int> refs_{0};
};

}  // namespace pbx::fabric
