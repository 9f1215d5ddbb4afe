// Whether this process is part of a postbox job, and which, as far as the environment tells
// before it joins (fi_getinfo runs long before fi_enable). Joining itself is
// pbx::Endpoint::from_env(), in fi_enable: it reads the same variables (pbxrun's, or PMIx when
// a PMIx launcher such as mpirun or srun --mpi=pmix started the process).
#pragma once

#include <cstdint>
#include <string>

namespace pbx::fabric {

struct Identity {
  bool in_job = false;
  std::string why_not;      // when !in_job: what is missing and what to do
  std::string job_name;     // PBX_JOB, the PMIx namespace, or the postboxd socket
  uint32_t job = 0;         // job_hash(job_name)
  uint32_t rank = 0xffffffffu;  // flat rank when known before joining, else Address::kUnknownRank
  uint32_t size = 0;        // processes in the job when known before joining, else 0
};

// Reads PBX_* (pbxrun, postboxd, NTB) and PMIX_* variables; never blocks, never allocates
// anything that outlives the call but the strings.
Identity identity_from_env();

}  // namespace pbx::fabric
