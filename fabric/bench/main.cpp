// pbx-fi-perf: the libfabric provider's speed next to postbox's own API, libfabric's shm
// provider, and Open MPI over the provider next to Open MPI's shared-memory transport (vader),
// measured interleaved in one run: each run measures every variant in turn, on the same two CPUs.
//
// Usage by example:
//   pbx-fi-perf                        # 3 runs, default tests, the four target ratios
//   pbx-fi-perf --runs 5 --tests lat:8,bw:1048576
//   pbx-fi-perf --cpus 2,3 --iters 5000
//
// Variants (two processes each, pinned to the two CPUs):
//   api         pbx::Endpoint send/recv on a pbxrun job of 2 nodes x 1 process (pbx-fi-api-bench)
//   fi-postbox  libfabric tagged messages over the postbox provider, same job shape (pbx-fi-bench)
//   fi-shm      the same program over libfabric's shm provider
//   mpi-postbox Open MPI, pml cm + mtl ofi over the provider (2 simulated nodes x 1 process)
//   mpi-vader   Open MPI, pml ob1 + btl vader (its shared-memory transport)
// Tests: lat SIZE = ping-pong, one-way time (round trip / 2); bw SIZE = 64 messages then an
// 8-byte reply, time per message. Every sample is per iteration; a run's figure is the median.
#include <getopt.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <sys/wait.h>
#include <vector>

namespace {

constexpr const char* kUsage =
    "usage: pbx-fi-perf [options]\n"
    "Measures the postbox libfabric provider next to postbox's API, libfabric's shm provider, and\n"
    "Open MPI over the provider next to Open MPI's vader, interleaved, on two CPUs.\n"
    "\n"
    "  -r, --runs N       interleaved runs (default 3)\n"
    "  -i, --iters N      iterations for small messages (default 20000; 64 KiB: /4, 1 MiB: /20)\n"
    "  -t, --tests LIST   TEST:SIZE,... (default lat:8,lat:64,lat:4096,lat:65536,lat:1048576,\n"
    "                     bw:8,bw:4096,bw:65536,bw:1048576)\n"
    "  -c, --cpus A,B     the two CPUs (default 0,1)\n"
    "      --no-mpi       leave out the Open MPI variants\n"
    "  -h, --help         this text\n"
    "\n"
    "Prints, per test, each variant's median over runs [min-max of the run medians] and p99, then\n"
    "the target ratios with their spread over the runs.\n";

struct Sample {
  double median = NAN, p99 = NAN;
};
using Results = std::map<std::string, Sample>;  // "lat:8" -> sample

struct Options {
  int runs = 3, iters = 20000, window = 64;
  std::string tests = "lat:8,lat:64,lat:4096,lat:65536,lat:1048576,bw:8,bw:4096,bw:65536,bw:1048576";
  int cpu_a = 0, cpu_b = 1;
  bool mpi = true;
};

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : fallback;
}

// The programs: build-tree paths, overridable (an installed copy sets them).
const std::string kPbxrun = env_or("PBX_FI_PERF_PBXRUN", PBX_PBXRUN);
const std::string kFiBench = env_or("PBX_FI_PERF_FI_BENCH", PBX_FI_BENCH);
const std::string kApiBench = env_or("PBX_FI_PERF_API_BENCH", PBX_FI_API_BENCH);
const std::string kMpiBench = env_or("PBX_FI_PERF_MPI_BENCH", PBX_FI_MPI_BENCH);
const std::string kProviderDir = env_or("PBX_FI_PERF_PROVIDER_DIR", PBX_FI_PROVIDER_DIR);

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

std::string joined_tests(const Options& o) {
  std::string t;
  for (const std::string& x : split(o.tests, ',')) t += " " + x;
  return t;
}

// Runs a shell command; the RESULT lines of its output. A failure is reported and yields none.
Results run_command(const std::string& cmd, const char* variant) {
  Results r;
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (f == nullptr) return r;
  std::string output;
  char line[1024];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    output += line;
    char test[16];
    size_t size = 0;
    double median = 0, p99 = 0;
    if (std::sscanf(line, "RESULT %15s %zu %lf %lf", test, &size, &median, &p99) == 4)
      r[std::string(test) + ":" + std::to_string(size)] = Sample{median, p99};
  }
  const int status = ::pclose(f);
  if (status != 0 || r.empty())
    std::fprintf(stderr, "pbx-fi-perf: %s failed (status %d):\n%s\n  command: %s\n", variant, status,
                 output.c_str(), cmd.c_str());
  return r;
}

