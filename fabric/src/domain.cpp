// The domain object: opens address vectors, completion queues, counters and endpoints, and
// registers memory (which nothing needs: see domain.h).
#include "domain.h"

#include <cstring>

#include "av.h"
#include "cntr.h"
#include "cq.h"
#include "ep.h"
#include "nosys.h"

namespace pbx::fabric {

Domain::Domain(Fabric* fabric, fi_info* info, Identity id, void* context)
    : fabric_(fabric), info_(info), id_(std::move(id)) {
  static fi_ops fid_ops = {sizeof(fi_ops), &Domain::close, nosys::bind, nosys::control, nosys::ops_open, nullptr,
                           nullptr};
  static fi_ops_domain ops = {sizeof(fi_ops_domain), &Domain::av_open,     &Domain::cq_open,
                              &Domain::endpoint,     &Domain::scalable_ep, &Domain::cntr_open,
                              &Domain::poll_open,    &Domain::stx_ctx,     &Domain::srx_ctx,
                              &Domain::query_atomic, &Domain::query_collective, nullptr};
  static fi_ops_mr mr_ops = {sizeof(fi_ops_mr), &mr_reg, &mr_regv, &mr_regattr};
  h_.self = this;
  h_.fid.fid.fclass = FI_CLASS_DOMAIN;
  h_.fid.fid.context = context;
  h_.fid.fid.ops = &fid_ops;
  h_.fid.ops = &ops;
  h_.fid.mr = &mr_ops;
}

Domain::~Domain() { fi_freeinfo(info_); }

int Domain::open(Fabric* fabric, fi_info* info, fid_domain** out, void* context) {
  if (info == nullptr || info->domain_attr == nullptr) return -FI_EINVAL;
  if (info->domain_attr->name != nullptr && std::strcmp(info->domain_attr->name, kDomainName) != 0) {
    PBX_FI_WARN(FI_LOG_DOMAIN, "postbox: domain name '%s' is not '%s'\n", info->domain_attr->name, kDomainName);
    return -FI_EINVAL;
  }
  Identity id = identity_from_env();
  if (!id.in_job) {
    PBX_FI_WARN(FI_LOG_DOMAIN, "postbox: %s\n", id.why_not.c_str());
    return -FI_ENODEV;
  }
  fi_info* copy = fi_dupinfo(info);
  if (copy == nullptr) return -FI_ENOMEM;
  try {
    Domain* d = new Domain(fabric, copy, std::move(id), context);
    fabric->ref();
    *out = &d->h_.fid;
    return 0;
  } catch (...) {
    fi_freeinfo(copy);
    return -FI_ENOMEM;
  }
}

int Domain::close(fid* f) {
  Domain* d = self_of_fid<Domain, fid_domain>(f);
  if (d->refs_.load() != 0) return -FI_EBUSY;  // an endpoint, CQ, AV, counter or MR is still open
  d->fabric_->unref();
  delete d;
  return 0;
}

int Domain::av_open(fid_domain* d, fi_av_attr* attr, fid_av** av, void* context) {
  return Av::open(self_of<Domain>(d), attr, av, context);
}
int Domain::cq_open(fid_domain* d, fi_cq_attr* attr, fid_cq** cq, void* context) {
  return Cq::open(self_of<Domain>(d), attr, cq, context);
}
int Domain::endpoint(fid_domain* d, fi_info* info, fid_ep** ep, void* context) {
  return Endpoint::open(self_of<Domain>(d), info, ep, context);
}
int Domain::cntr_open(fid_domain* d, fi_cntr_attr* attr, fid_cntr** cntr, void* context) {
  return Cntr::open(self_of<Domain>(d), attr, cntr, context);
}
int Domain::scalable_ep(fid_domain*, fi_info*, fid_ep**, void*) { return -FI_ENOSYS; }
int Domain::poll_open(fid_domain*, fi_poll_attr*, fid_poll**) { return -FI_ENOSYS; }
int Domain::stx_ctx(fid_domain*, fi_tx_attr*, fid_stx**, void*) { return -FI_ENOSYS; }
int Domain::srx_ctx(fid_domain*, fi_rx_attr*, fid_ep**, void*) { return -FI_ENOSYS; }
int Domain::query_atomic(fid_domain*, fi_datatype, fi_op, fi_atomic_attr*, uint64_t) { return -FI_ENOSYS; }
int Domain::query_collective(fid_domain*, fi_collective_op, fi_collective_attr*, uint64_t) { return -FI_ENOSYS; }

// ---- memory registration ----------------------------------------------------------------

namespace {

struct Mr {
  Handle<fid_mr, Mr> h;
  Domain* domain;
};

int mr_close(fid* f) {
  Mr* mr = self_of_fid<Mr, fid_mr>(f);
  mr->domain->unref();
  delete mr;
  return 0;
}

int mr_bind(fid*, fid*, uint64_t) { return 0; }  // to an endpoint or counter: nothing to do

int mr_control(fid*, int command, void*) { return command == FI_ENABLE ? 0 : -FI_ENOSYS; }

int make_mr(Domain* d, uint64_t requested_key, uint64_t flags, fid_mr** out, void* context) {
  if (flags != 0) return -FI_EBADFLAGS;
  static fi_ops ops = {sizeof(fi_ops), &mr_close, &mr_bind, &mr_control, nosys::ops_open, nullptr, nullptr};
  Mr* mr = new (std::nothrow) Mr{};
  if (mr == nullptr) return -FI_ENOMEM;
  mr->h.self = mr;
  mr->h.fid.fid.fclass = FI_CLASS_MR;
  mr->h.fid.fid.context = context;
  mr->h.fid.fid.ops = &ops;
  mr->h.fid.mem_desc = nullptr;  // no descriptor is needed for sends and receives
  mr->h.fid.key = requested_key;
  mr->domain = d;
  d->ref();
  *out = &mr->h.fid;
  return 0;
}

}  // namespace

int mr_reg(fid* f, const void* /*buf*/, size_t /*len*/, uint64_t /*access*/, uint64_t /*offset*/,
           uint64_t requested_key, uint64_t flags, fid_mr** mr, void* context) {
  return make_mr(self_of_fid<Domain, fid_domain>(f), requested_key, flags, mr, context);
}

int mr_regv(fid* f, const iovec* /*iov*/, size_t count, uint64_t /*access*/, uint64_t /*offset*/,
            uint64_t requested_key, uint64_t flags, fid_mr** mr, void* context) {
  if (count > 1) return -FI_EINVAL;  // mr_iov_limit = 1
  return make_mr(self_of_fid<Domain, fid_domain>(f), requested_key, flags, mr, context);
}

int mr_regattr(fid* f, const fi_mr_attr* attr, uint64_t flags, fid_mr** mr) {
  if (attr == nullptr || attr->iov_count > 1) return -FI_EINVAL;
  if (attr->iface != FI_HMEM_SYSTEM) return -FI_ENOSYS;  // host memory only
  return make_mr(self_of_fid<Domain, fid_domain>(f), attr->requested_key, flags, mr, attr->context);
}

}  // namespace pbx::fabric
