#include "pbx/hal/window.h"

#include <immintrin.h>

namespace pbx::hal {

namespace {
bool detect() {
#if defined(__SANITIZE_THREAD__)
  return false;  // TSan cannot follow vector stores to shared memory: keep the word stores
#else
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
#endif
}
}  // namespace

const bool kWideLineStores = detect();

__attribute__((target("avx512f"))) void store_line_avx512(void* dst, const uint64_t* w) noexcept {
  // One 64-byte store: one cache-line write on write-back memory, one full-size posted write
  // through a write-combining BAR. Readers check every word on its own (wire.h), so the order
  // in which its parts become visible does not matter.
  _mm512_store_si512(dst, _mm512_loadu_si512(w));
}

}  // namespace pbx::hal
