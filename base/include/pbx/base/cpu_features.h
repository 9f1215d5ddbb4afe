// What this CPU can do, detected once (CPUID through the compiler's builtins). The one place
// that asks: the copy routines, the line stores and the inline codec choose their variants
// from it, and tests skip a variant the CPU lacks.
#pragma once

namespace pbx {

struct CpuFeatures {
  bool sse2 = false;
  bool sse42 = false;       // CRC32C instruction
  bool avx2 = false;
  bool avx512f = false;     // 64-byte stores
  bool avx512bw = false;
  bool avx512vbmi = false;  // byte permutes (the vector inline codec)
  bool erms = false;        // enhanced rep movsb
  bool fsrm = false;        // fast short rep movsb
};

// This CPU's features.
const CpuFeatures& cpu_features() noexcept;

// True in ThreadSanitizer builds. TSan cannot follow vector loads and stores to shared memory,
// so the data path chooses its scalar variants there (tests of the vector variants on private
// memory still run).
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kScalarSharedMemory = true;
#else
inline constexpr bool kScalarSharedMemory = false;
#endif

}  // namespace pbx
