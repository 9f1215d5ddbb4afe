// The benchmarks pbx-perf runs, each as two processes pinned to two CPUs.
//
//   lat   ping-pong of one message each way; sample = time of `batch` round trips / (2 x batch)
//         (one-way latency; the clock is read once per batch, never per round trip)
//   bw    window streaming: 64 messages, then an 8-byte reply; sample = loop time / 64
//   rate  the same loop for small messages, reported as messages per second
//
// Each implementation returns the per-iteration samples in nanoseconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "pbx/base/error.h"

namespace pbx::perf {

enum class Test { kLat, kBw, kRate };
const char* to_string(Test t);

struct Params {
  Test test = Test::kLat;
  size_t size = 8;
  uint32_t iters = 1000;   // timed iterations (loops for bw/rate)
  uint32_t warmup = 100;
  uint32_t window = 64;    // messages per loop (bw, rate)
  uint32_t batch = 1;      // round trips per latency sample (lat)
  int cpu_a = 0, cpu_b = 1;
  double ns_per_tick = 1.0;
  int checksum = -1;       // postbox: 1 / 0 forces Config::checksum on / off; -1: PBX_CHECKSUM decides
};

// postbox over a loopback job of 2 nodes x 1 process. `rss_growth_kib` (if given): how much
// the larger of the two processes grew between the end of its warm-up and the end of its run.
Result<std::vector<double>> run_postbox(const Params& p, double* rss_growth_kib = nullptr);
// The raw cache-line ping-pong (lat only): each side writes its own 64-byte line and spins on
// the other's without pause; timed exactly as postbox is (per batch of round trips).
Result<std::vector<double>> run_raw_pingpong(const Params& p);
// A tight hand-written SPSC shared-memory ring (the shape of ../shared/bench/peers/src/shm_ring.c).
Result<std::vector<double>> run_ring(const Params& p);
// Open MPI (its default shared-memory transport) with the same tests, through mpirun; returns
// {median, p99}. Errc::kNotSupported when Open MPI or the peer program is not installed.
Result<std::vector<double>> run_ompi(const Params& p);
bool ompi_available();
// Which CRC32C implementation postbox's checksums use on this CPU.
const char* checksum_implementation();

}  // namespace pbx::perf
