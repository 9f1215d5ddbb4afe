// Who this process is in its job, from the environment (Endpoint::from_env):
//   loopback, postboxd   PBX_NODES, PBX_PROCS_PER_NODE, PBX_NODE, PBX_LOCAL (pbxrun sets them)
//   ivshmem, ntb         one process per node opens the node's device itself (PBX_DEVICE): the
//                        node index and node count come from the device; PBX_NODE and PBX_NODES
//                        are optional and, when set, must agree with it
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "pbx/config.hpp"
#include "pbx/hal/device.h"
#include "pbx/hal/factory.h"

namespace pbx::detail {

// "NAME is not set: start this program with pbxrun ..."
[[nodiscard]] Error missing_env(const char* name);
// PBX_NODES, PBX_PROCS_PER_NODE, PBX_NODE and PBX_LOCAL, all required.
[[nodiscard]] Result<std::pair<JobShape, Rank>> shape_from_env();

// What a process that opens its node's device may say about the job (each optional).
struct DeviceJobEnv {
  std::string backend;                 // "ivshmem" or "ntb"
  std::string device;                  // PBX_DEVICE: BDF[,options of the spec]
  std::optional<uint64_t> nodes;       // PBX_NODES
  std::optional<uint64_t> node;        // PBX_NODE
};

// Reads PBX_DEVICE, PBX_NODES, PBX_NODE, and checks PBX_PROCS_PER_NODE / PBX_LOCAL (1 / 0 where
// set: VFIO gives a device to one process; more processes per node go through postboxd).
[[nodiscard]] Result<DeviceJobEnv> device_job_env(const std::string& backend);
// The device spec "<backend>:<PBX_DEVICE>"; for ivshmem the fabric size comes from PBX_NODES
// unless the spec gives nodes=N (they must agree).
[[nodiscard]] Result<hal::DeviceSpec> device_spec_from_env(const DeviceJobEnv& env);
// The job shape and this process's rank on the opened device: nodes and node index from the
// device, one process per node. A PBX_NODE or PBX_NODES that disagrees is an error naming both.
[[nodiscard]] Result<std::pair<JobShape, Rank>> shape_on_device(const hal::DeviceInfo& info, const DeviceJobEnv& env);

}  // namespace pbx::detail
