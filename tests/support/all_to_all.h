// All-to-all traffic for tests of several nodes over any backend: every process sends to every
// process (itself included) messages of every size class, non-blocking throughout, while taking
// in what the others send; every message is checked on arrival (source, tag, size, each byte),
// in order per sender->receiver pair. Used by the loopback, Switchtec and AMD tests and, in the
// VMs, by hw-tests.
//
//   AllToAll plan = AllToAll::every_size_class(cfg, /*rounds=*/2);
//   std::string why;
//   EXPECT_TRUE(plan.run(ep, &why)) << why;   // in every process (or thread) of the job
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "pbx/base/barrier.h"
#include "pbx/postbox.hpp"

namespace pbx::test {

struct AllToAll {
  std::vector<size_t> sizes;  // message i from a sender to a receiver has sizes[i % n]
  uint32_t per_pair = 0;      // messages per sender->receiver pair
  uint32_t nonce = 1;         // mixed into the bytes: data of an earlier run does not pass
  uint64_t timeout_ns = 60'000'000'000;  // no progress for this long fails

  // The settings of a small job in which every size class happens and every ring wraps: a
  // 256 KiB pool, a CTS of 64 KiB in 4 slices (pieces of 16 KiB above 16 KiB), 32 slots, a
  // 16 KiB payload ring for messages up to 2 KiB. Waits are generous: 8 hosts as threads on 2
  // CPUs under ThreadSanitizer can miss heartbeats for seconds, and liveness is the fault
  // tests' subject, not this plan's.
  static Config small_config() {
    Config cfg;
    cfg.pool_size = 256u << 10;
    cfg.cts = 64u << 10;
    cfg.cts_slices = 4;
    cfg.postbox_slots = 32;
    cfg.ring_size = 16u << 10;
    cfg.ring_max = 2048;
    cfg.timeout_ms = 60'000;
    cfg.peer_timeout_ms = 30'000;
    return cfg;
  }

  // Every size class of `cfg`: empty, inline (up to inline_max), the payload ring (up to
  // ring_max), the pool (up to a slice of the CTS) and pieces (above it), `rounds` times each.
  static AllToAll every_size_class(const Config& cfg, uint32_t rounds) {
    AllToAll a;
    const size_t ring = std::max<size_t>(cfg.ring_max, cfg.inline_max + 1);
    a.sizes = {0, 1, cfg.inline_max, size_t{cfg.inline_max} + 1, ring, ring + 1, cfg.cts / 2,
               cfg.cts, cfg.cts + 1, 2 * cfg.cts + 777};
    a.per_pair = rounds * static_cast<uint32_t>(a.sizes.size());
    return a;
  }

  size_t size_of(uint32_t i) const { return sizes[i % sizes.size()]; }
  uint32_t tag_of(uint32_t src, uint32_t i) const { return src << 20 | i; }
  std::byte byte_of(uint32_t src, uint32_t dst, uint32_t i, size_t k) const {
    uint64_t x = (uint64_t{nonce} << 40 ^ uint64_t{src} << 28 ^ uint64_t{dst} << 16 ^ i) * 0x9e3779b97f4a7c15ull +
                 k * 0xbf58476d1ce4e5b9ull;
    return static_cast<std::byte>(x >> 56);
  }

  // One process's part. Returns false with `why` set on the first wrong message, error or stall.
  bool run(Endpoint& ep, std::string* why) const {
    const JobShape& shape = ep.shape();
    const uint32_t me = shape.flat(ep.self());
    const uint32_t n = shape.size();
    std::vector<uint32_t> next_send(n, 0), next_recv(n, 0);
    std::vector<std::byte> out, in(std::max<size_t>(*std::max_element(sizes.begin(), sizes.end()), 1));
    bool sending = false;
    SendHandle h{};
    uint32_t dst = me;  // round robin over the receivers, starting with ourselves
    uint64_t sent = 0, received = 0;
    const uint64_t total = uint64_t{n} * per_pair;
    uint64_t last_progress = now_ns();
    char b[256];
    auto failed = [&](const std::string& what) {
      *why = "rank " + std::to_string(me) + ": " + what + " (sent " + std::to_string(sent) + "/" +
             std::to_string(total) + ", received " + std::to_string(received) + "/" + std::to_string(total) + ")";
      return false;
    };
    while (sent < total || received < total || sending) {
      bool progress = false;
      if (sending) {
        auto t = ep.test(h);
        if (!t) return failed("send: " + t.error().message());
        sending = !*t;
        progress = !sending;
      }
      if (!sending && sent < total) {
        while (next_send[dst] == per_pair) dst = (dst + 1) % n;
        const uint32_t i = next_send[dst];
        out.resize(size_of(i));
        for (size_t k = 0; k < out.size(); ++k) out[k] = byte_of(me, dst, i, k);
        auto hh = ep.isend(shape.rank_of(dst), out, tag_of(me, i));
        if (!hh) return failed("isend: " + hh.error().message());
        h = *hh;
        sending = true;
        ++next_send[dst];
        ++sent;
        dst = (dst + 1) % n;
        progress = true;
      }
      auto g = ep.try_recv(in);
      if (g) {
        const uint32_t src = shape.flat(g->source);
        const uint32_t i = next_recv[src]++;
        if (i >= per_pair || g->tag != tag_of(src, i) || g->size != size_of(i)) {
          std::snprintf(b, sizeof b, "message %u from rank %u: tag 0x%x size %zu, want tag 0x%x size %zu", i, src,
                        g->tag, g->size, tag_of(src, i), size_of(i));
          return failed(b);
        }
        for (size_t k = 0; k < g->size; ++k)
          if (in[k] != byte_of(src, me, i, k)) {
            std::snprintf(b, sizeof b, "message %u from rank %u (%zu bytes): byte %zu is wrong", i, src, g->size, k);
            return failed(b);
          }
        ++received;
        progress = true;
      } else if (g.error().code() != Errc::kWouldBlock) {
        return failed("recv: " + g.error().message());
      }
      const uint64_t now = now_ns();
      if (progress) last_progress = now;
      else if (now - last_progress > timeout_ns) return failed("no progress");
    }
    return true;
  }
};

}  // namespace pbx::test
