#include "nosys.h"

#include <rdma/fi_errno.h>

namespace pbx::fabric::nosys {
namespace {

// A function with the signature of ops-table member `F` that returns -FI_ENOSYS.
template <class F>
struct Enosys;
template <class R, class... A>
struct Enosys<R (*)(A...)> {
  static R fn(A...) { return static_cast<R>(-FI_ENOSYS); }
};

#define PBX_ENOSYS(table, member) Enosys<decltype(table::member)>::fn

}  // namespace

int ops_open(fid*, const char*, uint64_t, void**, void*) { return -FI_ENOSYS; }
int bind(fid*, fid*, uint64_t) { return -FI_ENOSYS; }
int control(fid*, int, void*) { return -FI_ENOSYS; }

int setname(fid_t, void*, size_t) { return -FI_ENOSYS; }
int getpeer(fid_ep*, void*, size_t*) { return -FI_ENOSYS; }
int connect(fid_ep*, const void*, const void*, size_t) { return -FI_ENOSYS; }
int listen(fid_pep*) { return -FI_ENOSYS; }
int accept(fid_ep*, const void*, size_t) { return -FI_ENOSYS; }
int reject(fid_pep*, fid_t, const void*, size_t) { return -FI_ENOSYS; }
int shutdown(fid_ep*, uint64_t) { return -FI_ENOSYS; }
int join(fid_ep*, const void*, uint64_t, fid_mc**, void*) { return -FI_ENOSYS; }

fi_ops_rma rma = {
    sizeof(fi_ops_rma),
    PBX_ENOSYS(fi_ops_rma, read),
    PBX_ENOSYS(fi_ops_rma, readv),
    PBX_ENOSYS(fi_ops_rma, readmsg),
    PBX_ENOSYS(fi_ops_rma, write),
    PBX_ENOSYS(fi_ops_rma, writev),
    PBX_ENOSYS(fi_ops_rma, writemsg),
    PBX_ENOSYS(fi_ops_rma, inject),
    PBX_ENOSYS(fi_ops_rma, writedata),
    PBX_ENOSYS(fi_ops_rma, injectdata),
};

fi_ops_atomic atomic = {
    sizeof(fi_ops_atomic),
    PBX_ENOSYS(fi_ops_atomic, write),
    PBX_ENOSYS(fi_ops_atomic, writev),
    PBX_ENOSYS(fi_ops_atomic, writemsg),
    PBX_ENOSYS(fi_ops_atomic, inject),
    PBX_ENOSYS(fi_ops_atomic, readwrite),
    PBX_ENOSYS(fi_ops_atomic, readwritev),
    PBX_ENOSYS(fi_ops_atomic, readwritemsg),
    PBX_ENOSYS(fi_ops_atomic, compwrite),
    PBX_ENOSYS(fi_ops_atomic, compwritev),
    PBX_ENOSYS(fi_ops_atomic, compwritemsg),
    PBX_ENOSYS(fi_ops_atomic, writevalid),
    PBX_ENOSYS(fi_ops_atomic, readwritevalid),
    PBX_ENOSYS(fi_ops_atomic, compwritevalid),
};

fi_ops_collective collective = {
    sizeof(fi_ops_collective),
    PBX_ENOSYS(fi_ops_collective, barrier),
    PBX_ENOSYS(fi_ops_collective, broadcast),
    PBX_ENOSYS(fi_ops_collective, alltoall),
    PBX_ENOSYS(fi_ops_collective, allreduce),
    PBX_ENOSYS(fi_ops_collective, allgather),
    PBX_ENOSYS(fi_ops_collective, reduce_scatter),
    PBX_ENOSYS(fi_ops_collective, reduce),
    PBX_ENOSYS(fi_ops_collective, scatter),
    PBX_ENOSYS(fi_ops_collective, gather),
    PBX_ENOSYS(fi_ops_collective, msg),
    PBX_ENOSYS(fi_ops_collective, barrier2),
};

}  // namespace pbx::fabric::nosys
