// postbox side of the benchmarks: the public API only, as an application uses it.
#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "bench.h"
#include "checksum.h"
#include "layout.h"
#include "pair.h"
#include "pbx/hal/copy.h"
#include "pbx/hal/loopback.h"
#include "pbx/postbox.hpp"

namespace pbx::perf {

const char* to_string(Test t) {
  switch (t) {
    case Test::kLat: return "lat";
    case Test::kBw: return "bw";
    case Test::kRate: return "rate";
  }
  return "?";
}

namespace {

// Resident memory of this process, in KiB.
double rss_kib() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / 1024 : 0;
}

int postbox_side(int side, const Params& p, const std::string& job, const JobShape& shape, const Config& cfg,
                 double* out) {
  hal::set_copy_choice(hal::copy_choice_from_env());  // a --variant may set PBX_COPY for this run
  auto dev = hal::LoopbackDevice::open(job, hal::NodeIdx(static_cast<uint16_t>(side)));
  if (!dev) {
    std::fprintf(stderr, "pbx-perf: %s\n", dev.error().message().c_str());
    return 2;
  }
  auto ep = Endpoint::create(std::move(*dev), shape, Rank{static_cast<uint16_t>(side), 0}, cfg);
  if (!ep) {
    std::fprintf(stderr, "pbx-perf: %s\n", ep.error().message().c_str());
    return 2;
  }
  const Rank peer{static_cast<uint16_t>(1 - side), 0};
  std::vector<std::byte> msg(p.size, std::byte{0x5a});
  std::vector<std::byte> buf(std::max<size_t>(p.size, 8));
  const std::byte ack[8] = {};
  auto check = [&](const auto& r) {
    if (r) return true;
    std::fprintf(stderr, "pbx-perf: side %d: %s\n", side, r.error().message().c_str());
    return false;
  };
  const uint32_t total = p.warmup + p.iters;
  double rss_after_warmup = 0;
  for (uint32_t i = 0; i < total; ++i) {
    if (i == p.warmup) rss_after_warmup = rss_kib();
    if (p.test == Test::kLat) {
      if (side == 0) {
        const uint64_t t0 = cycles();
        for (uint32_t b = 0; b < p.batch; ++b)
          if (!check(ep->send(peer, msg)) || !check(ep->recv(buf, peer))) return 1;
        const uint64_t t1 = cycles();
        if (i >= p.warmup) out[i - p.warmup] = static_cast<double>(t1 - t0) * p.ns_per_tick / (2.0 * p.batch);
      } else {
        for (uint32_t b = 0; b < p.batch; ++b)
          if (!check(ep->recv(buf, peer)) || !check(ep->send(peer, {buf.data(), p.size}))) return 1;
      }
    } else {
      if (side == 0) {
        const uint64_t t0 = cycles();
        for (uint32_t w = 0; w < p.window; ++w)
          if (!check(ep->send(peer, msg))) return 1;
        if (!check(ep->recv(buf, peer))) return 1;
        const uint64_t t1 = cycles();
        if (i >= p.warmup) out[i - p.warmup] = static_cast<double>(t1 - t0) * p.ns_per_tick / p.window;
      } else {
        for (uint32_t w = 0; w < p.window; ++w)
          if (!check(ep->recv(buf, peer))) return 1;
        if (!check(ep->send(peer, ack))) return 1;
      }
    }
  }
  out[p.iters + static_cast<uint32_t>(side)] = rss_kib() - rss_after_warmup;
  if (auto c = ep->close(); !c) {
    std::fprintf(stderr, "pbx-perf: side %d: %s\n", side, c.error().message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace

Result<std::vector<double>> run_postbox(const Params& p, double* rss_growth_kib) {
  static std::atomic<int> counter{0};
  const JobShape shape{2, 1};
  auto cfg = Config::from_env();
  if (!cfg) return tl::unexpected(cfg.error());
  if (p.checksum >= 0) cfg->checksum = p.checksum != 0;
  auto window = detail::window_size_needed(shape, *cfg);
  if (!window) return tl::unexpected(window.error());
  const std::string name = "pbx-perf-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  auto job = hal::LoopbackJob::create({name, shape.nodes, *window, {}});
  if (!job) return tl::unexpected(job.error());
  SharedMem mem(sizeof(double) * (p.iters + 2));  // the samples, then each side's growth
  auto* out = static_cast<double*>(mem.get());
  auto ok = run_pair(p.cpu_a, p.cpu_b, out, [&](int side) { return postbox_side(side, p, name, shape, *cfg, out); });
  if (!ok) return tl::unexpected(ok.error());
  if (rss_growth_kib != nullptr) *rss_growth_kib = std::max(out[p.iters], out[p.iters + 1]);
  return std::vector<double>(out, out + p.iters);
}

const char* checksum_implementation() { return detail::crc32c_implementation(); }

}  // namespace pbx::perf
