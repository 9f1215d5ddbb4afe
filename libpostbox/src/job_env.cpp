#include "job_env.h"

#include <cerrno>
#include <cstdlib>

namespace pbx::detail {
namespace {

// A PBX_* number; nullopt when unset or empty.
Result<std::optional<uint64_t>> env_optional(const char* name) {
  const char* s = std::getenv(name);
  if (s == nullptr || *s == '\0') return std::optional<uint64_t>{};
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (*end != '\0' || errno != 0 || s[0] == '-')
    return fail(Errc::kInvalidArgument, "%s = '%s' is not a number", name, s);
  return std::optional<uint64_t>{v};
}

Result<uint64_t> env_required(const char* name) {
  auto v = env_optional(name);
  if (!v) return tl::unexpected(v.error());
  if (!*v) return tl::unexpected(missing_env(name));
  return **v;
}

}  // namespace

Error missing_env(const char* name) {
  return make_error(Errc::kInvalidArgument,
                    "%s is not set: start this program with pbxrun (for example `pbxrun -N 2 -n 1 -- ./prog`), which "
                    "sets PBX_JOB, PBX_NODES, PBX_PROCS_PER_NODE, PBX_NODE and PBX_LOCAL",
                    name);
}

Result<std::pair<JobShape, Rank>> shape_from_env() {
  auto nodes = env_required("PBX_NODES");
  if (!nodes) return tl::unexpected(nodes.error());
  auto ppn = env_required("PBX_PROCS_PER_NODE");
  if (!ppn) return tl::unexpected(ppn.error());
  auto node = env_required("PBX_NODE");
  if (!node) return tl::unexpected(node.error());
  auto local = env_required("PBX_LOCAL");
  if (!local) return tl::unexpected(local.error());
  if (*nodes > JobShape::kMaxNodes || *ppn > JobShape::kMaxProcsPerNode || *node >= *nodes || *local >= *ppn)
    return fail(Errc::kInvalidArgument,
                "PBX_NODE = %llu / PBX_LOCAL = %llu do not fit the job shape PBX_NODES = %llu x PBX_PROCS_PER_NODE = "
                "%llu (limits %u x %u)",
                static_cast<unsigned long long>(*node), static_cast<unsigned long long>(*local),
                static_cast<unsigned long long>(*nodes), static_cast<unsigned long long>(*ppn), JobShape::kMaxNodes,
                JobShape::kMaxProcsPerNode);
  return std::pair{JobShape{static_cast<uint16_t>(*nodes), static_cast<uint16_t>(*ppn)},
                   Rank{static_cast<uint16_t>(*node), static_cast<uint16_t>(*local)}};
}

Result<DeviceJobEnv> device_job_env(const std::string& backend) {
  DeviceJobEnv e;
  e.backend = backend;
  const char* dev = std::getenv("PBX_DEVICE");
  if (dev == nullptr || *dev == '\0')
    return fail(Errc::kInvalidArgument,
                "PBX_BACKEND=%s needs PBX_DEVICE=<BDF>, the PCI address of this node's device as `lspci -D` prints "
                "it (for example PBX_DEVICE=%s; options of the spec may follow: PBX_DEVICE=%s,window=4M)",
                backend.c_str(), backend == "ntb" ? "0000:af:00.0" : "0000:00:04.0",
                backend == "ntb" ? "0000:af:00.0" : "0000:00:04.0");
  e.device = dev;
  auto nodes = env_optional("PBX_NODES");
  if (!nodes) return tl::unexpected(nodes.error());
  e.nodes = *nodes;
  auto node = env_optional("PBX_NODE");
  if (!node) return tl::unexpected(node.error());
  e.node = *node;
  auto ppn = env_optional("PBX_PROCS_PER_NODE");
  if (!ppn) return tl::unexpected(ppn.error());
  auto local = env_optional("PBX_LOCAL");
  if (!local) return tl::unexpected(local.error());
  if ((*ppn && **ppn != 1) || (*local && **local != 0))
    return fail(Errc::kInvalidArgument,
                "PBX_BACKEND=%s opens the device in this process, and VFIO gives a device to one process: "
                "PBX_PROCS_PER_NODE must be 1 and PBX_LOCAL 0 (they are %llu and %llu); for several processes per "
                "node run `postboxd --device %s:%s` and use PBX_BACKEND=postboxd",
                backend.c_str(), static_cast<unsigned long long>(ppn->value_or(1)),
                static_cast<unsigned long long>(local->value_or(0)), backend.c_str(), dev);
  return e;
}

Result<hal::DeviceSpec> device_spec_from_env(const DeviceJobEnv& env) {
  auto spec = hal::parse_device_spec(env.backend + ":" + env.device);
  if (!spec)
    return tl::unexpected(with_context(spec.error(), "PBX_BACKEND=" + env.backend + " PBX_DEVICE=" + env.device));
  if (spec->kind == hal::DeviceSpec::Kind::kIvshmem && env.nodes) {
    if (spec->nodes && *spec->nodes != *env.nodes)
      return fail(Errc::kInvalidArgument,
                  "PBX_NODES = %llu but PBX_DEVICE = '%s' says nodes=%u: give the fabric's node count once, or the "
                  "same in both",
                  static_cast<unsigned long long>(*env.nodes), env.device.c_str(), *spec->nodes);
    if (*env.nodes < 1 || *env.nodes > JobShape::kMaxNodes)
      return fail(Errc::kInvalidArgument, "PBX_NODES = %llu is not in 1..%u",
                  static_cast<unsigned long long>(*env.nodes), JobShape::kMaxNodes);
    spec->nodes = static_cast<uint16_t>(*env.nodes);
  }
  return spec;
}

Result<std::pair<JobShape, Rank>> shape_on_device(const hal::DeviceInfo& info, const DeviceJobEnv& env) {
  const char* where = env.backend == "ntb"
                          ? "Intel NTB: the USD side is node 0, the DSD side node 1; AMD: the primary side is node 0; "
                            "Switchtec: the rank of the host's partition among the job's partitions"
                          : "for ivshmem it is the VM's IVPosition";
  if (env.node && *env.node != info.self.v)
    return fail(Errc::kInvalidArgument,
                "PBX_NODE = %llu but the %s device %s is node %u (the node index comes from the device: %s): unset "
                "PBX_NODE or set PBX_NODE=%u",
                static_cast<unsigned long long>(*env.node), info.backend.c_str(), info.name.c_str(), info.self.v, where,
                info.self.v);
  if (env.nodes && *env.nodes != info.node_count)
    return fail(Errc::kInvalidArgument,
                "PBX_NODES = %llu but the %s device %s connects %u nodes: unset PBX_NODES or set PBX_NODES=%u",
                static_cast<unsigned long long>(*env.nodes), info.backend.c_str(), info.name.c_str(), info.node_count,
                info.node_count);
  return std::pair{JobShape{info.node_count, 1}, Rank{info.self.v, 0}};
}

}  // namespace pbx::detail
