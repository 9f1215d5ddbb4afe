// Test payloads that say where they came from: word i of node `id`'s payload in this run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/test_device.h"

namespace pbx::hwtest {

inline uint64_t pattern_word(uint32_t id, size_t i) {
  return (uint64_t{run_nonce()} << 32 | id) * 0x9e3779b97f4a7c15ull + (i + 1) * 0xbf58476d1ce4e5b9ull;
}

// Fills `mem` (a multiple of 8 bytes) with node `id`'s pattern, 8-byte stores.
inline void fill_pattern(std::span<std::byte> mem, uint32_t id) {
  auto* w = reinterpret_cast<uint64_t*>(mem.data());
  for (size_t i = 0; i < mem.size() / 8; ++i) w[i] = pattern_word(id, i);
}

struct PatternCheck {
  size_t wrong = 0;        // words that differ
  size_t first_wrong = 0;  // index of the first
};

inline PatternCheck check_pattern(std::span<const std::byte> mem, uint32_t id) {
  const auto* w = reinterpret_cast<const uint64_t*>(mem.data());
  PatternCheck c;
  for (size_t i = 0; i < mem.size() / 8; ++i)
    if (w[i] != pattern_word(id, i) && c.wrong++ == 0) c.first_wrong = i;
  return c;
}

}  // namespace pbx::hwtest
