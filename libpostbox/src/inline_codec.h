// The inline codec: a small message packed into (and out of) the seven payload words of an
// indicator line, 7 bytes per word, the check byte in the top byte of each (see wire.h).
//
// Two implementations with the same results: a portable scalar one (wire.h), and one with
// AVX-512 (BW + VBMI: a masked load, one byte permute, one 64-byte store), chosen once at
// start-up. The vector one never reads or writes outside the message (masked loads and
// stores do not fault on masked-out bytes). Its functions are inline, for callers compiled
// for the same target (the send and receive fast paths).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "wire.h"

#define PBX_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vbmi")))

namespace pbx::wire {

// True when this CPU has AVX-512 BW and VBMI (and the build is not instrumented by TSan,
// which cannot follow vector accesses to shared memory).
extern const bool kVectorInlineCodec;

// Byte permutations between "payload bytes 0..48" and "line bytes 8..63 minus each word's
// top byte" (word j >= 1 holds payload bytes 7(j-1) .. 7(j-1)+6 in its low 7 bytes).
struct InlineTables {
  alignas(64) uint8_t spread[64];  // line byte b <- payload byte spread[b]
  alignas(64) uint8_t gather[64];  // payload byte p <- line byte gather[p]
  constexpr InlineTables() : spread(), gather() {
    for (int b = 0; b < 64; ++b) {
      const int word = b / 8, k = b % 8;
      spread[b] = static_cast<uint8_t>(word >= 1 && k < 7 ? 7 * (word - 1) + k : 63);
    }
    for (int p = 0; p < 64; ++p) gather[p] = static_cast<uint8_t>(p < 49 ? 8 * (p / 7 + 1) + p % 7 : 0);
  }
};
inline constexpr InlineTables kInlineTables{};

PBX_TARGET_AVX512 inline __mmask64 byte_mask(size_t n) noexcept {
  return n >= 64 ? ~__mmask64{0} : ((__mmask64{1} << n) - 1);
}

// Encodes the header word and n <= 49 payload bytes into one line value (in registers).
PBX_TARGET_AVX512 inline __m512i encode_inline_line(uint64_t header, const void* src, size_t n,
                                                     uint8_t check) noexcept {
  const __m512i data = _mm512_maskz_loadu_epi8(byte_mask(n), src);  // no access beyond src + n
  const __m512i spread = _mm512_maskz_permutexvar_epi8(~__mmask64{0}, _mm512_load_si512(kInlineTables.spread), data);
  // Every word's top byte becomes the check byte, then word 0 becomes the header.
  const __m512i with_check =
      _mm512_mask_blend_epi8(__mmask64{0x8080808080808080ull}, spread, _mm512_set1_epi8(static_cast<char>(check)));
  return _mm512_mask_blend_epi64(__mmask8{1}, with_check, _mm512_set1_epi64(static_cast<long long>(header)));
}

// Checks words 1..inline_words(n) of `line` against `check` and unpacks n bytes into dst.
// Returns false (dst untouched) if a word has not landed yet.
PBX_TARGET_AVX512 inline bool decode_inline_line(const uint64_t* line, size_t n, uint8_t check, void* dst) noexcept {
  const __m512i v = _mm512_loadu_si512(line);
  const size_t words = inline_words(n);
  // Top bytes of words 1..words must equal the check byte.
  const __mmask64 upto = words >= 7 ? ~__mmask64{0} : ((__mmask64{1} << (8 * (words + 1))) - 1);
  const __mmask64 need = upto & 0x8080808080808000ull;
  const __mmask64 ok = _mm512_mask_cmpeq_epi8_mask(need, v, _mm512_set1_epi8(static_cast<char>(check)));
  if (ok != need) return false;
  const __m512i packed = _mm512_maskz_permutexvar_epi8(~__mmask64{0}, _mm512_load_si512(kInlineTables.gather), v);
  _mm512_mask_storeu_epi8(dst, byte_mask(n), packed);  // no access beyond dst + n
  return true;
}

// Out-of-line forms, for tests and callers not compiled for AVX-512.
void pack_inline_avx512(const void* src, size_t n, uint64_t w[8], uint8_t check) noexcept;
bool unpack_inline_avx512(const uint64_t w[8], size_t n, uint8_t check, void* dst) noexcept;

}  // namespace pbx::wire
