// Bulk copies into and out of windows, in the variant that fits the CPU.
//
// Variants (each also forced by PBX_COPY, for tests and for measuring one against another):
//   avx512  64-byte vector loads and stores (AVX-512F)
//   avx2    32-byte vector loads and stores
//   sse2    16-byte vector loads and stores (every x86-64 CPU)
//   movsb   `rep movsb`: fast where ERMS/FSRM make it so on Intel; measured 10x slower between
//           page-aligned buffers on AMD Zen (this project's CI machine kind), so never chosen
//           there on its own
// and, for the vector variants, non-temporal (streaming) stores for copies of at least
// nt_min bytes (PBX_COPY_NT_MIN; 0 = never): they skip the read-for-ownership of each
// destination line, for data that nobody reads at once. A copy with streaming stores ends with
// an sfence, so that what follows it (an indicator) is ordered after it on any memory type.
//
// On a write-combining window (an NTB BAR) every variant writes whole aligned 64-byte lines
// between its first and its last line, so the write-combining buffers leave as full 64-byte
// posted writes: avx512 with one store per line, avx2 and sse2 with two and four stores that
// fill a WC buffer before it is evicted, movsb with the CPU's fast-string line writes.
//
// The choice is made once per process: PBX_COPY / PBX_COPY_NT_MIN when set, else what this CPU
// is known to do best (avx512 where present, else avx2, else sse2; no streaming stores).
// A PBX_COPY the CPU cannot run falls back to that default, and copy_choice().note says so.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pbx::hal {

// kPortable (memcpy) first: a copy made before start-up has chosen is still correct.
enum class CopyVariant : uint8_t { kPortable, kSse2, kAvx2, kAvx512, kMovsb };

struct CopyChoice {
  CopyVariant variant = CopyVariant::kPortable;
  size_t nt_min = 0;           // streaming stores for copies of at least this many bytes; 0: never
  const char* note = "";       // why the choice differs from what was asked, if it does
};

const char* to_string(CopyVariant v) noexcept;
// Whether this CPU (and this build: ThreadSanitizer builds copy with memcpy) can run `v`.
bool copy_supported(CopyVariant v) noexcept;
// What this CPU does best, ignoring the environment.
CopyChoice default_copy_choice() noexcept;
// PBX_COPY (auto, avx512, avx2, sse2, movsb) and PBX_COPY_NT_MIN over the default. An unknown
// or unsupported PBX_COPY falls back to the default, with a note that names it.
CopyChoice copy_choice_from_env() noexcept;

// The choice bulk_copy() uses (copy_choice_from_env() at start-up).
const CopyChoice& copy_choice() noexcept;
// Replaces it (tests, and benchmarks comparing variants). Not thread-safe against copies running.
void set_copy_choice(const CopyChoice& c) noexcept;

// Copies n >= kBulkCopyMin bytes with the current choice.
void bulk_copy(void* dst, const void* src, size_t n) noexcept;
// Copies n >= kBulkCopyMin bytes with variant `v` (streaming stores if `streaming`); `v` must
// be supported. Tests use it to check every variant on the CPU that runs them.
void copy_with(CopyVariant v, bool streaming, void* dst, const void* src, size_t n) noexcept;

// Below this, copies go to memcpy (small sizes, where its vector code is as good).
inline constexpr size_t kBulkCopyMin = 512;

}  // namespace pbx::hal
