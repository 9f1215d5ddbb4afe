#include "av.h"

#include <cstring>
#include <string>

#include "address.h"
#include "domain.h"
#include "eq.h"
#include "nosys.h"

namespace pbx::fabric {

Av::Av(Domain* domain, const fi_av_attr& attr, void* context)
    : domain_(domain), job_(domain->identity().job), job_size_(domain->identity().size), flags_(attr.flags) {
  static fi_ops fid_ops = {sizeof(fi_ops), &Av::close, &Av::bind, nosys::control, nosys::ops_open, nullptr, nullptr};
  static fi_ops_av ops = {sizeof(fi_ops_av), &Av::op_insert, &Av::op_insertsvc, &Av::op_insertsym,
                          &Av::op_remove,    &Av::op_lookup, &Av::op_straddr,   &Av::op_av_set};
  h_.self = this;
  h_.fid.fid.fclass = FI_CLASS_AV;
  h_.fid.fid.context = context;
  h_.fid.fid.ops = &fid_ops;
  h_.fid.ops = &ops;
  ranks_.reserve(attr.count);
}

int Av::open(Domain* domain, fi_av_attr* attr, fid_av** out, void* context) {
  if (attr == nullptr) return -FI_EINVAL;
  if (attr->type != FI_AV_UNSPEC && attr->type != FI_AV_MAP && attr->type != FI_AV_TABLE) return -FI_EINVAL;
  if (attr->name != nullptr) {
    PBX_FI_INFO(FI_LOG_AV, "postbox: named (shared) address vectors are not supported\n");
    return -FI_ENOSYS;
  }
  if (attr->rx_ctx_bits != 0) return -FI_EINVAL;  // no scalable endpoints
  if ((attr->flags & ~(FI_EVENT | FI_READ | FI_SYMMETRIC)) != 0) return -FI_EBADFLAGS;
  if (attr->type == FI_AV_UNSPEC) attr->type = FI_AV_TABLE;
  try {
    Av* av = new Av(domain, *attr, context);
    domain->ref();
    *out = &av->h_.fid;
    return 0;
  } catch (...) {
    return -FI_ENOMEM;
  }
}

int Av::close(fid* f) {
  Av* av = self_of_fid<Av, fid_av>(f);
  if (av->refs_.load() != 0) return -FI_EBUSY;
  if (av->eq_ != nullptr) av->eq_->unref();
  av->domain_->unref();
  delete av;
  return 0;
}

int Av::bind(fid* f, fid* bfid, uint64_t flags) {
  Av* av = self_of_fid<Av, fid_av>(f);
  if (bfid == nullptr || bfid->fclass != FI_CLASS_EQ || flags != 0) return -FI_EINVAL;
  if (av->eq_ != nullptr) return -FI_EBUSY;
  av->eq_ = self_of_fid<Eq, fid_eq>(bfid);
  av->eq_->ref();
  return 0;
}

int Av::insert_one(const void* addr, size_t len, fi_addr_t* out) {
  auto a = decode_address(addr, len);
  uint32_t rank = kNoRank;
  if (a && a->job == job_ && (job_size_ == 0 || a->rank < job_size_)) rank = a->rank;
  if (rank == kNoRank) {
    if (!a)
      PBX_FI_WARN(FI_LOG_AV, "postbox: fi_av_insert: not a postbox address (fi_getname of a postbox endpoint gives one)\n");
    else
      PBX_FI_WARN(FI_LOG_AV, "postbox: fi_av_insert: %s is not a process of this job (job %08x%s%u processes)\n",
                  to_string(*a).c_str(), job_, job_size_ != 0 ? ", " : "", job_size_);
    if (out != nullptr) *out = FI_ADDR_NOTAVAIL;
    return -FI_EADDRNOTAVAIL;
  }
  if (rank < addrs_.size() && addrs_[rank] != FI_ADDR_NOTAVAIL) {  // already there: the same fi_addr
    if (out != nullptr) *out = addrs_[rank];
    return 0;
  }
  ranks_.push_back(rank);
  if (addrs_.size() <= rank) addrs_.resize(rank + 1, FI_ADDR_NOTAVAIL);
  addrs_[rank] = ranks_.size() - 1;
  if (out != nullptr) *out = ranks_.size() - 1;
  return 0;
}

// Reports an insert's result the way libfabric's util address vectors do: with FI_EVENT, an
// error event per failed address and one FI_AV_COMPLETE event with the count; else the count,
// and with FI_SYNC_ERR the error of each address in `context` (an int array).
int Av::finish_insert(int ok, size_t count, const std::vector<int>& errors, uint64_t flags, void* context) {
  if ((flags_ & FI_EVENT) != 0) {
    for (size_t i = 0; i < count; ++i)
      if (errors[i] != 0)
        eq_->push_error(&h_.fid.fid, context, i, -errors[i],
                        "postbox: address " + std::to_string(i) + " is not a process of this job");
    fi_eq_entry done{&h_.fid.fid, context, static_cast<uint64_t>(ok)};
    eq_->push(FI_AV_COMPLETE, &done, sizeof done);
    return 0;
  }
  if ((flags & FI_SYNC_ERR) != 0)
    for (size_t i = 0; i < count; ++i) static_cast<int*>(context)[i] = -errors[i];
  return ok;
}

int Av::op_insert(fid_av* f, const void* addr, size_t count, fi_addr_t* fi_addr, uint64_t flags, void* context) {
  Av* av = self_of<Av>(f);
  if ((flags & ~(FI_MORE | FI_SYNC_ERR)) != 0) return -FI_EBADFLAGS;
  if ((av->flags_ & FI_EVENT) != 0 && av->eq_ == nullptr) return -FI_ENOEQ;
  if ((av->flags_ & FI_EVENT) != 0 && (flags & FI_SYNC_ERR) != 0) return -FI_EBADFLAGS;
  if ((flags & FI_SYNC_ERR) != 0 && context == nullptr) return -FI_EINVAL;
  if (count != 0 && addr == nullptr) return -FI_EINVAL;
  try {
    std::vector<int> errors(count, 0);
    int ok = 0;
    for (size_t i = 0; i < count; ++i) {
      errors[i] = av->insert_one(static_cast<const std::byte*>(addr) + i * sizeof(Address), sizeof(Address),
                                 fi_addr != nullptr ? &fi_addr[i] : nullptr);
      ok += errors[i] == 0 ? 1 : 0;
    }
    return av->finish_insert(ok, count, errors, flags, context);
  } catch (...) {
    return -FI_ENOMEM;
  }
}

int Av::op_insertsvc(fid_av* f, const char* node, const char* /*service*/, fi_addr_t* fi_addr, uint64_t flags,
                     void* context) {
  Av* av = self_of<Av>(f);
  if (node == nullptr) return -FI_EINVAL;
  auto a = parse_node(node, av->job_);
  if (!a) {
    PBX_FI_WARN(FI_LOG_AV, "postbox: fi_av_insertsvc: node '%s' is not a postbox address (a rank, or "
                           "postbox://<job>/<rank>)\n", node);
    if (fi_addr != nullptr) *fi_addr = FI_ADDR_NOTAVAIL;
    std::vector<int> errors{-FI_EADDRNOTAVAIL};
    return (av->flags_ & FI_EVENT) != 0 || (flags & FI_SYNC_ERR) != 0
               ? av->finish_insert(0, 1, errors, flags, context)
               : 0;
  }
  return op_insert(f, &*a, 1, fi_addr, flags, context);
}

int Av::op_insertsym(fid_av*, const char*, size_t, const char*, size_t, fi_addr_t*, uint64_t, void*) {
  return -FI_ENOSYS;
}

int Av::op_remove(fid_av* f, fi_addr_t* fi_addr, size_t count, uint64_t flags) {
  Av* av = self_of<Av>(f);
  if (flags != 0) return -FI_EBADFLAGS;
  for (size_t i = 0; i < count; ++i) {
    const uint32_t rank = av->rank_of(fi_addr[i]);
    if (rank == kNoRank) return -FI_EINVAL;
    av->ranks_[fi_addr[i]] = kNoRank;
    av->addrs_[rank] = FI_ADDR_NOTAVAIL;
  }
  return 0;
}

int Av::op_lookup(fid_av* f, fi_addr_t fi_addr, void* addr, size_t* addrlen) {
  Av* av = self_of<Av>(f);
  const uint32_t rank = av->rank_of(fi_addr);
  if (rank == kNoRank) return -FI_EINVAL;
  Address a;
  a.job = av->job_;
  a.rank = rank;
  const size_t have = *addrlen;
  *addrlen = sizeof a;
  std::memcpy(addr, &a, std::min(have, sizeof a));
  return have < sizeof a ? -FI_ETOOSMALL : 0;
}

const char* Av::op_straddr(fid_av*, const void* addr, char* buf, size_t* len) {
  auto a = decode_address(addr, sizeof(Address));
  const std::string s = a ? to_string(*a) : std::string("postbox://(not a postbox address)");
  if (buf != nullptr && *len > 0) {
    const size_t n = std::min(*len - 1, s.size());
    std::memcpy(buf, s.data(), n);
    buf[n] = '\0';
  }
  *len = s.size() + 1;
  return buf;
}

int Av::op_av_set(fid_av*, fi_av_set_attr*, fid_av_set**, void*) { return -FI_ENOSYS; }

}  // namespace pbx::fabric