std::string cpus(const Options& o) { return std::to_string(o.cpu_a) + "," + std::to_string(o.cpu_b); }

Results run_api(const Options& o) {
  return run_command(kPbxrun + " -N 2 -n 1 --cpus " + cpus(o) + " -- " + kApiBench + " " + std::to_string(o.iters) +
                         " " + std::to_string(o.window) + joined_tests(o),
                     "api");
}

Results run_fi(const Options& o, const std::string& prov) {
  const std::string sock = "/tmp/pbx-fi-perf." + std::to_string(::getpid()) + ".sock";
  const std::string args = " " + sock + " " + std::to_string(o.iters) + " " + std::to_string(o.window) + joined_tests(o);
  if (prov == "postbox")
    return run_command("FI_PROVIDER_PATH=" + kProviderDir + " " + kPbxrun + " -N 2 -n 1 --cpus " + cpus(o) +
                           " -- sh -c '" + kFiBench + " postbox $PBX_RANK" + args + "'",
                       "fi-postbox");
  // shm: two processes started here, pinned with taskset (rank 1 connects once rank 0 listens).
  return run_command("taskset -c " + std::to_string(o.cpu_b) + " " + kFiBench + " " + prov + " 1" + args +
                         " >/dev/null & taskset -c " + std::to_string(o.cpu_a) + " " + kFiBench + " " + prov + " 0" +
                         args + "; wait",
                     ("fi-" + prov).c_str());
}

Results run_mpi(const Options& o, bool postbox) {
  const std::string mpirun = "mpirun --allow-run-as-root --oversubscribe -np 2 --host localhost:2 --cpu-set " + cpus(o) +
                             " --bind-to core ";
  const std::string transport = postbox ? "-x FI_PROVIDER_PATH=" + kProviderDir +
                                              " -x PBX_PROCS_PER_NODE=1 --mca pml cm --mca mtl ofi"
                                              " --mca mtl_ofi_provider_include postbox --mca btl self "
                                        : "--mca pml ob1 --mca btl vader,self ";
  return run_command(mpirun + transport + kMpiBench + " " + std::to_string(o.iters) + " " + std::to_string(o.window) +
                         joined_tests(o),
                     postbox ? "mpi-postbox" : "mpi-vader");
}

std::string ns_text(double ns) {
  char buf[32];
  if (std::isnan(ns)) return "-";
  if (ns < 1000) std::snprintf(buf, sizeof buf, "%.0f ns", ns);
  else if (ns < 1e6) std::snprintf(buf, sizeof buf, "%.2f us", ns / 1e3);
  else std::snprintf(buf, sizeof buf, "%.2f ms", ns / 1e6);
  return buf;
}

// The smallest and largest of the values that are numbers (NAN when there are none).
std::pair<double, double> range_of(const std::vector<double>& v) {
  double lo = NAN, hi = NAN;
  for (double x : v) {
    if (std::isnan(x)) continue;
    lo = std::isnan(lo) ? x : std::min(lo, x);
    hi = std::isnan(hi) ? x : std::max(hi, x);
  }
  return {lo, hi};
}

