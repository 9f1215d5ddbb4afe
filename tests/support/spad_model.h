// A software model of what a link handshake touches on an NTB-like device: per-peer
// scratchpads (a write by node s to node d's spad i lands in d's spad_read(s, i)), doorbell
// bits (write-1-to-clear) and link state per node pair, with a generation per transition.
// Plain memory, one thread; tests script it directly (peek/poke, set_link). Windows are not
// modelled. Unit tests only.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "pbx/hal/device.h"
#include "pbx/hal/spad_handshake.h"
#include "support/fake_clock.h"

namespace pbx::hal::test {

using pbx::test::FakeClock;

class SpadFabric {
 public:
  static constexpr uint16_t kSpads = 16;

  explicit SpadFabric(uint16_t nodes, size_t window_size = 2u << 20)
      : nodes_(nodes), window_size_(window_size), spads_(size_t{nodes} * nodes), db_(size_t{nodes} * nodes),
        link_(size_t{nodes} * nodes, LinkStatus{true, 1, 0, 0}) {}

  // What node `src` wrote into node `dst`'s scratchpad i.
  uint32_t peek(uint16_t dst, uint16_t src, uint16_t i) const { return spads_[size_t{dst} * nodes_ + src][i]; }
  void poke(uint16_t dst, uint16_t src, uint16_t i, uint32_t v) { spads_[size_t{dst} * nodes_ + src][i] = v; }
  // Scratchpads node `src` wrote to node `dst`, cleared (a device reset on dst's side).
  void clear(uint16_t dst, uint16_t src) { spads_[size_t{dst} * nodes_ + src] = {}; }
  void set_link(uint16_t a, uint16_t b, bool up) {
    for (auto [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
      LinkStatus& l = link_[size_t{x} * nodes_ + y];
      if (l.up != up) ++l.generation;
      l.up = up;
    }
  }
  int spad_writes = 0;

  class Node;
  std::unique_ptr<Node> node(uint16_t self, size_t window_size = 0) {
    return std::make_unique<Node>(*this, self, window_size != 0 ? window_size : window_size_);
  }

  class Node final : public Device {
   public:
    Node(SpadFabric& f, uint16_t self, size_t window_size) : f_(f) {
      info_.backend = "model";
      info_.name = "spad-model";
      info_.self = NodeIdx(self);
      info_.node_count = f.nodes_;
      info_.spad_count = kSpads;
      info_.db_valid_mask = ~uint64_t{0};
      info_.window_size = window_size;
    }

   private:
    Result<OutboundWindow> do_peer_mw(NodeIdx) override { return fail(Errc::kNotSupported, "model: no windows"); }
    Result<InboundWindow> do_local_mw(NodeIdx) override { return fail(Errc::kNotSupported, "model: no windows"); }
    LinkStatus do_link_status(NodeIdx p) noexcept override { return f_.link_[pair(info_.self.v, p.v)]; }
    Result<uint32_t> do_spad_read(NodeIdx p, SpadIdx i) override { return f_.spads_[pair(info_.self.v, p.v)][i.v]; }
    Result<void> do_peer_spad_write(NodeIdx p, SpadIdx i, uint32_t v) override {
      f_.spads_[pair(p.v, info_.self.v)][i.v] = v;
      ++f_.spad_writes;
      return {};
    }
    Result<void> do_peer_db_set(NodeIdx p, uint64_t bits) override {
      f_.db_[pair(p.v, info_.self.v)] |= bits;
      return {};
    }
    Result<uint64_t> do_db_read(NodeIdx p) override { return f_.db_[pair(info_.self.v, p.v)]; }
    Result<void> do_db_clear(NodeIdx p, uint64_t bits) override {
      f_.db_[pair(info_.self.v, p.v)] &= ~bits;
      return {};
    }

    size_t pair(uint16_t dst, uint16_t src) const { return size_t{dst} * f_.nodes_ + src; }
    SpadFabric& f_;
  };

 private:
  uint16_t nodes_;
  size_t window_size_;
  std::vector<std::array<uint32_t, kSpads>> spads_;  // [dst][src]
  std::vector<uint64_t> db_;                         // [dst][src]
  std::vector<LinkStatus> link_;                     // [a][b]
};

}  // namespace pbx::hal::test
