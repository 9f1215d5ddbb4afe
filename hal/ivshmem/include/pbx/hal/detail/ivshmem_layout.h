// The layout of an ivshmem shared memory used as a postbox fabric: a wire format between VMs.
//
// ivshmem has a shared window, doorbells and peer IDs, but no scratchpads, no link events and no
// address translation. The first `ctl_size` bytes emulate what an NTB has in registers; the
// rest holds the windows. For n nodes (all offsets fixed by n, little-endian, 64-byte lines):
//
//   0                 Header                      magic, version, node count, window size
//   64                NodeState[n]                per node: epoch (odd = present), vectors
//   node_off + 64n    spads[dst][src][16] u32     one line per (dst, src)
//   spad_off + 64n^2  doorbell[dst][src] u64      one line per (dst, src)
//   ctl_size          window[dst][src]            window_size bytes each (4 KiB multiple)
//
// window[k][j] is node k's inbound memory written by node j: node j's peer_mw(k), node k's
// local_mw(j). The epoch of a node is bumped when it announces itself (to an odd value) and when
// it leaves (to an even value); link(k, j) is up while both are odd, and its generation is
// epoch_k + epoch_j, so it changes on every transition, a restart after a crash included.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace pbx::hal::ivshmem_layout {

inline constexpr uint64_t kMagic = 0x314d485356584250ull;         // "PBXVSHM1"
inline constexpr uint64_t kMagicInitialising = 0x3f4d485356584250ull;  // "PBXVSHM?": being written
inline constexpr uint32_t kVersion = 1;
inline constexpr uint16_t kMaxNodes = 64;
inline constexpr uint16_t kSpadCount = 16;
inline constexpr size_t kLine = 64;
inline constexpr size_t kWindowAlign = 4096;

struct Header {
  uint64_t magic;           // kMagic, stored last (release) once the rest is written
  uint32_t version;         // kVersion
  uint16_t node_count;
  uint16_t spad_count;      // kSpadCount
  uint64_t window_size;
  uint64_t windows_offset;  // == ctl_size(node_count)
  uint64_t total_size;      // windows_offset + node_count^2 * window_size
  uint64_t reserved[3];
};
static_assert(sizeof(Header) == kLine);
static_assert(std::is_trivially_copyable_v<Header> && std::has_unique_object_representations_v<Header>);
static_assert(offsetof(Header, magic) == 0 && offsetof(Header, version) == 8 && offsetof(Header, node_count) == 12 &&
              offsetof(Header, spad_count) == 14 && offsetof(Header, window_size) == 16 &&
              offsetof(Header, windows_offset) == 24 && offsetof(Header, total_size) == 32);

struct NodeState {
  uint64_t epoch;     // odd: present; written only by the node itself
  uint16_t vectors;   // interrupt vectors the node waits on (0: peers set bits, never ring)
  uint16_t reserved0[3];
  uint64_t reserved[6];
};
static_assert(sizeof(NodeState) == kLine);
static_assert(std::is_trivially_copyable_v<NodeState> && std::has_unique_object_representations_v<NodeState>);
static_assert(offsetof(NodeState, epoch) == 0 && offsetof(NodeState, vectors) == 8);

constexpr size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

struct Layout {
  uint16_t nodes;
  size_t node_off, spad_off, db_off, ctl_size;

  constexpr explicit Layout(uint16_t n)
      : nodes(n),
        node_off(kLine),
        spad_off(node_off + size_t{n} * kLine),
        db_off(spad_off + size_t{n} * n * kLine),
        ctl_size(round_up(db_off + size_t{n} * n * kLine, kWindowAlign)) {}

  constexpr size_t node(uint16_t k) const { return node_off + size_t{k} * kLine; }
  constexpr size_t spad(uint16_t dst, uint16_t src, uint16_t i) const {
    return spad_off + (size_t{dst} * nodes + src) * kLine + size_t{i} * 4;
  }
  constexpr size_t doorbell(uint16_t dst, uint16_t src) const { return db_off + (size_t{dst} * nodes + src) * kLine; }
  constexpr size_t window(uint16_t dst, uint16_t src, size_t window_size) const {
    return ctl_size + (size_t{dst} * nodes + src) * window_size;
  }
  constexpr size_t total(size_t window_size) const { return ctl_size + size_t{nodes} * nodes * window_size; }
  // The largest window size (a multiple of kWindowAlign) whose windows fit in `shm_size`; 0 if none.
  constexpr size_t max_window(size_t shm_size) const {
    if (shm_size <= ctl_size) return 0;
    return (shm_size - ctl_size) / (size_t{nodes} * nodes) / kWindowAlign * kWindowAlign;
  }
};
static_assert(kSpadCount * 4 == kLine, "one line of scratchpads per (dst, src)");
static_assert(Layout(2).ctl_size == 4096 && Layout(64).ctl_size == 532480);

}  // namespace pbx::hal::ivshmem_layout
