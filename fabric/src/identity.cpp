#include "identity.h"

#include <cerrno>
#include <cstdlib>

#include "address.h"

namespace pbx::fabric {
namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : nullptr;
}

bool env_number(const char* name, uint64_t& out) {
  const char* v = env(name);
  if (v == nullptr) return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long x = std::strtoull(v, &end, 10);
  if (*end != '\0' || errno != 0 || v[0] == '-') return false;
  out = x;
  return true;
}

}  // namespace

Identity identity_from_env() {
  Identity id;
  const char* backend_env = env("PBX_BACKEND");
  const std::string backend = backend_env != nullptr ? backend_env : "loopback";
  uint64_t nodes = 0, ppn = 0, node = 0, local = 0;
  const bool pbx_rank = env_number("PBX_NODE", node) && env_number("PBX_LOCAL", local);
  const char* pmix_ns = env("PMIX_NAMESPACE");

  if (backend == "ntb" || backend == "ivshmem") {
    // One process per node opens the device; the device knows the node index.
    if (env("PBX_DEVICE") == nullptr) {
      id.why_not = "PBX_BACKEND=" + backend + " needs PBX_DEVICE=<BDF> (the node's device, as `lspci -D` prints it)";
      return id;
    }
    const char* job = env("PBX_JOB");
    id.job_name = job != nullptr ? job : backend;
    if (env_number("PBX_NODE", node)) id.rank = static_cast<uint32_t>(node);
    if (env_number("PBX_NODES", nodes)) id.size = static_cast<uint32_t>(nodes);
  } else if (pbx_rank) {
    // pbxrun (loopback) or a process started by hand next to postboxd.
    if (backend == "loopback") {
      const char* job = env("PBX_JOB");
      if (job == nullptr) {
        id.why_not = "PBX_NODE is set but PBX_JOB is not: start the program with pbxrun (pbxrun -N 2 -n 1 -- ./app)";
        return id;
      }
      id.job_name = job;
    } else {
      const char* sock = env("PBX_POSTBOXD_SOCKET");
      id.job_name = std::string("postboxd:") + (sock != nullptr ? sock : "default");
    }
    if (env_number("PBX_NODES", nodes) && env_number("PBX_PROCS_PER_NODE", ppn) && local < ppn && node < nodes) {
      id.rank = static_cast<uint32_t>(node * ppn + local);
      id.size = static_cast<uint32_t>(nodes * ppn);
    }
  } else if (pmix_ns != nullptr) {
    // mpirun, srun --mpi=pmix: libpostbox reads the job's shape from PMIx when it joins.
    id.job_name = pmix_ns;
    uint64_t r = 0;
    if (env_number("PMIX_RANK", r)) id.rank = static_cast<uint32_t>(r);
  } else {
    id.why_not =
        "this process is not part of a postbox job: start it with pbxrun (`pbxrun -N 2 -n 1 -- ./app`), with a PMIx "
        "launcher (`mpirun -np 2 ./app`, `srun --mpi=pmix`), or next to postboxd with PBX_BACKEND=postboxd, PBX_NODES, "
        "PBX_PROCS_PER_NODE, PBX_NODE and PBX_LOCAL";
    return id;
  }
  id.in_job = true;
  id.job = job_hash(id.job_name);
  return id;
}

}  // namespace pbx::fabric
