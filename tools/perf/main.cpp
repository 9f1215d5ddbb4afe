// pbx-perf: latency, bandwidth and message rate of postbox on a loopback job it starts itself
// (two nodes, one process each, pinned to two CPUs), optionally side by side with the raw
// cache-line ping-pong and a hand-written shared-memory ring, interleaved in one run.
//
// Usage by example:
//   pbx-perf                          # everything, default sizes, with the comparison
//   pbx-perf --test lat --sizes 8,64  # one-way latency of 8 and 64 bytes
//   pbx-perf --test bw --sizes 1M --runs 5
//   pbx-perf --json --no-compare      # machine-readable, postbox only
//   pbx-perf --cpus 2,3               # pin the two processes elsewhere
#include <getopt.h>
#include <sched.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bench.h"
#include "pbx/config.hpp"
#include "stats.h"

namespace pbx::perf {
namespace {

constexpr const char* kUsage =
    "usage: pbx-perf [options]\n"
    "Measures postbox on a loopback job of 2 nodes x 1 process pinned to two CPUs.\n"
    "\n"
    "  -t, --test LIST     lat, bw, rate or all (comma-separated; default all)\n"
    "  -s, --sizes LIST    message sizes, e.g. 8,64,4K,1M (default 8,64,256,1K,4K,64K,1M,4M;\n"
    "                      rate defaults to the sizes up to 4K)\n"
    "  -r, --runs N        interleaved repetitions (default 3)\n"
    "  -i, --iters N       latency iterations for small messages (default 20000; larger\n"
    "                      messages and bw/rate loops scale down from it)\n"
    "  -c, --cpus A,B      the two CPUs (default: the first two this process may use)\n"
    "      --compare       also run the raw cache-line ping-pong and the hand-written ring,\n"
    "                      interleaved, and print ratios (default)\n"
    "      --no-compare    postbox only\n"
    "      --repeat N      N interleaved runs that go on after a failure; at the end, every\n"
    "                      failure and every run 3x slower than the median (exit 1 on a failure)\n"
    "      --checksum      also run postbox with Config::checksum (CRC32C of every pool message\n"
    "                      and piece), interleaved, and print its cost as a ratio\n"
    "  -j, --json          print a JSON array, one record per (test, size)\n"
    "  -h, --help          this text\n"
    "\n"
    "lat: ping-pong, one-way = round trip / 2, timed per batch of round trips (16 up to 4 KiB,\n"
    "4 up to 64 KiB; never a clock read per round trip), for every implementation alike.\n"
    "bw: 64 messages then an 8-byte reply, time per message. rate: the same loop, as messages\n"
    "per second. Medians and p99 are per sample (a batch, or a loop);\n"
    "with several runs, the median over runs and [min-max] of the run medians.\n"
    "Postbox settings come from PBX_* variables (PBX_POSTBOX_SLOTS, PBX_POOL_SIZE, ...).\n";

struct Options {
  std::vector<Test> tests{Test::kLat, Test::kBw, Test::kRate};
  std::vector<size_t> sizes;
  bool sizes_given = false;
  uint32_t runs = 3;
  uint32_t iters = 20000;
  int cpu_a = -1, cpu_b = -1;
  bool compare = true;
  bool json = false;
  bool checksum = false;
  bool keep_going = false;  // --repeat
};

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "pbx-perf: %s\n(see pbx-perf --help)\n", msg.c_str());
  std::exit(2);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

uint32_t parse_count(const char* text, const char* what, uint32_t lo, uint32_t hi) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < lo || v > hi)
    usage_error(std::string(what) + " '" + text + "' is invalid: use " + std::to_string(lo) + ".." + std::to_string(hi));
  return static_cast<uint32_t>(v);
}

