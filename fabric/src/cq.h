// Completion queue: completions and error entries in the order they happened, read in any of
// libfabric's formats (context, msg, data, tagged). Reading makes progress on the endpoints
// bound to it (FI_PROGRESS_MANUAL). With FI_RM_ENABLED nothing is ever dropped: the ring
// (sized by fi_cq_attr::size) grows if the application lets it fill.
#pragma once

#include <rdma/fi_eq.h>

#include <atomic>
#include <deque>
#include <string>
#include <vector>

#include "provider.h"

namespace pbx::fabric {

class Domain;
class Endpoint;

// One completion as the provider produces it (fields beyond a format's size are dropped).
struct Completion {
  void* op_context = nullptr;
  uint64_t flags = 0;
  size_t len = 0;
  void* buf = nullptr;
  uint64_t data = 0;
  uint64_t tag = 0;
  fi_addr_t src = FI_ADDR_NOTAVAIL;
};

class Cq {
 public:
  static int open(Domain* domain, fi_cq_attr* attr, fid_cq** out, void* context);

  // Hot path: appends a completion (no allocation unless the ring is full).
  void push(const Completion& c) noexcept {
    if (tail_ - head_ == mask_ + 1) [[unlikely]] grow();
    Slot& s = ring_[tail_ & mask_];
    s.c = c;
    s.error = false;
    ++tail_;
  }
  // Appends an error entry: err is a positive FI_E* value; `olen` the bytes that did not fit
  // (FI_ETRUNC); `message` is what fi_cq_strerror returns (what happened, what to do).
  void push_error(const Completion& c, int err, int prov_errno, size_t olen, std::string message) noexcept;

  void attach(Endpoint* ep);
  void detach(Endpoint* ep) noexcept;
  Domain* domain() const noexcept { return domain_; }

 private:
  struct Slot {
    Completion c;
    bool error = false;
  };
  struct ErrorEntry {
    int err;
    int prov_errno;
    size_t olen;
    std::string message;
  };

  Cq(Domain* domain, const fi_cq_attr& attr, void* context);
  void progress() noexcept;
  bool empty() const noexcept { return head_ == tail_; }
  ssize_t read(void* buf, size_t count, fi_addr_t* src) noexcept;
  ssize_t readerr(fi_cq_err_entry* out, uint64_t flags) noexcept;
  ssize_t sread(void* buf, size_t count, fi_addr_t* src, const void* cond, int timeout) noexcept;
  void write_entry(void* dst, const Completion& c) const noexcept;
  void grow() noexcept;

  static int close(fid* f);
  static int control(fid* f, int command, void* arg);
  static ssize_t op_read(fid_cq* cq, void* buf, size_t count);
  static ssize_t op_readfrom(fid_cq* cq, void* buf, size_t count, fi_addr_t* src);
  static ssize_t op_readerr(fid_cq* cq, fi_cq_err_entry* buf, uint64_t flags);
  static ssize_t op_sread(fid_cq* cq, void* buf, size_t count, const void* cond, int timeout);
  static ssize_t op_sreadfrom(fid_cq* cq, void* buf, size_t count, fi_addr_t* src, const void* cond, int timeout);
  static int op_signal(fid_cq* cq);
  static const char* op_strerror(fid_cq* cq, int prov_errno, const void* err_data, char* buf, size_t len);

  Handle<fid_cq, Cq> h_;
  Domain* domain_;
  fi_cq_format format_;
  size_t entry_size_;
  fi_wait_obj wait_obj_;
  std::vector<Slot> ring_;  // power-of-two capacity; head_ / tail_ count up
  size_t mask_ = 0;         // ring_.size() - 1
  size_t head_ = 0, tail_ = 0;
  std::deque<ErrorEntry> errors_;   // details of the error slots, in order
  std::string last_error_;          // err_data of the last fi_cq_readerr (valid until the next read)
  std::vector<Endpoint*> eps_;      // endpoints bound to this CQ: reading progresses them
  std::atomic<bool> signaled_{false};
  std::atomic<int> refs_{0};

  friend class Endpoint;
};

}  // namespace pbx::fabric
