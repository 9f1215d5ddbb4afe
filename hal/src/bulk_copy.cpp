// Bulk copies in the variant that fits the CPU (pbx/hal/copy.h).
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "pbx/base/cpu_features.h"
#include "pbx/hal/copy.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace pbx::hal {

namespace {

#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
constexpr bool kVectorCopies = true;

// Every variant: one unaligned store for the head, aligned stores for the body (whole lines
// where the destination is line-aligned, as pool blocks and ring slots are), one unaligned
// store for the tail that may rewrite bytes already written with the same values. Window
// copies never overlap their source, so the order of loads and stores is free. n >= 512.

__attribute__((target("avx512f"))) void copy_avx512(std::byte* d, const std::byte* s, size_t n, bool nt) noexcept {
  const size_t head = 64 - (reinterpret_cast<uintptr_t>(d) & 63);  // 1..64 bytes to alignment
  _mm512_storeu_si512(d, _mm512_loadu_si512(s));
  d += head, s += head, n -= head;
  if (nt) {
    for (; n >= 256; d += 256, s += 256, n -= 256) {
      const __m512i a = _mm512_loadu_si512(s), b = _mm512_loadu_si512(s + 64);
      const __m512i c = _mm512_loadu_si512(s + 128), e = _mm512_loadu_si512(s + 192);
      _mm512_stream_si512(reinterpret_cast<__m512i*>(d), a);
      _mm512_stream_si512(reinterpret_cast<__m512i*>(d + 64), b);
      _mm512_stream_si512(reinterpret_cast<__m512i*>(d + 128), c);
      _mm512_stream_si512(reinterpret_cast<__m512i*>(d + 192), e);
    }
  } else {
    for (; n >= 256; d += 256, s += 256, n -= 256) {
      const __m512i a = _mm512_loadu_si512(s), b = _mm512_loadu_si512(s + 64);
      const __m512i c = _mm512_loadu_si512(s + 128), e = _mm512_loadu_si512(s + 192);
      _mm512_store_si512(d, a);
      _mm512_store_si512(d + 64, b);
      _mm512_store_si512(d + 128, c);
      _mm512_store_si512(d + 192, e);
    }
  }
  for (; n >= 64; d += 64, s += 64, n -= 64) _mm512_store_si512(d, _mm512_loadu_si512(s));
  if (n != 0) _mm512_storeu_si512(d + n - 64, _mm512_loadu_si512(s + n - 64));
  // Orders the streaming stores before every later store (the indicator that publishes them).
  if (nt) _mm_sfence();
}

__attribute__((target("avx2"))) void copy_avx2(std::byte* d, const std::byte* s, size_t n, bool nt) noexcept {
  const size_t head = 32 - (reinterpret_cast<uintptr_t>(d) & 31);  // 1..32 bytes to alignment
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(d), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s)));
  d += head, s += head, n -= head;
  for (; n >= 128; d += 128, s += 128, n -= 128) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 32));
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 64));
    const __m256i e = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 96));
    if (nt) {
      _mm256_stream_si256(reinterpret_cast<__m256i*>(d), a);
      _mm256_stream_si256(reinterpret_cast<__m256i*>(d + 32), b);
      _mm256_stream_si256(reinterpret_cast<__m256i*>(d + 64), c);
      _mm256_stream_si256(reinterpret_cast<__m256i*>(d + 96), e);
    } else {
      _mm256_store_si256(reinterpret_cast<__m256i*>(d), a);
      _mm256_store_si256(reinterpret_cast<__m256i*>(d + 32), b);
      _mm256_store_si256(reinterpret_cast<__m256i*>(d + 64), c);
      _mm256_store_si256(reinterpret_cast<__m256i*>(d + 96), e);
    }
  }
  for (; n >= 32; d += 32, s += 32, n -= 32)
    _mm256_store_si256(reinterpret_cast<__m256i*>(d), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s)));
  if (n != 0)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + n - 32),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + n - 32)));
  // Orders the streaming stores before every later store (the indicator that publishes them).
  if (nt) _mm_sfence();
}

