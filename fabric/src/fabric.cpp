// The fabric object: opens domains and event queues.
#include <cstring>

#include "domain.h"
#include "eq.h"
#include "nosys.h"

namespace pbx::fabric {
namespace {

int no_passive_ep(fid_fabric*, fi_info*, fid_pep**, void*) { return -FI_ENOSYS; }  // RDM only: nothing listens

}  // namespace

Fabric::Fabric(void* context) {
  static fi_ops fid_ops = {sizeof(fi_ops), &Fabric::close, nosys::bind, nosys::control, nosys::ops_open, nullptr,
                           nullptr};
  static fi_ops_fabric ops = {sizeof(fi_ops_fabric), &Fabric::domain,    &no_passive_ep,  &Fabric::eq_open,
                              &Fabric::wait_open,    &Fabric::trywait, &Fabric::domain2};
  h_.self = this;
  h_.fid.fid.fclass = FI_CLASS_FABRIC;
  h_.fid.fid.context = context;
  h_.fid.fid.ops = &fid_ops;
  h_.fid.ops = &ops;
}

int Fabric::open(fi_fabric_attr* attr, fid_fabric** out, void* context) {
  if (attr == nullptr || attr->name == nullptr || std::strcmp(attr->name, kFabricName) != 0) {
    PBX_FI_WARN(FI_LOG_FABRIC, "postbox: fabric name '%s' is not '%s'\n",
                attr != nullptr && attr->name != nullptr ? attr->name : "(none)", kFabricName);
    return -FI_ENODATA;
  }
  try {
    Fabric* f = new Fabric(context);
    *out = &f->h_.fid;
    return 0;
  } catch (...) {
    return -FI_ENOMEM;
  }
}

int Fabric::close(fid* f) {
  Fabric* fab = self_of_fid<Fabric, fid_fabric>(f);
  if (fab->refs_.load() != 0) return -FI_EBUSY;
  delete fab;
  return 0;
}

int Fabric::domain(fid_fabric* f, fi_info* info, fid_domain** dom, void* context) {
  return Domain::open(self_of<Fabric>(f), info, dom, context);
}

int Fabric::domain2(fid_fabric* f, fi_info* info, fid_domain** dom, uint64_t flags, void* context) {
  return flags != 0 ? -FI_EBADFLAGS : Domain::open(self_of<Fabric>(f), info, dom, context);
}

int Fabric::eq_open(fid_fabric* f, fi_eq_attr* attr, fid_eq** eq, void* context) {
  return Eq::open(self_of<Fabric>(f), attr, eq, context);
}

int Fabric::wait_open(fid_fabric*, fi_wait_attr*, fid_wait**) { return -FI_ENOSYS; }
// Whether it is safe to block on the wait objects of `fids`: only event queues have one (an
// eventfd); completion queues and counters are polled (fi_cq_sread spins and yields).
int Fabric::trywait(fid_fabric*, fid** fids, int count) {
  for (int i = 0; i < count; ++i) {
    if (fids[i]->fclass != FI_CLASS_EQ) return -FI_ENOSYS;
    if (!self_of_fid<Eq, fid_eq>(fids[i])->empty()) return -FI_EAGAIN;
  }
  return 0;
}

}  // namespace pbx::fabric