Options parse(int argc, char** argv) {
  Options o;
  enum { kCompare = 1000, kNoCompare, kChecksum, kRepeat };
  static const option longopts[] = {{"test", required_argument, nullptr, 't'},
                                    {"sizes", required_argument, nullptr, 's'},
                                    {"runs", required_argument, nullptr, 'r'},
                                    {"iters", required_argument, nullptr, 'i'},
                                    {"cpus", required_argument, nullptr, 'c'},
                                    {"compare", no_argument, nullptr, kCompare},
                                    {"no-compare", no_argument, nullptr, kNoCompare},
                                    {"checksum", no_argument, nullptr, kChecksum},
                                    {"repeat", required_argument, nullptr, kRepeat},
                                    {"json", no_argument, nullptr, 'j'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":t:s:r:i:c:jh", longopts, nullptr)) != -1) {
    switch (c) {
      case 't':
        o.tests.clear();
        for (const std::string& t : split(optarg)) {
          if (t == "lat") o.tests.push_back(Test::kLat);
          else if (t == "bw") o.tests.push_back(Test::kBw);
          else if (t == "rate") o.tests.push_back(Test::kRate);
          else if (t == "all") o.tests = {Test::kLat, Test::kBw, Test::kRate};
          else usage_error("unknown test '" + t + "': use lat, bw, rate or all");
        }
        break;
      case 's':
        o.sizes.clear();
        o.sizes_given = true;
        for (const std::string& s : split(optarg)) {
          auto v = parse_size(s, "--sizes");
          if (!v) usage_error(v.error().message());
          if (*v > (1ull << 30)) usage_error("--sizes: " + s + " is above the benchmark's limit of 1G");
          o.sizes.push_back(*v);
        }
        break;
      case 'r': o.runs = parse_count(optarg, "--runs", 1, 100); break;
      case 'i': o.iters = parse_count(optarg, "--iters", 10, 10'000'000); break;
      case 'c': {
        const auto parts = split(optarg);
        if (parts.size() != 2) usage_error(std::string("--cpus '") + optarg + "': give two CPUs, e.g. 0,1");
        o.cpu_a = static_cast<int>(parse_count(parts[0].c_str(), "--cpus", 0, CPU_SETSIZE - 1));
        o.cpu_b = static_cast<int>(parse_count(parts[1].c_str(), "--cpus", 0, CPU_SETSIZE - 1));
        if (o.cpu_a == o.cpu_b) usage_error("--cpus: give two different CPUs");
        break;
      }
      case kCompare: o.compare = true; break;
      case kNoCompare: o.compare = false; break;
      case kChecksum: o.checksum = true; break;
      case kRepeat:
        o.runs = parse_count(optarg, "--repeat", 1, 100000);
        o.keep_going = true;
        break;
      case 'j': o.json = true; break;
      case 'h': std::fputs(kUsage, stdout); std::exit(0);
      case ':': usage_error(std::string("option ") + argv[optind - 1] + " needs a value");
      default: usage_error(std::string("unknown option ") + argv[optind - 1]);
    }
  }
  if (optind < argc) usage_error(std::string("unexpected argument '") + argv[optind] + "'");
  if (o.cpu_a < 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) usage_error("cannot read this process's CPU affinity");
    for (int i = 0; i < CPU_SETSIZE; ++i) {
      if (!CPU_ISSET(i, &set)) continue;
      if (o.cpu_a < 0) o.cpu_a = i;
      else if (o.cpu_b < 0) o.cpu_b = i;
    }
    if (o.cpu_b < 0) usage_error("pbx-perf needs two CPUs and this process may use only one (see --cpus)");
  }
  return o;
}

std::vector<size_t> default_sizes(Test t) {
  std::vector<size_t> all{8, 64, 256, 1024, 4096, 64u << 10, 1u << 20, 4u << 20};
  if (t == Test::kRate) all = {8, 64, 256, 1024, 4096};
  return all;
}

