// Job shape, process addresses and the postbox configuration.
#pragma once

#include <cstdint>
#include <string>

#include "pbx/api.h"
#include "pbx/base/error.h"

namespace pbx {

// A process is addressed by (node, local index on that node), or by its flat rank
// node * procs_per_node + local.
struct Rank {
  uint16_t node = 0;
  uint16_t local = 0;
  friend constexpr bool operator==(Rank, Rank) = default;
};

// "Any sender" for receive calls.
inline constexpr Rank kAnySource{0xffff, 0xffff};

// The shape of a job: `nodes` nodes with `procs_per_node` processes each.
struct PBX_API JobShape {
  uint16_t nodes = 1;
  uint16_t procs_per_node = 1;

  static constexpr uint16_t kMaxNodes = 64;
  static constexpr uint16_t kMaxProcsPerNode = 256;

  uint32_t size() const noexcept { return uint32_t{nodes} * procs_per_node; }
  bool contains(Rank r) const noexcept { return r.node < nodes && r.local < procs_per_node; }
  uint32_t flat(Rank r) const noexcept { return uint32_t{r.node} * procs_per_node + r.local; }
  Rank rank_of(uint32_t flat_rank) const noexcept {
    return Rank{static_cast<uint16_t>(flat_rank / procs_per_node), static_cast<uint16_t>(flat_rank % procs_per_node)};
  }
  // Checks the shape; the error names the field and its limits.
  [[nodiscard]] Result<void> validate() const;
  // Checks that `r` is in this job; the error names the rank and the job's ranks.
  [[nodiscard]] Result<void> check_rank(Rank r, const char* what) const;
  [[nodiscard]] Result<Rank> rank_from_flat(uint64_t flat_rank) const;
};

// The postbox protocol's sizes. Every process of a job must use the same values (they are
// compared when processes meet). Defaults suit a few processes per node on a laptop and on
// NTB windows of 64 MiB and more.
struct PBX_API Config {
  // Indicator slots in each sender->receiver postbox: messages in flight per pair.
  uint32_t postbox_slots = 256;           // power of two, 8..4096
  // Buffer pool of each sender's segment on each node it sends to.
  uint64_t pool_size = 8ull << 20;        // multiple of block_size, 64 KiB..4 GiB
  // Allocation unit of the pool.
  uint32_t block_size = 1024;             // power of two, 64..1 MiB
  // Cyclic transaction size: the most pool memory one message uses at a time, a region of
  // cts_slices slices. send() and isend() cut a message above one slice (cts / cts_slices) into
  // pieces of a slice, piece i into slice i % cts_slices: the receiver copies one out while the
  // sender writes the next (pipelined, for latency); above the CTS a slice is reused for a later
  // piece once acknowledged. try_send() sends up to the CTS whole. 1 MiB in 16 pieces of 64 KiB
  // was the fastest here for streaming and ping-pong alike (pbx-perf --variant PBX_CTS=...).
  uint64_t cts = 1ull << 20;              // multiple of block_size * cts_slices, <= pool_size / 2
  // Slices of the CTS region: pieces in flight, and the piece size (cts / cts_slices).
  uint32_t cts_slices = 16;               // 1..64
  // Messages up to this size travel inside the indicator line (49 bytes) and the lines right
  // after it (56 bytes each, up to 8 lines in all): no pool, no fence, every word checked.
  uint32_t inline_max = 49;               // 0..441; at most postbox_slots / 2 lines
  // Each postbox has a payload ring of this many bytes next to its slots: messages above
  // inline_max and up to ring_max go there, in the order they are sent, each right after the
  // one before (so the receiver knows where the next will be). Larger ones use the pool.
  uint64_t ring_size = 64ull << 10;       // power of two, 4 KiB..64 MiB
  // The largest message a sender puts into a payload ring (0: none; the pool carries them).
  // Processes may differ here: receivers take what the ring holds.
  uint32_t ring_max = 4096;               // 0..ring_size / 4
  // Largest message a send accepts.
  uint64_t max_message = 1ull << 30;      // 1..2^47
  // A receiver acknowledges after this many released messages (0: postbox_slots / 4), and
  // always when it finds nothing to receive or the sender asks for an immediate ack.
  uint32_t ack_batch = 0;                 // 0 or 1..postbox_slots / 2
  // Blocking calls, waiting for peers to come up, and closing give up after this long.
  uint32_t timeout_ms = 10'000;           // 1..86'400'000
  // Outstanding isend() requests per endpoint.
  uint32_t max_pending_sends = 16;        // 1..1024
  // A peer that left or died is named (Errc::kPeerGone) within about this long, whatever
  // timeout_ms is. Backends that cannot see a process die (NTB, ivshmem) learn it from
  // heartbeats, which a small thread of this endpoint writes every peer_timeout_ms / 4.
  uint32_t peer_timeout_ms = 1000;        // 20..86'400'000; at most timeout_ms takes effect
  // End-to-end payload integrity: the sender puts a CRC32C of every pool message and piece in
  // its indicator, the receiver checks it (Errc::kDataCorrupt for that message only).
  // Receivers check whatever carries a checksum, so processes may differ here.
  bool checksum = false;
  // While blocked in a send (or waiting for one), a process copies messages out of its
  // postboxes into its own memory, up to this many bytes, so that senders blocked on it go on.
  uint64_t hold_limit = 64ull << 20;      // 0 (never) .. 64 GiB

  // Checks every field; the error names the field, its value and its limits.
  [[nodiscard]] Result<void> validate() const;
  uint32_t effective_ack_batch() const noexcept { return ack_batch != 0 ? ack_batch : postbox_slots / 4; }
  uint64_t piece_size() const noexcept { return cts / cts_slices; }
  uint32_t effective_peer_timeout_ms() const noexcept { return peer_timeout_ms < timeout_ms ? peer_timeout_ms : timeout_ms; }
  // Reads PBX_POSTBOX_SLOTS, PBX_POOL_SIZE, PBX_BLOCK_SIZE, PBX_CTS, PBX_CTS_SLICES,
  // PBX_INLINE_MAX, PBX_RING_SIZE, PBX_RING_MAX, PBX_MAX_MESSAGE, PBX_ACK_BATCH, PBX_TIMEOUT_MS, PBX_MAX_PENDING_SENDS,
  // PBX_PEER_TIMEOUT_MS, PBX_CHECKSUM (0/1, off/on, none/crc32c), PBX_HOLD_LIMIT over `base`
  // (sizes accept K, M, G suffixes). A malformed value is an error naming it.
  [[nodiscard]] static Result<Config> from_env(const Config& base);
  [[nodiscard]] static Result<Config> from_env();
};

// Parses "64", "4K", "1M", "2G" (binary units). The error names `what`.
[[nodiscard]] PBX_API Result<uint64_t> parse_size(const std::string& text, const char* what);

}  // namespace pbx
