// Entries of libfabric's ops tables for what the provider does not do: each returns
// -FI_ENOSYS (libfabric's convention for an operation a provider lacks), so that an
// application calling, say, fi_write gets an error code, never a crash. The RMA, atomic and
// collective tables are made of these: the provider does not offer FI_RMA or FI_ATOMIC.
#pragma once

#include <rdma/fabric.h>
#include <rdma/fi_atomic.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_collective.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_rma.h>

namespace pbx::fabric::nosys {

int ops_open(fid* f, const char* name, uint64_t flags, void** ops, void* context);
int bind(fid* f, fid* bfid, uint64_t flags);
int control(fid* f, int command, void* arg);

extern fi_ops_rma rma;
extern fi_ops_atomic atomic;
extern fi_ops_collective collective;

// Connection management of an RDM endpoint: getname is real (Endpoint), the rest is not.
int setname(fid_t f, void* addr, size_t addrlen);
int getpeer(fid_ep* ep, void* addr, size_t* addrlen);
int connect(fid_ep* ep, const void* addr, const void* param, size_t paramlen);
int listen(fid_pep* pep);
int accept(fid_ep* ep, const void* param, size_t paramlen);
int reject(fid_pep* pep, fid_t handle, const void* param, size_t paramlen);
int shutdown(fid_ep* ep, uint64_t flags);
int join(fid_ep* ep, const void* addr, uint64_t flags, fid_mc** mc, void* context);

}  // namespace pbx::fabric::nosys