// Iterations that keep each measurement short but statistically useful.
Params params_for(Test t, size_t size, const Options& o, double ns_per_tick) {
  Params p;
  p.test = t;
  p.size = size;
  p.cpu_a = o.cpu_a;
  p.cpu_b = o.cpu_b;
  p.ns_per_tick = ns_per_tick;
  const double scale = size <= 4096 ? 1.0 : 4096.0 / static_cast<double>(size);
  if (t == Test::kLat) {
    // Round trips in batches of 16 (small messages) timed as a whole: a clock read per round
    // trip would be part of what is measured. Large messages are long enough to time singly.
    p.batch = size <= 4096 ? 16 : size <= (64u << 10) ? 4 : 1;
    const auto round_trips = static_cast<uint32_t>(o.iters * std::sqrt(scale));
    p.iters = std::max<uint32_t>(20, round_trips / p.batch);
  } else {
    p.iters = std::max<uint32_t>(5, static_cast<uint32_t>(o.iters / 20 * std::sqrt(scale)));
  }
  p.warmup = std::max<uint32_t>(2, p.iters / 10);
  return p;
}

std::string human_size(size_t s) {
  if (s >= (1u << 20) && s % (1u << 20) == 0) return std::to_string(s >> 20) + " MiB";
  if (s >= 1024 && s % 1024 == 0) return std::to_string(s >> 10) + " KiB";
  return std::to_string(s) + " B";
}

std::string human_ns(double ns) {
  char b[32];
  if (ns < 1000) std::snprintf(b, sizeof b, "%.0f ns", ns);
  else if (ns < 1e6) std::snprintf(b, sizeof b, "%.2f us", ns / 1e3);
  else std::snprintf(b, sizeof b, "%.2f ms", ns / 1e6);
  return b;
}

enum Impl { kPostbox = 0, kRing = 1, kRaw = 2, kOmpi = 3, kCrc = 4, kImpls = 5 };
const char* impl_name(int i) {
  switch (i) {
    case kPostbox: return "postbox";
    case kRing: return "ring";
    case kRaw: return "raw";
    case kCrc: return "postbox_crc32c";
    default: return "ompi";
  }
}

struct Cell {  // one (test, size, impl) over the runs
  std::vector<Summary> runs;
};

