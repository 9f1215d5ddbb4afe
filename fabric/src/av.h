// Address vector: fabric addresses (postbox job + rank) to fi_addr_t and back. fi_addr_t is
// the index of the entry, for FI_AV_TABLE and FI_AV_MAP alike; the data path turns it into a
// rank with one bounds-checked load (rank_of), and a received message's rank into the
// sender's fi_addr_t for FI_SOURCE (addr_of).
#pragma once

#include <rdma/fi_domain.h>

#include <atomic>
#include <vector>

#include "identity.h"
#include "provider.h"

namespace pbx::fabric {

class Domain;
class Eq;

class Av {
 public:
  static constexpr uint32_t kNoRank = 0xffffffffu;

  static int open(Domain* domain, fi_av_attr* attr, fid_av** out, void* context);

  uint32_t rank_of(fi_addr_t a) const noexcept { return a < ranks_.size() ? ranks_[a] : kNoRank; }
  fi_addr_t addr_of(uint32_t rank) const noexcept { return rank < addrs_.size() ? addrs_[rank] : FI_ADDR_NOTAVAIL; }
  // The job's size once an endpoint joined: addresses of ranks beyond it are refused.
  void set_job_size(uint32_t n) noexcept { job_size_ = n; }
  void ref() noexcept { refs_.fetch_add(1); }
  void unref() noexcept { refs_.fetch_sub(1); }

 private:
  Av(Domain* domain, const fi_av_attr& attr, void* context);
  // Inserts one address; 0 or a negative FI_E* value (the entry's fi_addr is FI_ADDR_NOTAVAIL).
  int insert_one(const void* addr, size_t len, fi_addr_t* out);
  int finish_insert(int ok, size_t count, const std::vector<int>& errors, uint64_t flags, void* context);

  static int close(fid* f);
  static int bind(fid* f, fid* bfid, uint64_t flags);
  static int op_insert(fid_av* av, const void* addr, size_t count, fi_addr_t* fi_addr, uint64_t flags,
                       void* context);
  static int op_insertsvc(fid_av* av, const char* node, const char* service, fi_addr_t* fi_addr, uint64_t flags,
                          void* context);
  static int op_insertsym(fid_av* av, const char* node, size_t nodecnt, const char* service, size_t svccnt,
                          fi_addr_t* fi_addr, uint64_t flags, void* context);
  static int op_remove(fid_av* av, fi_addr_t* fi_addr, size_t count, uint64_t flags);
  static int op_lookup(fid_av* av, fi_addr_t fi_addr, void* addr, size_t* addrlen);
  static const char* op_straddr(fid_av* av, const void* addr, char* buf, size_t* len);
  static int op_av_set(fid_av* av, fi_av_set_attr* attr, fid_av_set** set, void* context);

  Handle<fid_av, Av> h_;
  Domain* domain_;
  uint32_t job_;
  uint32_t job_size_;
  uint64_t flags_;
  Eq* eq_ = nullptr;
  std::vector<uint32_t> ranks_;   // by fi_addr_t; kNoRank once removed
  std::vector<fi_addr_t> addrs_;  // by rank; FI_ADDR_NOTAVAIL when not inserted
  std::atomic<int> refs_{0};
};

}  // namespace pbx::fabric
