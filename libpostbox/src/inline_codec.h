// The inline codec: a small message packed into (and out of) the seven payload words of an
// indicator line, 7 bytes per word, the check byte in the top byte of each (see wire.h).
//
// Two implementations with the same results: a portable scalar one, and one with AVX-512
// (BW + VBMI: a masked load, one byte permute, one store), chosen once at start-up. The vector
// one never reads outside the message (masked loads do not fault on masked-out bytes).
#pragma once

#include <cstddef>
#include <cstdint>

#include "wire.h"

namespace pbx::wire {

// True when this CPU has AVX-512 BW and VBMI (and the build is not instrumented by TSan,
// which cannot follow vector accesses to shared memory).
extern const bool kVectorInlineCodec;

void pack_inline_avx512(const void* src, size_t n, uint64_t w[8], uint8_t check) noexcept;
// Encodes header word + n payload bytes and writes the whole line to `line` (64-byte aligned)
// with one 64-byte store, without a round trip through memory.
void store_inline_line_avx512(void* line, uint64_t header, const void* src, size_t n, uint8_t check) noexcept;
// The same with two 32-byte stores (AVX2): words 4..7, then words 0..3, built in registers.
void store_inline_line_avx2(void* line, uint64_t header, const void* src, size_t n, uint8_t check) noexcept;
// Checks words 1..inline_words(n) of `line` against `check` and unpacks n bytes into dst.
// Returns false (dst untouched) if a word has not landed yet.
bool unpack_inline_avx512(const uint64_t w[8], size_t n, uint8_t check, void* dst) noexcept;

inline void pack_inline_fast(const void* src, size_t n, uint64_t w[8], uint8_t check) noexcept {
  if (kVectorInlineCodec) return pack_inline_avx512(src, n, w, check);
  pack_inline(src, n, w, check);
}

}  // namespace pbx::wire
