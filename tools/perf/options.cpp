// pbx-perf's command line (options.h).
#include "options.h"

#include <getopt.h>
#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "pbx/config.hpp"

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
    "      --variant SPEC  also run postbox with other settings, interleaved, and print the\n"
    "                      ratio to the default run; SPEC = PBX_NAME=VALUE[,PBX_NAME=VALUE...]\n"
    "                      (any Config variable, PBX_COPY, PBX_COPY_NT_MIN); repeatable.\n"
    "                      Example: --variant PBX_CTS=2M,PBX_CTS_SLICES=32 --variant PBX_COPY=avx2\n"
    "  -j, --json          print a JSON array, one record per (test, size)\n"
    "  -h, --help          this text\n"
    "\n"
    "lat: ping-pong, one-way = round trip / 2, timed per batch of round trips (16 up to 4 KiB,\n"
    "4 up to 64 KiB; never a clock read per round trip), for every implementation alike.\n"
    "bw: 64 messages then an 8-byte reply, time per message. rate: the same loop, as messages\n"
    "per second. Medians and p99 are per sample (a batch, or a loop);\n"
    "with several runs, the median over runs and [min-max] of the run medians.\n"
    "Postbox settings come from PBX_* variables (PBX_POSTBOX_SLOTS, PBX_POOL_SIZE, ...).\n";

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

}  // namespace

Options parse_options(int argc, char** argv) {
  Options o;
  enum { kCompare = 1000, kNoCompare, kChecksum, kRepeat, kVariant };
  static const option longopts[] = {{"test", required_argument, nullptr, 't'},
                                    {"sizes", required_argument, nullptr, 's'},
                                    {"runs", required_argument, nullptr, 'r'},
                                    {"iters", required_argument, nullptr, 'i'},
                                    {"cpus", required_argument, nullptr, 'c'},
                                    {"compare", no_argument, nullptr, kCompare},
                                    {"no-compare", no_argument, nullptr, kNoCompare},
                                    {"checksum", no_argument, nullptr, kChecksum},
                                    {"repeat", required_argument, nullptr, kRepeat},
                                    {"variant", required_argument, nullptr, kVariant},
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
      case kVariant: {
        Variant v;
        v.label = optarg;
        for (const std::string& kv : split(optarg)) {
          const size_t eq = kv.find('=');
          if (kv.rfind("PBX_", 0) != 0 || eq == std::string::npos || eq + 1 == kv.size())
            usage_error("--variant '" + kv + "': give PBX_NAME=VALUE pairs, comma-separated (e.g. PBX_CTS=2M)");
          v.env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
        }
        o.variants.push_back(std::move(v));
        break;
      }
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
  if (o.checksum) o.variants.insert(o.variants.begin(), Variant{"+crc32c", {}, 1});
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

}  // namespace pbx::perf
