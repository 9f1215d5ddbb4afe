#include "pbx/hal/window.h"

#include <immintrin.h>

#include "pbx/base/cpu_features.h"

namespace pbx::hal {

namespace {
LineStore detect() {
  if (kScalarSharedMemory) return LineStore::kWords;  // TSan follows the word stores
  const CpuFeatures& f = cpu_features();
  if (f.avx512f) return LineStore::kWhole;
  if (f.avx2) return LineStore::kTwoHalves;
  return LineStore::kWords;
}
}  // namespace

const LineStore kLineStore = detect();

__attribute__((target("avx512f"))) void store_line_avx512(void* dst, const uint64_t* w) noexcept {
  // One 64-byte store: one cache-line write on write-back memory, one full-size posted write
  // through a write-combining BAR. Readers check every word on its own (wire.h), so the order
  // in which its parts become visible does not matter.
  _mm512_store_si512(dst, _mm512_loadu_si512(w));
}

__attribute__((target("avx2"))) void store_line_avx2(void* dst, const uint64_t* w) noexcept {
  // Words 4..7, then words 0..3: x86 commits stores in program order, so a reader that sees
  // word 0 sees the whole line; on a WC mapping the two halves combine into one full-line
  // posted write. Readers check every word on its own (wire.h) in any case.
  auto* d = static_cast<__m256i*>(dst);
  const auto* s = reinterpret_cast<const __m256i*>(w);
  _mm256_store_si256(d + 1, _mm256_loadu_si256(s + 1));
  _mm256_store_si256(d, _mm256_loadu_si256(s));
}

}  // namespace pbx::hal
