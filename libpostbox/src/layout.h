// Where everything lives inside a window. Computed from the job's shape and the config, the
// same in every process of the job (never negotiated per message): the windows are few,
// fixed and aligned, as on NTB hardware.
//
// Window R(k <- j) is memory on node k written by processes of node j (node k's local_mw(j),
// node j's peer_mw(k)); j == k is traffic between processes of one node. With n processes per
// node and K postbox slots:
//
//   +--------------------------------------+ 0
//   | presence lines: n x 64 B             |   one per process of node j
//   | ack segment: n sections x n blocks   |   section = sender on node k, block = receiver
//   |   x 64 B  (c36, c37)                 |   on node j, written by that receiver (c33)
//   +--------------------------------------+ data_off (4 KiB aligned)
//   | data segment of sender 0 of node j   |   c1, c14: one per sender process, written only
//   |   header line                        |   by it, created on first use (c31, c34)
//   |   n postboxes: header line + K slots |   c1, c6: one postbox per receiver on node k;
//   |     + payload ring (ring_size)       |   the ring carries messages up to ring_max
//   |   buffer pool (pool_size)            |   c2: messages above ring_max
//   +--------------------------------------+
//   | data segment of sender 1 ...         |
//   +--------------------------------------+ region_size
#pragma once

#include <cstddef>
#include <cstdint>

#include "pbx/config.hpp"
#include "wire.h"

namespace pbx::detail {

class Layout {
 public:
  Layout() = default;  // empty; use compute()
  // Fails if the config or shape is invalid, or if the region does not fit `window_size`
  // (the message says how much is needed and which knobs shrink it).
  static Result<Layout> compute(const JobShape& shape, const Config& cfg, size_t window_size);

  const JobShape& shape() const noexcept { return shape_; }
  const Config& config() const noexcept { return cfg_; }

  size_t presence_off(uint16_t writer_local) const noexcept { return size_t{writer_local} * wire::kLine; }
  size_t ack_off(uint16_t sender_local, uint16_t receiver_local) const noexcept {
    return ack_segment_off_ + (size_t{sender_local} * shape_.procs_per_node + receiver_local) * wire::kLine;
  }
  size_t ack_segment_off() const noexcept { return ack_segment_off_; }
  size_t ack_segment_size() const noexcept { return size_t{shape_.procs_per_node} * shape_.procs_per_node * wire::kLine; }

  size_t segment_off(uint16_t sender_local) const noexcept { return data_off_ + size_t{sender_local} * segment_size_; }
  size_t segment_size() const noexcept { return segment_size_; }
  // Offsets inside a segment.
  size_t postbox_off(uint16_t receiver_local) const noexcept {
    return wire::kLine + size_t{receiver_local} * postbox_size_;
  }
  size_t slots_off(uint16_t receiver_local) const noexcept { return postbox_off(receiver_local) + wire::kLine; }
  size_t ring_off(uint16_t receiver_local) const noexcept {
    return slots_off(receiver_local) + size_t{slots_} * wire::kLine;
  }
  size_t ring_size() const noexcept { return cfg_.ring_size; }
  size_t pool_off() const noexcept { return pool_off_; }

  uint32_t slots() const noexcept { return slots_; }
  unsigned slots_log2() const noexcept { return slots_log2_; }
  uint32_t block_size() const noexcept { return cfg_.block_size; }
  unsigned block_log2() const noexcept { return block_log2_; }
  uint32_t pool_blocks() const noexcept { return static_cast<uint32_t>(cfg_.pool_size >> block_log2_); }
  size_t region_size() const noexcept { return region_size_; }
  // Hash of everything that must agree between processes (shape, protocol sizes, version).
  uint64_t fingerprint() const noexcept { return fingerprint_; }

 private:
  JobShape shape_;
  Config cfg_;
  uint32_t slots_ = 0;
  unsigned slots_log2_ = 0, block_log2_ = 0;
  size_t ack_segment_off_ = 0, data_off_ = 0, segment_size_ = 0, postbox_size_ = 0, pool_off_ = 0, region_size_ = 0;
  uint64_t fingerprint_ = 0;
};

// The smallest window (multiple of 2 MiB) that holds the layout of `shape` and `cfg`.
Result<size_t> window_size_needed(const JobShape& shape, const Config& cfg);

}  // namespace pbx::detail
