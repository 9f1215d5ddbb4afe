// Allocator of a segment's buffer pool (c2, c8): contiguous runs of blocks, next-fit from
// where the last allocation ended, so that streaming traffic walks the pool like a ring and
// frees out of order (receivers acknowledge at different speeds) cost nothing extra. Once
// the pool is empty again, allocation restarts at block 0 (hot memory for request/reply).
// Local bookkeeping only: the pool memory itself is remote and never read.
//
// Storage is allocated once at construction; alloc() and free() never allocate.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace pbx::detail {

class PoolAllocator {
 public:
  PoolAllocator() = default;
  explicit PoolAllocator(uint32_t blocks);

  // First block of a free run of `n` blocks, or nullopt if there is none (c8: "insufficient
  // unallocated memory"). n >= 1.
  std::optional<uint32_t> alloc(uint32_t n) noexcept;
  // Returns blocks [first, first + n) to the pool. They must have been allocated.
  void free(uint32_t first, uint32_t n) noexcept;

  uint32_t blocks() const noexcept { return blocks_; }
  uint32_t free_blocks() const noexcept { return free_; }
  bool is_used(uint32_t block) const noexcept { return (bits_[block / 64] >> (block % 64)) & 1; }

 private:
  // First index in [from, to) whose bit equals `used`, or `to`.
  uint32_t find(uint32_t from, uint32_t to, bool used) const noexcept;
  std::optional<uint32_t> find_run(uint32_t from, uint32_t to, uint32_t n) const noexcept;
  void set_range(uint32_t first, uint32_t n, bool used) noexcept;

  std::vector<uint64_t> bits_;  // 1 = used
  uint32_t blocks_ = 0;
  uint32_t free_ = 0;
  uint32_t cursor_ = 0;
};

}  // namespace pbx::detail
