#include "inline_codec.h"

#include <immintrin.h>

#include "pbx/base/cpu_features.h"

namespace pbx::wire {

namespace {
bool detect() {
  const CpuFeatures& f = cpu_features();
  return !kScalarSharedMemory && f.avx512f && f.avx512bw && f.avx512vbmi;
}

// Byte permutations between "the line's payload bytes in order" and "line bytes minus each
// word's top byte", for the indicator line (words 1..7) and a continuation line (words 0..7).
struct Tables {
  alignas(64) uint8_t spread0[64];  // indicator line byte b <- payload byte spread0[b]
  alignas(64) uint8_t gather0[64];  // payload byte p <- indicator line byte gather0[p]
  alignas(64) uint8_t spread[64];   // continuation line byte b <- payload byte spread[b]
  alignas(64) uint8_t gather[64];   // payload byte p <- continuation line byte gather[p]
  constexpr Tables() : spread0(), gather0(), spread(), gather() {
    for (int b = 0; b < 64; ++b) {
      const int word = b / 8, k = b % 8;
      spread0[b] = static_cast<uint8_t>(word >= 1 && k < 7 ? 7 * (word - 1) + k : 63);
      spread[b] = static_cast<uint8_t>(k < 7 ? 7 * word + k : 63);
    }
    for (int p = 0; p < 64; ++p) {
      gather0[p] = static_cast<uint8_t>(p < 49 ? 8 * (p / 7 + 1) + p % 7 : 0);
      gather[p] = static_cast<uint8_t>(p < 56 ? 8 * (p / 7) + p % 7 : 0);
    }
  }
};
constexpr Tables kTables{};

constexpr __mmask64 low_bytes(size_t n) noexcept { return n >= 64 ? ~__mmask64{0} : ((__mmask64{1} << n) - 1); }
}  // namespace

const bool kVectorInlineCodec = detect();

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void pack_inline_line_avx512(const void* src, size_t n,
                                                                                     size_t k, uint64_t (&w)[8],
                                                                                     uint8_t check) noexcept {
  const InlineSpan sp = inline_span(n, k);
  const __m512i data = _mm512_maskz_loadu_epi8(low_bytes(sp.count), static_cast<const std::byte*>(src) + sp.first);
  // (maskz with every bit set: the plain form trips GCC 12's uninitialized-use warning)
  const __m512i spread =
      _mm512_maskz_permutexvar_epi8(~__mmask64{0}, _mm512_load_si512(k == 0 ? kTables.spread0 : kTables.spread), data);
  // Every word's top byte becomes the check byte; word 0 of the indicator line is the caller's.
  const __m512i with_check =
      _mm512_mask_blend_epi8(__mmask64{0x8080808080808080ull}, spread, _mm512_set1_epi8(static_cast<char>(check)));
  // One 64-byte store, the header merged in first: the caller then loads the whole line (its
  // store to the window), which the CPU forwards from one store of the same size; a separate
  // 8-byte store of the header on top would stall that load until both left the store buffer.
  if (k == 0) {
    const __m512i header = _mm512_set1_epi64(static_cast<long long>(w[0]));
    _mm512_storeu_si512(w, _mm512_mask_blend_epi64(__mmask8{1}, with_check, header));
  } else {
    _mm512_storeu_si512(w, with_check);
  }
}

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) bool unpack_inline_line_avx512(const void* line, size_t n,
                                                                                       size_t k, uint8_t check,
                                                                                       void* dst) noexcept {
  const InlineSpan sp = inline_span(n, k);
  const __m512i v = _mm512_loadu_si512(line);
  // Top bytes of the words that carry the line's bytes must equal the check byte.
  const size_t words = inline_words(sp.count);
  const __mmask64 span = low_bytes(8 * (sp.word0 + words)) & ~low_bytes(8 * sp.word0);
  const __mmask64 need = span & 0x8080808080808080ull;
  const __mmask64 ok = _mm512_mask_cmpeq_epi8_mask(need, v, _mm512_set1_epi8(static_cast<char>(check)));
  if (ok != need) return false;
  const __m512i packed =
      _mm512_maskz_permutexvar_epi8(~__mmask64{0}, _mm512_load_si512(k == 0 ? kTables.gather0 : kTables.gather), v);
  _mm512_mask_storeu_epi8(static_cast<std::byte*>(dst) + sp.first, low_bytes(sp.count), packed);  // no byte past the line's
  return true;
}

}  // namespace pbx::wire
