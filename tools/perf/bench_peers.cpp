// The peers postbox is measured against, re-implemented here so that pbx-perf can run them
// interleaved with postbox in one run:
//   * the raw cache-line ping-pong: the physical limit of a one-way message between cores;
//   * a tight hand-written SPSC ring, the shape of ../shared/bench/peers/src/shm_ring.c: per-slot
//     sequence flag polled by the receiver, payload <= 48 B inline in the flag's line, larger
//     payloads in the slot, messages above 32 KiB pipelined over several slots, 4 MiB ring,
//     consumer head on its own line read by the producer only when the ring looks full.
#include <algorithm>
#include <atomic>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "bench.h"
#include "pair.h"
#include "pbx/base/barrier.h"

namespace pbx::perf {

namespace {

struct alignas(64) Line {
  std::atomic<uint64_t> v{0};
  char pad[56];
};

constexpr size_t kInlineMax = 48;

struct alignas(64) SlotHeader {
  std::atomic<uint64_t> seq;
  uint64_t len;
  unsigned char inl[kInlineMax];
};

struct Ctrl {
  Line head;  // consumer-owned
  Line ack;   // window acks, written by the receiver
};

struct Ring {
  Ctrl* ctrl = nullptr;
  char* slots = nullptr;
  size_t stride = 0, chunk = 0, nslots = 0;
  uint64_t tail = 0, head_cache = 0, next = 0;