void copy_sse2(std::byte* d, const std::byte* s, size_t n, bool nt) noexcept {
  const size_t head = 16 - (reinterpret_cast<uintptr_t>(d) & 15);  // 1..16 bytes to alignment
  _mm_storeu_si128(reinterpret_cast<__m128i*>(d), _mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
  d += head, s += head, n -= head;
  for (; n >= 64; d += 64, s += 64, n -= 64) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 16));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 32));
    const __m128i e = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 48));
    if (nt) {
      _mm_stream_si128(reinterpret_cast<__m128i*>(d), a);
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + 16), b);
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + 32), c);
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + 48), e);
    } else {
      _mm_store_si128(reinterpret_cast<__m128i*>(d), a);
      _mm_store_si128(reinterpret_cast<__m128i*>(d + 16), b);
      _mm_store_si128(reinterpret_cast<__m128i*>(d + 32), c);
      _mm_store_si128(reinterpret_cast<__m128i*>(d + 48), e);
    }
  }
  for (; n >= 16; d += 16, s += 16, n -= 16)
    _mm_store_si128(reinterpret_cast<__m128i*>(d), _mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
  if (n != 0)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + n - 16), _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + n - 16)));
  // Orders the streaming stores before every later store (the indicator that publishes them).
  if (nt) _mm_sfence();
}

void copy_movsb(std::byte* d, const std::byte* s, size_t n) noexcept {
  asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}
#else  // other CPUs, and ThreadSanitizer builds (TSan sees memcpy but not vector intrinsics)
constexpr bool kVectorCopies = false;
#endif

CopyChoice g_choice = copy_choice_from_env();

}  // namespace

const char* to_string(CopyVariant v) noexcept {
  switch (v) {
    case CopyVariant::kAvx512: return "avx512";
    case CopyVariant::kAvx2: return "avx2";
    case CopyVariant::kSse2: return "sse2";
    case CopyVariant::kMovsb: return "movsb";
    case CopyVariant::kPortable: return "memcpy";
  }
  return "?";
}

bool copy_supported(CopyVariant v) noexcept {
  const CpuFeatures& f = cpu_features();
  switch (v) {
    case CopyVariant::kAvx512: return kVectorCopies && f.avx512f;
    case CopyVariant::kAvx2: return kVectorCopies && f.avx2;
    case CopyVariant::kSse2: return kVectorCopies && f.sse2;
    case CopyVariant::kMovsb: return kVectorCopies;
    case CopyVariant::kPortable: return true;
  }
  return false;
}

CopyChoice default_copy_choice() noexcept {
  CopyChoice c;
  for (CopyVariant v : {CopyVariant::kAvx512, CopyVariant::kAvx2, CopyVariant::kSse2})
    if (copy_supported(v)) {
      c.variant = v;
      return c;
    }
  return c;
}

CopyChoice copy_choice_from_env() noexcept {
  CopyChoice c = default_copy_choice();
  if (const char* nt = std::getenv("PBX_COPY_NT_MIN"); nt != nullptr && *nt != '\0') {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(nt, &end, 10);
    if (*end == '\0') c.nt_min = static_cast<size_t>(v);
    else c.note = "PBX_COPY_NT_MIN is not a number of bytes: no streaming stores";
  }
  const char* want = std::getenv("PBX_COPY");
  if (want == nullptr || *want == '\0' || std::string_view(want) == "auto") return c;
  for (CopyVariant v : {CopyVariant::kAvx512, CopyVariant::kAvx2, CopyVariant::kSse2, CopyVariant::kMovsb,
                        CopyVariant::kPortable}) {
    if (std::string_view(want) != to_string(v)) continue;
    if (!copy_supported(v)) {
      c.note = "the PBX_COPY asked for is not supported by this CPU (or build): the default runs";
      return c;
    }
    c.variant = v;
    return c;
  }
  c.note = "PBX_COPY is unknown (use auto, avx512, avx2, sse2, movsb or memcpy): the default runs";
  return c;
}

const CopyChoice& copy_choice() noexcept { return g_choice; }
void set_copy_choice(const CopyChoice& c) noexcept { g_choice = c; }

void copy_with(CopyVariant v, bool streaming, void* dst, const void* src, size_t n) noexcept {
  static_assert(kBulkCopyMin >= 64, "the variants need room for their head and tail stores");
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
  auto* d = static_cast<std::byte*>(dst);
  const auto* s = static_cast<const std::byte*>(src);
  switch (v) {
    case CopyVariant::kAvx512: return copy_avx512(d, s, n, streaming);
    case CopyVariant::kAvx2: return copy_avx2(d, s, n, streaming);
    case CopyVariant::kSse2: return copy_sse2(d, s, n, streaming);
    case CopyVariant::kMovsb: return copy_movsb(d, s, n);
    case CopyVariant::kPortable: break;
  }
#else
  (void)v, (void)streaming;
#endif
  std::memcpy(dst, src, n);
}

void bulk_copy(void* dst, const void* src, size_t n) noexcept {
  const CopyChoice& c = g_choice;
  copy_with(c.variant, c.nt_min != 0 && n >= c.nt_min, dst, src, n);
}

}  // namespace pbx::hal