double median_of(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  static const option longopts[] = {{"runs", required_argument, nullptr, 'r'},
                                    {"iters", required_argument, nullptr, 'i'},
                                    {"tests", required_argument, nullptr, 't'},
                                    {"cpus", required_argument, nullptr, 'c'},
                                    {"no-mpi", no_argument, nullptr, 1000},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "r:i:t:c:h", longopts, nullptr)) != -1) {
    switch (c) {
      case 'r': o.runs = std::max(1, std::atoi(optarg)); break;
      case 'i': o.iters = std::max(100, std::atoi(optarg)); break;
      case 't': o.tests = optarg; break;
      case 'c':
        if (std::sscanf(optarg, "%d,%d", &o.cpu_a, &o.cpu_b) != 2) {
          std::fprintf(stderr, "pbx-fi-perf: --cpus takes two CPUs, e.g. 0,1\n");
          return 2;
        }
        break;
      case 1000: o.mpi = false; break;
      case 'h': std::fputs(kUsage, stdout); return 0;
      default: std::fprintf(stderr, "(see pbx-fi-perf --help)\n"); return 2;
    }
  }
  std::vector<std::string> variants = {"api", "fi-postbox", "fi-shm"};
  if (o.mpi) {
    variants.push_back("mpi-postbox");
    variants.push_back("mpi-vader");
  }
  // runs[variant][r] = results of run r
  std::map<std::string, std::vector<Results>> runs;
  for (int r = 0; r < o.runs; ++r) {
    std::fprintf(stderr, "pbx-fi-perf: run %d of %d\n", r + 1, o.runs);
    runs["api"].push_back(run_api(o));
    runs["fi-postbox"].push_back(run_fi(o, "postbox"));
    runs["fi-shm"].push_back(run_fi(o, "shm"));
    if (o.mpi) {
      runs["mpi-postbox"].push_back(run_mpi(o, true));
      runs["mpi-vader"].push_back(run_mpi(o, false));
    }
  }
  std::printf("pbx-fi-perf: 2 processes on CPUs %d,%d; %d interleaved run(s); median over runs [min-max], p99\n",
              o.cpu_a, o.cpu_b, o.runs);
  std::printf("%-12s", "test");
  for (const std::string& v : variants) std::printf(" | %-28s", v.c_str());
  std::printf("\n");
  for (const std::string& test : split(o.tests, ',')) {
    std::printf("%-12s", test.c_str());
    for (const std::string& v : variants) {
      std::vector<double> med, p99;
      for (const Results& res : runs[v]) {
        auto it = res.find(test);
        med.push_back(it != res.end() ? it->second.median : NAN);
        p99.push_back(it != res.end() ? it->second.p99 : NAN);
      }
      const auto [lo, hi] = range_of(med);
      const std::string cell = ns_text(median_of(med)) + " [" + ns_text(lo) + "-" + ns_text(hi) + "] " +
                               ns_text(median_of(p99));
      std::printf(" | %-28s", cell.c_str());
    }
    std::printf("\n");
  }
  // Target ratios, per run (the same run's figures), then their median and spread.
  struct Target {
    const char* text;
    const char* test;
    const char* num;
    const char* den;
    double limit;
    bool at_most;  // ratio <= limit (times); else ratio >= limit (throughput)
  };
  const Target targets[] = {
      {"8 B one-way latency, fi-postbox / api", "lat:8", "fi-postbox", "api", 1.15, true},
      {"8 B one-way latency, fi-postbox / fi-shm", "lat:8", "fi-postbox", "fi-shm", 0.5, true},
      {"8 B one-way latency, mpi-postbox / mpi-vader", "lat:8", "mpi-postbox", "mpi-vader", 0.8, true},
      {"1 MiB bandwidth, mpi-postbox / mpi-vader", "bw:1048576", "mpi-vader", "mpi-postbox", 1.0, false},
  };
  std::printf("\nratios per run (latency: time / time; bandwidth: vader's time per message / postbox's)\n");
  for (const Target& t : targets) {
    if (runs.count(t.num) == 0 || runs.count(t.den) == 0) continue;
    std::vector<double> ratios;
    for (int r = 0; r < o.runs; ++r) {
      auto a = runs[t.num][r].find(t.test);
      auto b = runs[t.den][r].find(t.test);
      if (a != runs[t.num][r].end() && b != runs[t.den][r].end()) ratios.push_back(a->second.median / b->second.median);
    }
    if (ratios.empty()) {
      std::printf("  %-46s  - (not measured: --tests must include %s)\n", t.text, t.test);
      continue;
    }
    const double m = median_of(ratios);
    const auto [lo, hi] = range_of(ratios);
    const bool met = t.at_most ? m <= t.limit : m >= t.limit;
    std::printf("  %-46s %5.2f [%.2f-%.2f]  (target %s %.2f) %s\n", t.text, m, lo, hi, t.at_most ? "<=" : ">=",
                t.limit, met ? "met" : "NOT met");
  }
  return 0;
}
