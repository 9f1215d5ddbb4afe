#include "inline_codec.h"

namespace pbx::wire {

namespace {
bool detect() {
#if defined(__SANITIZE_THREAD__)
  return false;
#else
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vbmi");
#endif
}
}  // namespace

const bool kVectorInlineCodec = detect();

PBX_TARGET_AVX512 void pack_inline_avx512(const void* src, size_t n, uint64_t w[8], uint8_t check) noexcept {
  _mm512_storeu_si512(w, encode_inline_line(w[0], src, n, check));
}

PBX_TARGET_AVX512 bool unpack_inline_avx512(const uint64_t w[8], size_t n, uint8_t check, void* dst) noexcept {
  return decode_inline_line(w, n, check, dst);
}

}  // namespace pbx::wire
