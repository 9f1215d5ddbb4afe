// The inline codec in vector form: lines of an inline message (wire.h, "Inline messages")
// packed and unpacked with AVX-512 (BW + VBMI: a masked load, one byte permute, a blend; a
// compare, a permute, a masked store), chosen once at start-up where the CPU has it; the
// scalar forms in wire.h elsewhere (and in ThreadSanitizer builds, which cannot follow vector
// accesses to shared memory). Both give the same words and bytes (tested against each other).
#pragma once

#include <cstddef>
#include <cstdint>

#include "wire.h"

namespace pbx::wire {

// True when this CPU has AVX-512 BW and VBMI (and the build is not instrumented by TSan).
extern const bool kVectorInlineCodec;

// As pack_inline_line(): never reads outside the message (masked loads do not fault on
// masked-out bytes).
void pack_inline_line_avx512(const void* src, size_t n, size_t k, uint64_t (&w)[8], uint8_t check) noexcept;
// As unpack_inline_line(), reading the 64-byte line at `line` with one load; writes exactly
// the line's bytes of [dst, dst + n) (a masked store).
bool unpack_inline_line_avx512(const void* line, size_t n, size_t k, uint8_t check, void* dst) noexcept;

// The variant this CPU runs.
inline void pack_inline_line_fast(const void* src, size_t n, size_t k, uint64_t (&w)[8], uint8_t check) noexcept {
  if (kVectorInlineCodec) pack_inline_line_avx512(src, n, k, w, check);
  else pack_inline_line(src, n, k, w, check);
}

}  // namespace pbx::wire
