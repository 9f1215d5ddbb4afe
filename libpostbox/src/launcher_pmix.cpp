#include "launcher_pmix.h"

#include <sys/stat.h>
#include <time.h>

#include <cstdlib>
#include <string>

#ifdef PBX_HAVE_PMIX
#include <dlfcn.h>
#include <pmix.h>

#include <cstring>

#include "layout.h"
#include "pbx/hal/loopback.h"
#endif

namespace pbx::detail {

bool pmix_launched() noexcept {
  const char* ns = std::getenv("PMIX_NAMESPACE");
  const char* local = std::getenv("PBX_LOCAL");  // pbxrun sets it; a launcher's job cannot (it differs per process)
  return ns != nullptr && *ns != '\0' && (local == nullptr || *local == '\0');
}

#ifndef PBX_HAVE_PMIX

Result<LauncherJob> join_pmix_job(const std::string&, const Config&) {
  return fail(Errc::kNotSupported,
              "a PMIx launcher started this process (PMIX_NAMESPACE is set) but libpostbox was built without PMIx "
              "(libpmix-dev): rebuild with it, or start the program with pbxrun");
}

#else

namespace {

// libpmix, loaded when a PMIx launcher started the process (not linked: libpostbox users
// started any other way load nothing of it). An MPI library that loaded it already shares it.
struct Pmix {
  decltype(&::PMIx_Init) init = nullptr;
  decltype(&::PMIx_Finalize) finalize = nullptr;
  decltype(&::PMIx_Get) get = nullptr;
  decltype(&::PMIx_Job_control) job_control = nullptr;
  decltype(&::PMIx_Error_string) error_string = nullptr;
  decltype(&::PMIx_Value_destruct) value_destruct = nullptr;
  decltype(&::PMIx_Info_load) info_load = nullptr;
};

Result<const Pmix*> load_pmix() {
  static Pmix api;
  static std::string failure;
  static const bool loaded = [] {
    void* h = nullptr;
    for (const char* name : {PBX_PMIX_LIBRARY, "libpmix.so.2", "libpmix.so"})
      if ((h = ::dlopen(name, RTLD_NOW | RTLD_GLOBAL)) != nullptr) break;
    if (h == nullptr) {
      const char* why = ::dlerror();
      failure = why != nullptr ? why : "not found";
      return false;
    }
    api.init = reinterpret_cast<decltype(api.init)>(::dlsym(h, "PMIx_Init"));
    api.finalize = reinterpret_cast<decltype(api.finalize)>(::dlsym(h, "PMIx_Finalize"));
    api.get = reinterpret_cast<decltype(api.get)>(::dlsym(h, "PMIx_Get"));
    api.job_control = reinterpret_cast<decltype(api.job_control)>(::dlsym(h, "PMIx_Job_control"));
    api.error_string = reinterpret_cast<decltype(api.error_string)>(::dlsym(h, "PMIx_Error_string"));
    api.value_destruct = reinterpret_cast<decltype(api.value_destruct)>(::dlsym(h, "PMIx_Value_destruct"));
    api.info_load = reinterpret_cast<decltype(api.info_load)>(::dlsym(h, "PMIx_Info_load"));
    if (api.init == nullptr || api.finalize == nullptr || api.get == nullptr || api.job_control == nullptr ||
        api.error_string == nullptr || api.value_destruct == nullptr || api.info_load == nullptr) {
      failure = "it lacks PMIx_Init, PMIx_Get or another call of PMIx 4";
      return false;
    }
    return true;
  }();
  if (!loaded)
    return fail(Errc::kNotSupported,
                "a PMIx launcher started this process (PMIX_NAMESPACE is set) but libpmix cannot be loaded (%s): "
                "install libpmix2, or start the program with pbxrun",
                failure.c_str());
  return &api;
}

const Pmix* pmix = nullptr;  // set by join_pmix_job() before anything below runs

// Frees a PMIx_Get result.
struct ValueOwner {
  pmix_value_t* v = nullptr;
  ~ValueOwner() {
    if (v == nullptr) return;
    pmix->value_destruct(v);
    std::free(v);
  }
};

// An integer attribute of `proc` (any unsigned PMIx integer type).
Result<uint64_t> get_uint(const pmix_proc_t& proc, const char* key) {
  ValueOwner val;
  const pmix_status_t rc = pmix->get(&proc, key, nullptr, 0, &val.v);
  if (rc != PMIX_SUCCESS || val.v == nullptr)
    return fail(Errc::kNotSupported, "PMIx_Get(%s) failed: %s: the PMIx launcher does not say it", key,
                pmix->error_string(rc));
  switch (val.v->type) {
    case PMIX_UINT8: return uint64_t{val.v->data.uint8};
    case PMIX_UINT16: return uint64_t{val.v->data.uint16};
    case PMIX_UINT32: return uint64_t{val.v->data.uint32};
    case PMIX_UINT64: return uint64_t{val.v->data.uint64};
    case PMIX_INT: return static_cast<uint64_t>(val.v->data.integer);
    case PMIX_SIZE: return uint64_t{val.v->data.size};
    default: return fail(Errc::kProtocolError, "PMIx_Get(%s) returned type %d, not an integer", key, val.v->type);
  }
}

// A PBX_* number, or `fallback` when unset.
Result<uint64_t> env_or(const char* name, uint64_t fallback) {
  const char* s = std::getenv(name);
  if (s == nullptr || *s == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (*end != '\0' || s[0] == '-') return fail(Errc::kInvalidArgument, "%s = '%s' is not a number", name, s);
  return static_cast<uint64_t>(v);
}

// The loopback job's name: "pmix-" and the namespace, with characters a job name may not have
// replaced; a namespace too long for a name is shortened to its hash.
std::string job_name_of(const char* nspace) {
  std::string name = "pmix-";
  for (const char* c = nspace; *c != '\0'; ++c) {
    const bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
                    *c == '-' || *c == '.';
    name += ok ? *c : '_';
  }
  if (name.size() > 64) {
    uint64_t h = 1469598103934665603ull;
    for (const char* c = nspace; *c != '\0'; ++c) h = (h ^ static_cast<uint8_t>(*c)) * 1099511628211ull;
    name = "pmix-" + std::to_string(h);
  }
  return name;
}

uint64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

// The files of loopback job `name` (loopback.h: <dir>/pbx.<job>.ctl and .node<k>).
std::string ctl_file(const std::string& name) { return hal::LoopbackJob::default_dir() + "/pbx." + name + ".ctl"; }
std::string node_file(const std::string& name, unsigned k) {
  return hal::LoopbackJob::default_dir() + "/pbx." + name + ".node" + std::to_string(k);
}

// Rank 0: creates the job's files and asks the PMIx server to remove them when the job ends.
Result<void> create_loopback_job(const std::string& name, const JobShape& shape, size_t window) {
  auto job = hal::LoopbackJob::create({name, shape.nodes, window, {}});
  if (!job) return tl::unexpected(with_context(job.error(), "mpirun's loopback job"));
  job->release();  // the files outlive this call: the job's processes use them
  std::string files = ctl_file(name);
  for (unsigned k = 0; k < shape.nodes; ++k) files += "," + node_file(name, k);
  pmix_info_t cleanup;
  std::memset(&cleanup, 0, sizeof cleanup);
  pmix->info_load(&cleanup, PMIX_REGISTER_CLEANUP, files.c_str(), PMIX_STRING);
  pmix_info_t* results = nullptr;
  size_t nresults = 0;
  const pmix_status_t rc = pmix->job_control(nullptr, 0, &cleanup, 1, &results, &nresults);
  pmix->value_destruct(&cleanup.value);
  for (size_t i = 0; i < nresults; ++i) pmix->value_destruct(&results[i].value);
  std::free(results);
  if (rc != PMIX_SUCCESS && rc != PMIX_OPERATION_SUCCEEDED) {
    // Not fatal: the job runs; its files stay behind when it ends.
    std::fprintf(stderr,
                 "postbox: the PMIx server cannot remove the loopback job's files when the job ends (%s): remove "
                 "them afterwards with `pbxrun --cleanup %s`\n",
                 pmix->error_string(rc), name.c_str());
  }
  return {};
}

// The other ranks: wait until every node file has its final size (rank 0 creates the control
// file first and the node files last, each sized at once by ftruncate).
Result<void> wait_for_loopback_job(const std::string& name, const JobShape& shape, size_t window,
                                   uint32_t timeout_ms) {
  const uint64_t deadline = now_ms() + timeout_ms;
  const off_t want = static_cast<off_t>(window * shape.nodes);
  for (;;) {
    unsigned ready = 0;
    for (unsigned k = 0; k < shape.nodes; ++k) {
      struct stat st {};
      if (::stat(node_file(name, k).c_str(), &st) == 0 && st.st_size == want) ++ready;
    }
    if (ready == shape.nodes) return {};
    if (now_ms() >= deadline)
      return fail(Errc::kPeerNotUp,
                  "the loopback job %s that PMIx rank 0 creates did not appear in %s within %u ms: is rank 0 running, "
                  "with the same PBX_* settings? (Config::timeout_ms sets the wait)",
                  name.c_str(), hal::LoopbackJob::default_dir().c_str(), timeout_ms);
    const timespec nap{0, 1'000'000};  // control path, once per job
    ::nanosleep(&nap, nullptr);
  }
}

// Shape and rank of this process from what PMIx says.
Result<LauncherJob> shape_of(const std::string& backend, const pmix_proc_t& me) {
  pmix_proc_t job = me;
  job.rank = PMIX_RANK_WILDCARD;
  auto size = get_uint(job, PMIX_JOB_SIZE);
  if (!size) return tl::unexpected(size.error());
  LauncherJob lj;
  if (backend == "loopback") {
    auto hosts = get_uint(job, PMIX_NUM_NODES);
    if (hosts && *hosts > 1)
      return fail(Errc::kInvalidArgument,
                  "the loopback backend runs every process on one host, but the launcher placed them on %llu hosts: "
                  "run on one host (mpirun --host localhost:N), or use PBX_BACKEND=postboxd across hosts",
                  static_cast<unsigned long long>(*hosts));
    auto ppn = env_or("PBX_PROCS_PER_NODE", *size);
    if (!ppn) return tl::unexpected(ppn.error());
    if (*ppn == 0 || *size % *ppn != 0 || *ppn > JobShape::kMaxProcsPerNode || *size / *ppn > JobShape::kMaxNodes)
      return fail(Errc::kInvalidArgument,
                  "PBX_PROCS_PER_NODE = %llu does not divide the job's %llu processes into simulated nodes (at most "
                  "%u processes per node, %u nodes): set it to a divisor of the process count",
                  static_cast<unsigned long long>(*ppn), static_cast<unsigned long long>(*size),
                  JobShape::kMaxProcsPerNode, JobShape::kMaxNodes);
    lj.shape = JobShape{static_cast<uint16_t>(*size / *ppn), static_cast<uint16_t>(*ppn)};
    lj.self = lj.shape.rank_of(me.rank);
    lj.loopback_job = job_name_of(me.nspace);
    return lj;
  }
  // postboxd: one node per host.
  auto hosts = get_uint(job, PMIX_NUM_NODES);
  if (!hosts) return tl::unexpected(hosts.error());
  auto local_size = get_uint(me, PMIX_LOCAL_SIZE);
  if (!local_size) local_size = get_uint(job, PMIX_LOCAL_SIZE);
  if (!local_size) return tl::unexpected(local_size.error());
  auto local = get_uint(me, PMIX_LOCAL_RANK);
  if (!local) return tl::unexpected(local.error());
  auto node_id = get_uint(me, PMIX_NODEID);
  if (!node_id) return tl::unexpected(node_id.error());
  auto node = env_or("PBX_NODE", *node_id);
  if (!node) return tl::unexpected(node.error());
  if (*hosts * *local_size != *size || *hosts > JobShape::kMaxNodes || *local_size > JobShape::kMaxProcsPerNode)
    return fail(Errc::kInvalidArgument,
                "postbox needs the same number of processes on every host: %llu processes on %llu hosts (%llu here)",
                static_cast<unsigned long long>(*size), static_cast<unsigned long long>(*hosts),
                static_cast<unsigned long long>(*local_size));
  lj.shape = JobShape{static_cast<uint16_t>(*hosts), static_cast<uint16_t>(*local_size)};
  lj.self = Rank{static_cast<uint16_t>(*node), static_cast<uint16_t>(*local)};
  if (!lj.shape.contains(lj.self) || lj.shape.flat(lj.self) != me.rank)
    return fail(Errc::kInvalidArgument,
                "PMIx rank %u is process %llu of host %llu: postbox numbers ranks host by host (rank = node * %u + "
                "local); start the job with ranks mapped by slot (mpirun --map-by slot)",
                me.rank, static_cast<unsigned long long>(*local), static_cast<unsigned long long>(*node),
                lj.shape.procs_per_node);
  return lj;
}

}  // namespace

Result<LauncherJob> join_pmix_job(const std::string& backend, const Config& base) {
  auto api = load_pmix();
  if (!api) return tl::unexpected(api.error());
  pmix = *api;
  pmix_proc_t me;
  const pmix_status_t rc = pmix->init(&me, nullptr, 0);
  if (rc != PMIX_SUCCESS)
    return fail(Errc::kPeerNotUp,
                "PMIX_NAMESPACE is set but the PMIx server does not answer (PMIx_Init: %s): start the program with "
                "mpirun or srun --mpi=pmix, or with pbxrun",
                pmix->error_string(rc));
  struct Finalizer {
    ~Finalizer() { pmix->finalize(nullptr, 0); }  // an MPI library's own PMIx_Init keeps it open
  } finalizer;
  auto lj = shape_of(backend, me);
  if (!lj || backend != "loopback") return lj;
  auto cfg = Config::from_env(base);
  if (!cfg) return tl::unexpected(cfg.error());
  auto need = window_size_needed(lj->shape, *cfg);
  if (!need) return tl::unexpected(need.error());
  const size_t window = std::max<size_t>(*need, 16u << 20);  // as pbxrun sizes them
  auto ready = me.rank == 0 ? create_loopback_job(lj->loopback_job, lj->shape, window)
                            : wait_for_loopback_job(lj->loopback_job, lj->shape, window, cfg->timeout_ms);
  if (!ready) return tl::unexpected(ready.error());
  return lj;
}

#endif  // PBX_HAVE_PMIX

}  // namespace pbx::detail
