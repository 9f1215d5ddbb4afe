// The fabric and domain objects. There is one fabric ("postbox") and one domain ("postbox")
// per job; a domain remembers the fi_info it was opened with (defaults of its endpoints), the
// process's identity and the postbox configuration its endpoint joins with.
#pragma once

#include <rdma/fi_domain.h>

#include <atomic>

#include "identity.h"
#include "provider.h"

namespace pbx::fabric {

class Fabric {
 public:
  static int open(fi_fabric_attr* attr, fid_fabric** out, void* context);
  uint32_t api_version() const noexcept { return h_.fid.api_version; }
  void ref() noexcept { refs_.fetch_add(1); }
  void unref() noexcept { refs_.fetch_sub(1); }

 private:
  explicit Fabric(void* context);
  static int close(fid* f);
  static int domain(fid_fabric* f, fi_info* info, fid_domain** dom, void* context);
  static int domain2(fid_fabric* f, fi_info* info, fid_domain** dom, uint64_t flags, void* context);
  static int eq_open(fid_fabric* f, fi_eq_attr* attr, fid_eq** eq, void* context);
  static int wait_open(fid_fabric* f, fi_wait_attr* attr, fid_wait** waitset);
  static int trywait(fid_fabric* f, fid** fids, int count);

  Handle<fid_fabric, Fabric> h_;
  std::atomic<int> refs_{0};
};

class Domain {
 public:
  static int open(Fabric* fabric, fi_info* info, fid_domain** out, void* context);
  ~Domain();

  Fabric* fabric() const noexcept { return fabric_; }
  uint32_t api_version() const noexcept { return fabric_->api_version(); }
  const fi_info& info() const noexcept { return *info_; }
  const Identity& identity() const noexcept { return id_; }
  void ref() noexcept { refs_.fetch_add(1); }
  void unref() noexcept { refs_.fetch_sub(1); }

 private:
  Domain(Fabric* fabric, fi_info* info, Identity id, void* context);
  static int close(fid* f);
  static int av_open(fid_domain* d, fi_av_attr* attr, fid_av** av, void* context);
  static int cq_open(fid_domain* d, fi_cq_attr* attr, fid_cq** cq, void* context);
  static int endpoint(fid_domain* d, fi_info* info, fid_ep** ep, void* context);
  static int scalable_ep(fid_domain* d, fi_info* info, fid_ep** sep, void* context);
  static int cntr_open(fid_domain* d, fi_cntr_attr* attr, fid_cntr** cntr, void* context);
  static int poll_open(fid_domain* d, fi_poll_attr* attr, fid_poll** pollset);
  static int stx_ctx(fid_domain* d, fi_tx_attr* attr, fid_stx** stx, void* context);
  static int srx_ctx(fid_domain* d, fi_rx_attr* attr, fid_ep** rx_ep, void* context);
  static int query_atomic(fid_domain* d, fi_datatype datatype, fi_op op, fi_atomic_attr* attr, uint64_t flags);
  static int query_collective(fid_domain* d, fi_collective_op coll, fi_collective_attr* attr, uint64_t flags);

  Handle<fid_domain, Domain> h_;
  Fabric* fabric_;
  fi_info* info_;
  Identity id_;
  std::atomic<int> refs_{0};
};

// Memory registration: nothing needs registering (no RMA; sends and receives use any memory),
// but applications that register anyway get a valid region with a key and no descriptor.
int mr_reg(fid* f, const void* buf, size_t len, uint64_t access, uint64_t offset, uint64_t requested_key,
           uint64_t flags, fid_mr** mr, void* context);
int mr_regv(fid* f, const iovec* iov, size_t count, uint64_t access, uint64_t offset, uint64_t requested_key,
            uint64_t flags, fid_mr** mr, void* context);
int mr_regattr(fid* f, const fi_mr_attr* attr, uint64_t flags, fid_mr** mr);

}  // namespace pbx::fabric
