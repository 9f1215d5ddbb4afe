// bulk_copy: window copies with vector moves (see window.h for why not memcpy).
#include <cstdint>
#include <cstring>

#include "pbx/base/cpu_features.h"
#include "pbx/hal/window.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace pbx::hal {

#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
namespace {

// Both variants: one unaligned store for the head, aligned stores for the body (whole lines
// where the destination is line-aligned, as pool blocks are), one unaligned store for the
// tail that may rewrite bytes already written with the same values. Window copies never
// overlap their source, so the order of loads and stores is free. n >= kBulkCopyMin.

__attribute__((target("avx2"))) void copy_avx2(std::byte* d, const std::byte* s, size_t n) noexcept {
  const size_t head = 32 - (reinterpret_cast<uintptr_t>(d) & 31);  // 1..32 bytes to alignment
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(d), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s)));
  d += head, s += head, n -= head;
  for (; n >= 128; d += 128, s += 128, n -= 128) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 32));
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 64));
    const __m256i e = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 96));
    _mm256_store_si256(reinterpret_cast<__m256i*>(d), a);
    _mm256_store_si256(reinterpret_cast<__m256i*>(d + 32), b);
    _mm256_store_si256(reinterpret_cast<__m256i*>(d + 64), c);
    _mm256_store_si256(reinterpret_cast<__m256i*>(d + 96), e);
  }
  for (; n >= 32; d += 32, s += 32, n -= 32)
    _mm256_store_si256(reinterpret_cast<__m256i*>(d), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s)));
  if (n != 0)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + n - 32),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + n - 32)));
}

void copy_sse2(std::byte* d, const std::byte* s, size_t n) noexcept {
  const size_t head = 16 - (reinterpret_cast<uintptr_t>(d) & 15);  // 1..16 bytes to alignment
  _mm_storeu_si128(reinterpret_cast<__m128i*>(d), _mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
  d += head, s += head, n -= head;
  for (; n >= 64; d += 64, s += 64, n -= 64) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 16));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 32));
    const __m128i e = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 48));
    _mm_store_si128(reinterpret_cast<__m128i*>(d), a);
    _mm_store_si128(reinterpret_cast<__m128i*>(d + 16), b);
    _mm_store_si128(reinterpret_cast<__m128i*>(d + 32), c);
    _mm_store_si128(reinterpret_cast<__m128i*>(d + 48), e);
  }
  for (; n >= 16; d += 16, s += 16, n -= 16)
    _mm_store_si128(reinterpret_cast<__m128i*>(d), _mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
  if (n != 0)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + n - 16), _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + n - 16)));
}

const bool kAvx2 = cpu_features().avx2;

}  // namespace

void bulk_copy(void* dst, const void* src, size_t n) noexcept {
  static_assert(kBulkCopyMin >= 64, "the variants need room for their head and tail stores");
  auto* d = static_cast<std::byte*>(dst);
  const auto* s = static_cast<const std::byte*>(src);
  if (kAvx2) copy_avx2(d, s, n);
  else copy_sse2(d, s, n);
}

#else  // other CPUs, and under ThreadSanitizer (which sees memcpy but not vector intrinsics)

void bulk_copy(void* dst, const void* src, size_t n) noexcept { std::memcpy(dst, src, n); }

#endif

}  // namespace pbx::hal
