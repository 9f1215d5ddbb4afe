#include "inline_codec.h"

#include <immintrin.h>

#include "pbx/base/cpu_features.h"

namespace pbx::wire {

namespace {
bool detect() {
  const CpuFeatures& f = cpu_features();
  return !kScalarSharedMemory && f.avx512f && f.avx512bw && f.avx512vbmi;
}

// Byte permutations between "payload bytes 0..48" and "line bytes 8..63 minus each word's
// top byte" (word j >= 1 holds payload bytes 7(j-1) .. 7(j-1)+6 in its low 7 bytes).
struct Tables {
  alignas(64) uint8_t spread[64];   // line byte b <- payload byte spread[b]
  alignas(64) uint8_t gather[64];   // payload byte p <- line byte gather[p]
  constexpr Tables() : spread(), gather() {
    for (int b = 0; b < 64; ++b) {
      const int word = b / 8, k = b % 8;
      spread[b] = static_cast<uint8_t>(word >= 1 && k < 7 ? 7 * (word - 1) + k : 63);
    }
    for (int p = 0; p < 64; ++p) gather[p] = static_cast<uint8_t>(p < 49 ? 8 * (p / 7 + 1) + p % 7 : 0);
  }
};
constexpr Tables kTables{};
}  // namespace

const bool kVectorInlineCodec = detect();

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void pack_inline_avx512(const void* src, size_t n,
                                                                                uint64_t w[8],
                                                                                uint8_t check) noexcept {
  const __mmask64 m = n >= 64 ? ~__mmask64{0} : ((__mmask64{1} << n) - 1);
  const __m512i data = _mm512_maskz_loadu_epi8(m, src);  // no access beyond src + n
  const __m512i spread = _mm512_maskz_permutexvar_epi8(~__mmask64{0}, _mm512_load_si512(kTables.spread), data);
  // Every word's top byte becomes the check byte; word 0 (the header) is filled by the caller.
  const __m512i with_check =
      _mm512_mask_blend_epi8(__mmask64{0x8080808080808080ull}, spread, _mm512_set1_epi8(static_cast<char>(check)));
  const uint64_t header = w[0];
  _mm512_storeu_si512(w, with_check);
  w[0] = header;
}

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void store_inline_line_avx512(void* line, uint64_t header,
                                                                                      const void* src, size_t n,
                                                                                      uint8_t check) noexcept {
  const __mmask64 m = n >= 64 ? ~__mmask64{0} : ((__mmask64{1} << n) - 1);
  const __m512i data = _mm512_maskz_loadu_epi8(m, src);  // no access beyond src + n
  const __m512i spread = _mm512_maskz_permutexvar_epi8(~__mmask64{0}, _mm512_load_si512(kTables.spread), data);
  const __m512i with_check =
      _mm512_mask_blend_epi8(__mmask64{0x8080808080808080ull}, spread, _mm512_set1_epi8(static_cast<char>(check)));
  const __m512i with_header = _mm512_mask_blend_epi64(__mmask8{1}, with_check, _mm512_set1_epi64(static_cast<long long>(header)));
  // One 64-byte store: one cache-line write (one posted write through a WC BAR); the reader
  // checks every word on its own, so the order in which its parts land does not matter.
  _mm512_store_si512(line, with_header);
}

__attribute__((target("avx2"))) void store_inline_line_avx2(void* line, uint64_t header, const void* src, size_t n,
                                                             uint8_t check) noexcept {
  const auto* s = static_cast<const unsigned char*>(src);
  auto word = [&](size_t i) { return static_cast<long long>(checked(payload_word(s, n, kInlineBytesPerWord * (i - 1)), check)); };
  // Words go straight from registers to the line: no array on the stack, whose stores would
  // wait in the store buffer behind the line's (which wait for the line to arrive).
  const __m256i hi = _mm256_set_epi64x(word(7), word(6), word(5), word(4));
  const __m256i lo = _mm256_set_epi64x(word(3), word(2), word(1), static_cast<long long>(header));
  // Words 4..7, then words 0..3: x86 commits stores in order, so a reader that sees word 0
  // sees the whole line; readers check every word on its own in any case (wire.h).
  auto* d = static_cast<__m256i*>(line);
  _mm256_store_si256(d + 1, hi);
  _mm256_store_si256(d, lo);
}

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) bool unpack_inline_avx512(const uint64_t w[8], size_t n,
                                                                                  uint8_t check,
                                                                                  void* dst) noexcept {
  const __m512i line = _mm512_loadu_si512(w);
  const size_t words = inline_words(n);
  // Top bytes of words 1..words must equal the check byte.
  const __mmask64 upto = words >= 7 ? ~__mmask64{0} : ((__mmask64{1} << (8 * (words + 1))) - 1);  // bytes of words 0..words
  const __mmask64 need = upto & 0x8080808080808000ull;
  const __mmask64 ok = _mm512_mask_cmpeq_epi8_mask(need, line, _mm512_set1_epi8(static_cast<char>(check)));
  if (ok != need) return false;
  const __m512i packed = _mm512_maskz_permutexvar_epi8(~__mmask64{0}, _mm512_load_si512(kTables.gather), line);
  const __mmask64 m = n >= 64 ? ~__mmask64{0} : ((__mmask64{1} << n) - 1);
  _mm512_mask_storeu_epi8(dst, m, packed);  // no access beyond dst + n
  return true;
}

}  // namespace pbx::wire