double median_of(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main_impl(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const double ns_per_tick = calibrate_tsc();
  struct Key {
    Test test;
    size_t size;
    bool operator<(const Key& k) const { return test != k.test ? test < k.test : size < k.size; }
  };
  std::map<Key, Cell[kImpls]> cells;
  std::vector<Key> order;
  for (Test t : o.tests)
    for (size_t s : (o.sizes_given ? o.sizes : default_sizes(t))) {
      Key k{t, s};
      if (cells.find(k) == cells.end()) order.push_back(k);
      (void)cells[k];
    }
  const bool ompi = o.compare && ompi_available();
  if (!o.json) {
    std::fprintf(stderr, "pbx-perf: loopback job of 2 nodes x 1 process on CPUs %d,%d; %u interleaved run(s)%s\n",
                 o.cpu_a, o.cpu_b, o.runs,
                 !o.compare ? "" : ompi ? ", with the raw ping-pong, the ring and Open MPI" : ", with the raw ping-pong and the ring");
    if (o.compare && !ompi)
      std::fprintf(stderr, "pbx-perf: Open MPI is not installed, so it is left out (scripts/setup-deps.sh bench, then rebuild)\n");
    if (o.checksum)
      std::fprintf(stderr, "pbx-perf: with checksums: %s\n", checksum_implementation());
  }
  std::vector<std::string> failures;
  for (uint32_t run = 0; run < o.runs; ++run) {
    for (const Key& k : order) {
      Params p = params_for(k.test, k.size, o, ns_per_tick);
      for (int impl = 0; impl < kImpls; ++impl) {
        if (impl == kCrc) {
          if (!o.checksum) continue;
        } else if (impl != kPostbox && !o.compare) {
          continue;
        }
        p.checksum = impl == kCrc ? 1 : impl == kPostbox && o.checksum ? 0 : -1;
        if (impl == kRaw && !(k.test == Test::kLat && k.size <= 56)) continue;  // one cache line
        if (impl == kOmpi && !ompi) continue;
        Result<std::vector<double>> r = impl == kPostbox || impl == kCrc ? run_postbox(p)
                                        : impl == kRing  ? run_ring(p)
                                        : impl == kRaw   ? run_raw_pingpong(p)
                                                         : run_ompi(p);
        if (!r) {
          std::fprintf(stderr, "pbx-perf: run %u: %s %s %s: %s\n", run + 1, impl_name(impl), to_string(k.test),
                       human_size(k.size).c_str(), r.error().message().c_str());
          if (!o.keep_going) return 1;
          failures.push_back("run " + std::to_string(run + 1) + ": " + impl_name(impl) + " " + to_string(k.test) + " " +
                             human_size(k.size) + ": " + r.error().message());
          continue;
        }
        if (impl == kOmpi) cells[k][impl].runs.push_back(Summary{(*r)[0], (*r)[1], (*r)[0]});
        else cells[k][impl].runs.push_back(summarize(std::move(*r)));
      }
    }
  }

  auto med = [](const Cell& c, double Summary::*f) {
    std::vector<double> v;
    for (const Summary& s : c.runs) v.push_back(s.*f);
    return median_of(v);
  };
  auto spread = [](const Cell& c) {
    double lo = INFINITY, hi = 0;
    for (const Summary& s : c.runs) {
      lo = std::min(lo, s.median);
      hi = std::max(hi, s.median);
    }
    return std::pair{lo, hi};
  };
  // Ratio postbox / peer, run by run (the two ran back to back), then the median over runs.
  auto ratio = [](const Cell& a, const Cell& b) {
    std::vector<double> v;
    for (size_t i = 0; i < a.runs.size() && i < b.runs.size(); ++i) v.push_back(a.runs[i].median / b.runs[i].median);
    return median_of(v);
  };

  if (o.keep_going) {
    // Every failure, and every run whose median is 3x the median of the runs.
    std::vector<std::string> slow;
    for (const Key& k : order)
      for (int impl = 0; impl < kImpls; ++impl) {
        const Cell& c = cells[k][impl];
        if (c.runs.empty()) continue;
        const double m = med(c, &Summary::median);
        for (size_t i = 0; i < c.runs.size(); ++i)
          if (c.runs[i].median > 3 * m)
            slow.push_back(std::string(impl_name(impl)) + " " + to_string(k.test) + " " + human_size(k.size) +
                           ": a run took " + human_ns(c.runs[i].median) + " per message, median " + human_ns(m));
      }
    std::fprintf(stderr, "pbx-perf: --repeat %u: %zu failure(s), %zu run(s) 3x slower than the median\n", o.runs,
                 failures.size(), slow.size());
    for (const std::string& f : failures) std::fprintf(stderr, "  failed: %s\n", f.c_str());
    for (const std::string& s : slow) std::fprintf(stderr, "  slow:   %s\n", s.c_str());
  }
  const int status = failures.empty() ? 0 : 1;

  if (o.json) {
    std::printf("[\n");
    for (size_t i = 0; i < order.size(); ++i) {
      const Key& k = order[i];
      const Cell* c = cells[k];
      const double m = med(c[kPostbox], &Summary::median);
      std::printf("  {\"test\": \"%s\", \"size\": %zu, \"median_ns\": %.1f, \"p99_ns\": %.1f, \"msgs_per_s\": %.0f, "
                  "\"gbytes_per_s\": %.4f, \"runs\": %zu",
                  to_string(k.test), k.size, m, med(c[kPostbox], &Summary::p99), 1e9 / m,
                  static_cast<double>(k.size) / m, c[kPostbox].runs.size());
      for (int impl : {kRing, kRaw, kOmpi, kCrc}) {
        if (c[impl].runs.empty()) continue;
        std::printf(", \"%s_median_ns\": %.1f, \"%s_p99_ns\": %.1f, \"ratio_vs_%s\": %.3f", impl_name(impl),
                    med(c[impl], &Summary::median), impl_name(impl), med(c[impl], &Summary::p99), impl_name(impl),
                    ratio(c[kPostbox], c[impl]));
      }
      std::printf("}%s\n", i + 1 < order.size() ? "," : "");
    }
    std::printf("]\n");
    return status;
  }

  std::printf("%-5s %-8s %-26s %-10s %-12s %-9s", "test", "size", "postbox median [min-max]", "p99", "msgs/s", "GB/s");
  if (o.compare) std::printf(" | %-10s %-7s | %-8s %-7s | %-10s %-7s", "ring", "ratio", "raw", "ratio", "ompi", "ratio");
  if (o.checksum) std::printf(" | %-10s %-7s", "+crc32c", "cost");
  std::printf("\n");
  for (const Key& k : order) {
    const Cell* c = cells[k];
    const double m = med(c[kPostbox], &Summary::median);
    const auto [lo, hi] = spread(c[kPostbox]);
    const std::string mm = human_ns(m) + " [" + human_ns(lo) + "-" + human_ns(hi) + "]";
    char rate[32], gbs[32];
    std::snprintf(rate, sizeof rate, "%.3gM", 1e3 / m);
    std::snprintf(gbs, sizeof gbs, "%.2f", static_cast<double>(k.size) / m);
    std::printf("%-5s %-8s %-26s %-10s %-12s %-9s", to_string(k.test), human_size(k.size).c_str(), mm.c_str(),
                human_ns(med(c[kPostbox], &Summary::p99)).c_str(), rate, gbs);
    if (o.compare) {
      for (int impl : {kRing, kRaw, kOmpi}) {
        if (c[impl].runs.empty()) {
          std::printf(" | %-10s %-7s", "-", "-");
          continue;
        }
        char r[16];
        std::snprintf(r, sizeof r, "%.2f", ratio(c[kPostbox], c[impl]));
        std::printf(" | %-10s %-7s", human_ns(med(c[impl], &Summary::median)).c_str(), r);
      }
    }
    if (o.checksum) {
      char r[16];
      std::snprintf(r, sizeof r, "%.2f", ratio(c[kCrc], c[kPostbox]));  // time with / without
      std::printf(" | %-10s %-7s", human_ns(med(c[kCrc], &Summary::median)).c_str(), r);
    }
    std::printf("\n");
  }
  if (o.checksum)
    std::printf("\ncost = postbox with checksums / postbox without, per run (time per message), median over runs.\n");
  if (o.compare) {
    std::printf("\nratio = postbox / peer per run (time per message; lower is better), median over runs.\n");
    auto target = [&](Test t, size_t size, int impl, const char* what, bool time_lower, double bound) {
      auto it = cells.find(Key{t, size});
      if (it == cells.end() || it->second[impl].runs.empty()) return;
      const double r = ratio(it->second[kPostbox], it->second[impl]);
      // For bandwidth and rate, higher is better: report peer/postbox time = postbox/peer throughput.
      const double shown = time_lower ? r : 1.0 / r;
      std::printf("  %-34s %5.2f  (target %s %.2f) %s\n", what, shown, time_lower ? "<=" : ">=", bound,
                  (time_lower ? shown <= bound : shown >= bound) ? "met" : "NOT met");
    };
    target(Test::kLat, 8, kRaw, "8 B one-way latency / raw", true, 1.3);
    target(Test::kBw, 1u << 20, kRing, "1 MiB bandwidth / ring", false, 1.0);
    target(Test::kRate, 8, kRing, "8 B message rate / ring", false, 0.7);
    target(Test::kRate, 8, kOmpi, "8 B message rate / Open MPI", false, 3.0);
  }
  return status;
}

}  // namespace
}  // namespace pbx::perf

int main(int argc, char** argv) { return pbx::perf::main_impl(argc, argv); }