  static size_t bytes_for(size_t chunk, size_t nslots) {
    const size_t payload = chunk <= kInlineMax ? 0 : (chunk + 63) & ~size_t{63};
    return sizeof(Ctrl) + nslots * (64 + payload);
  }
  void attach(void* mem, size_t c, size_t n) {
    ctrl = static_cast<Ctrl*>(mem);
    slots = static_cast<char*>(mem) + sizeof(Ctrl);
    chunk = c;
    nslots = n;
    stride = 64 + (c <= kInlineMax ? 0 : ((c + 63) & ~size_t{63}));
  }
  SlotHeader* slot(uint64_t idx) { return reinterpret_cast<SlotHeader*>(slots + (idx % nslots) * stride); }
  void send(const char* src, size_t len) {
    size_t off = 0;
    do {
      const size_t n = std::min(len - off, chunk);
      while (tail - head_cache >= nslots) {
        head_cache = ctrl->head.v.load(std::memory_order_acquire);
        if (tail - head_cache >= nslots) cpu_pause();
      }
      SlotHeader* h = slot(tail);
      if (n <= kInlineMax) std::memcpy(h->inl, src + off, n);
      else std::memcpy(reinterpret_cast<char*>(h) + 64, src + off, n);
      h->len = n;
      h->seq.store(tail + 1, std::memory_order_release);
      ++tail;
      off += n;
    } while (off < len);
  }
  void recv(char* dst, size_t len) {
    size_t off = 0;
    do {
      SlotHeader* h = slot(next);
      while (h->seq.load(std::memory_order_acquire) != next + 1) cpu_pause();
      const size_t n = h->len;
      if (n <= kInlineMax) std::memcpy(dst + off, h->inl, n);
      else std::memcpy(dst + off, reinterpret_cast<char*>(h) + 64, n);
      ++next;
      ctrl->head.v.store(next, std::memory_order_release);
      off += n;
    } while (off < len);
  }
};

}  // namespace

Result<std::vector<double>> run_raw_pingpong(const Params& p) {
  SharedMem mem(sizeof(Line) * 2 + sizeof(double) * (p.iters + 1));
  auto* lines = new (mem.get()) Line[2];
  auto* out = reinterpret_cast<double*>(static_cast<char*>(mem.get()) + sizeof(Line) * 2);
  const uint64_t total = uint64_t{p.warmup} + p.iters;
  auto ok = run_pair(p.cpu_a, p.cpu_b, mem.get(), [&](int side) {
    uint64_t n = 0;  // round trips so far: each side stores the count it reached
    for (uint64_t i = 1; i <= total; ++i) {
      if (side == 0) {
        const uint64_t t0 = cycles();
        for (uint32_t b = 0; b < p.batch; ++b) {
          ++n;
          lines[0].v.store(n, std::memory_order_release);
          while (lines[1].v.load(std::memory_order_acquire) != n) {
          }
        }
        const uint64_t t1 = cycles();
        if (i > p.warmup) out[i - p.warmup - 1] = static_cast<double>(t1 - t0) * p.ns_per_tick / (2.0 * p.batch);
      } else {
        for (uint32_t b = 0; b < p.batch; ++b) {
          ++n;
          while (lines[0].v.load(std::memory_order_acquire) != n) {
          }
          lines[1].v.store(n, std::memory_order_release);
        }
      }
    }
    return 0;
  });
  if (!ok) return tl::unexpected(ok.error());
  return std::vector<double>(out, out + p.iters);
}

Result<std::vector<double>> run_ring(const Params& p) {
  const size_t ring_bytes = 4u << 20, chunk_max = 32u << 10;
  const size_t chunk = std::min(std::max<size_t>(p.size, 1), chunk_max);
  const size_t nslots = std::clamp<size_t>(ring_bytes / (chunk + 64), 4, 1024);
  const size_t rb = (Ring::bytes_for(chunk, nslots) + 4095) & ~size_t{4095};
  SharedMem mem(2 * rb + sizeof(double) * (p.iters + 1));
  auto* out = reinterpret_cast<double*>(static_cast<char*>(mem.get()) + 2 * rb);
  const uint64_t total = uint64_t{p.warmup} + p.iters;
  auto ok = run_pair(p.cpu_a, p.cpu_b, mem.get(), [&](int side) {
    Ring ab, ba;
    ab.attach(mem.get(), chunk, nslots);
    ba.attach(static_cast<char*>(mem.get()) + rb, chunk, nslots);
    std::vector<char> src(std::max<size_t>(p.size, 1), 0x5a), dst(std::max<size_t>(p.size, 1));
    for (uint64_t i = 1; i <= total; ++i) {
      if (p.test == Test::kLat) {
        if (side == 0) {
          const uint64_t t0 = cycles();
          for (uint32_t b = 0; b < p.batch; ++b) {
            ab.send(src.data(), p.size);
            ba.recv(dst.data(), p.size);
          }
          const uint64_t t1 = cycles();
          if (i > p.warmup) out[i - p.warmup - 1] = static_cast<double>(t1 - t0) * p.ns_per_tick / (2.0 * p.batch);
        } else {
          for (uint32_t b = 0; b < p.batch; ++b) {
            ab.recv(dst.data(), p.size);
            ba.send(dst.data(), p.size);
          }
        }
      } else {
        if (side == 0) {
          const uint64_t t0 = cycles();
          for (uint32_t w = 0; w < p.window; ++w) ab.send(src.data(), p.size);
          while (ab.ctrl->ack.v.load(std::memory_order_acquire) != i) cpu_pause();
          const uint64_t t1 = cycles();
          if (i > p.warmup) out[i - p.warmup - 1] = static_cast<double>(t1 - t0) * p.ns_per_tick / p.window;
        } else {
          for (uint32_t w = 0; w < p.window; ++w) ab.recv(dst.data(), p.size);
          ab.ctrl->ack.v.store(i, std::memory_order_release);
        }
      }
    }
    return 0;
  });
  if (!ok) return tl::unexpected(ok.error());
  return std::vector<double>(out, out + p.iters);
}

namespace {
// The Open MPI peer program: where the build put it, or next to this executable (installed).
std::string ompi_peer_path() {
#ifdef PBX_MPI_PEER
  if (access(PBX_MPI_PEER, X_OK) == 0) return PBX_MPI_PEER;
#endif
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    const std::string p = dir + "/pbx-perf-mpi-peer";
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

std::string mpirun_path() {
#ifdef PBX_MPIRUN
  if (access(PBX_MPIRUN, X_OK) == 0) return PBX_MPIRUN;
#endif
  return access("/usr/bin/mpirun.openmpi", X_OK) == 0 ? "/usr/bin/mpirun.openmpi" : std::string();
}
}  // namespace

bool ompi_available() { return !ompi_peer_path().empty() && !mpirun_path().empty(); }

Result<std::vector<double>> run_ompi(const Params& p) {
  const std::string peer = ompi_peer_path(), mpirun = mpirun_path();
  if (peer.empty() || mpirun.empty())
    return fail(Errc::kNotSupported,
                "Open MPI is not installed (scripts/setup-deps.sh bench installs openmpi-bin and libopenmpi-dev; "
                "rebuild pbx-perf after)");
  const char* test = p.test == Test::kLat ? "lat" : p.test == Test::kBw ? "bw" : "rate";
  char cmd[8192];
  std::snprintf(cmd, sizeof cmd,
                "%s --allow-run-as-root --oversubscribe -np 2 --cpu-set %d,%d --bind-to core %s %s %zu %u %u %u %u "
                "2>/tmp/pbx-perf-ompi.err",
                mpirun.c_str(), p.cpu_a, p.cpu_b, peer.c_str(), test, p.size, p.iters, p.warmup, p.window, p.batch);
  FILE* f = popen(cmd, "r");
  if (f == nullptr) return fail_errno(errno, "popen %s", mpirun.c_str());
  char line[256];
  double median = 0, p99 = 0;
  bool found = false;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::sscanf(line, "RESULT %lf %lf", &median, &p99) == 2) found = true;
  const int rc = pclose(f);
  if (!found || rc != 0)
    return fail(Errc::kIoError, "the Open MPI peer failed (exit %d): see /tmp/pbx-perf-ompi.err", rc);
  return std::vector<double>{median, p99};
}

}  // namespace pbx::perf
