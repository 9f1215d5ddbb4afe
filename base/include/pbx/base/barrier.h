// CPU-side ordering for memory that crosses a PCIe bridge, and the small polling utilities
// (pause, cycle counter, monotonic clock) of the data path.
//
// The barriers are DPDK's inline ones (header-only use: no EAL, nothing linked), under names
// that say what they order. Posted PCIe writes keep their order on the wire; what reorders
// them is the CPU: write-combining buffers and non-temporal stores. So order is enforced here.
//
//   sender:   payload stores -> wc_flush() -> indicator store (one aligned 8-byte word)
//   receiver: acquire-load indicator -> from_peer_barrier() -> payload loads
#pragma once

#include <rte_config.h>  // must precede the other DPDK headers
#include <rte_atomic.h>
#include <rte_cycles.h>
#include <rte_pause.h>

#include <time.h>

#include <cstdint>

namespace pbx {

// Drains this CPU's write-combining buffers and orders every earlier store, non-temporal
// stores included, before every later store (x86: sfence; arm64: dmb st). Put it between a
// payload and the indicator that publishes it. A release store alone is not enough: on x86
// it compiles to a plain mov, which neither drains WC buffers nor orders non-temporal stores.
inline void wc_flush() noexcept { rte_wmb(); }

// Orders the load of an indicator written by a peer before the loads of the payload it
// describes (x86: compiler barrier, loads are not reordered with loads; arm64: dmb oshld).
inline void from_peer_barrier() noexcept { rte_io_rmb(); }

// Spin-loop hint (x86 pause): lets the sibling hyperthread run and saves power while polling.
inline void cpu_pause() noexcept { rte_pause(); }

// Raw time-stamp counter; benchmarks calibrate it against now_ns().
inline uint64_t cycles() noexcept { return rte_rdtsc(); }

// Monotonic clock in nanoseconds (vDSO: no system call). For deadlines on slow paths.
inline uint64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace pbx
