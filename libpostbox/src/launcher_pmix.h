// Identity from a PMIx launcher (Open MPI's mpirun, Slurm's srun --mpi=pmix): a process that
// such a launcher started, and pbxrun did not, learns its rank and its job's shape from PMIx
// (Endpoint::from_env asks here first; pbxrun's variables win when both are set: PBX_LOCAL).
//
// Shape: loopback (every process on one host): PBX_PROCS_PER_NODE processes per simulated node
// (default: all of them on one node), rank r is node r / ppn, local r % ppn. postboxd: one node
// per host (PMIx node id, or PBX_NODE), the local rank on it, the same number on every host;
// ranks must go host by host (mpirun --map-by slot), so that rank = node * ppn + local.
//
// The loopback job's shared memory: PMIx rank 0 creates it (named pmix-<namespace>) and asks
// the PMIx server to remove its files when the job ends, however it ends (PMIX_REGISTER_CLEANUP;
// `pbxrun --cleanup pmix-<namespace>` removes a job whose launcher itself died). The other
// processes wait, up to Config::timeout_ms, until its files are complete, then open them. No
// PMIx collective is used: an MPI library in the same process runs its own fences.
#pragma once

#include <string>

#include "pbx/config.hpp"

namespace pbx::detail {

// A PMIx launcher started this process (PMIX_NAMESPACE is set) and pbxrun did not (no PBX_LOCAL).
bool pmix_launched() noexcept;

struct LauncherJob {
  JobShape shape;
  Rank self;
  std::string loopback_job;  // loopback: the job's name; its files exist when join_pmix_job returns
};

// Connects to the PMIx server, reads the job's shape and this process's rank, and (loopback)
// makes sure the job's shared memory exists. `base` is the configuration the endpoint will use
// (it sizes the loopback windows). Fails with a message naming what PMIx lacked or what to set.
Result<LauncherJob> join_pmix_job(const std::string& backend, const Config& base);

}  // namespace pbx::detail
