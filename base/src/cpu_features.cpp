#include "pbx/base/cpu_features.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace pbx {

namespace {

CpuFeatures detect() noexcept {
  CpuFeatures f;
#if defined(__x86_64__)
  __builtin_cpu_init();
  f.sse2 = __builtin_cpu_supports("sse2");
  f.sse42 = __builtin_cpu_supports("sse4.2");
  f.avx2 = __builtin_cpu_supports("avx2");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vbmi = __builtin_cpu_supports("avx512vbmi");
  // ERMS: CPUID.(EAX=7,ECX=0):EBX bit 9; FSRM: EDX bit 4 (the compiler's builtin lacks them).
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) != 0) {
    f.erms = ((b >> 9) & 1) != 0;
    f.fsrm = ((d >> 4) & 1) != 0;
  }
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() noexcept {
  static const CpuFeatures features = detect();
  return features;
}

}  // namespace pbx
