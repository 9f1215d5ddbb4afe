#include "pool_allocator.h"

#include <bit>
#include <cassert>

namespace pbx::detail {

PoolAllocator::PoolAllocator(uint32_t blocks) : bits_((blocks + 63) / 64, 0), blocks_(blocks), free_(blocks) {}

uint32_t PoolAllocator::find(uint32_t from, uint32_t to, bool used) const noexcept {
  uint32_t i = from;
  while (i < to) {
    uint64_t w = bits_[i / 64];
    if (!used) w = ~w;
    w &= ~uint64_t{0} << (i % 64);  // ignore bits below i
    if (w != 0) {
      const uint32_t hit = (i & ~63u) + static_cast<uint32_t>(std::countr_zero(w));
      return hit < to ? hit : to;
    }
    i = (i & ~63u) + 64;
  }
  return to;
}

std::optional<uint32_t> PoolAllocator::find_run(uint32_t from, uint32_t to, uint32_t n) const noexcept {
  uint32_t i = from;
  while (i < to && to - i >= n) {
    i = find(i, to, false);  // next free block
    if (i >= to || to - i < n) return std::nullopt;
    const uint32_t used = find(i, i + n, true);  // first used block inside the candidate run
    if (used == i + n) return i;
    i = used;
  }
  return std::nullopt;
}

std::optional<uint32_t> PoolAllocator::alloc(uint32_t n) noexcept {
  assert(n >= 1);
  if (n > free_) return std::nullopt;
  auto at = find_run(cursor_, blocks_, n);
  if (!at) at = find_run(0, blocks_, n);  // wrap around once
  if (!at) return std::nullopt;
  set_range(*at, n, true);
  free_ -= n;
  cursor_ = *at + n == blocks_ ? 0 : *at + n;
  return at;
}

void PoolAllocator::free(uint32_t first, uint32_t n) noexcept {
  assert(first + n <= blocks_);
  set_range(first, n, false);
  free_ += n;
  // An empty pool starts again at its first block: a sender that waits for replies between
  // messages (ping-pong) then keeps reusing a few blocks whose lines and pages stay in the
  // caches and TLBs, instead of walking the whole pool. Streaming never empties the pool and
  // keeps walking it like a ring.
  if (free_ == blocks_) cursor_ = 0;
}

void PoolAllocator::set_range(uint32_t first, uint32_t n, bool used) noexcept {
  uint32_t i = first;
  const uint32_t end = first + n;
  while (i < end) {
    const uint32_t bit = i % 64;
    const uint32_t take = std::min(64 - bit, end - i);
    const uint64_t mask = (take == 64 ? ~uint64_t{0} : ((uint64_t{1} << take) - 1)) << bit;
    uint64_t& w = bits_[i / 64];
    assert(used ? (w & mask) == 0 : (w & mask) == mask);
    w = used ? (w | mask) : (w & ~mask);
    i += take;
  }
}

}  // namespace pbx::detail
