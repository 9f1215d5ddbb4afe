#include "checksum.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "pbx/base/cpu_features.h"
#include "pbx/hal/window.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace pbx::detail {

namespace {

constexpr uint32_t kPoly = 0x82f63b78u;  // CRC-32C (Castagnoli), bit-reflected

// ---- tables (computed once) -------------------------------------------------------------

// Slicing-by-8 tables for the portable implementation.
struct ByteTables {
  uint32_t t[8][256];
  ByteTables() {
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) != 0 ? (c >> 1) ^ kPoly : c >> 1;
      t[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; ++n)
      for (int k = 1; k < 8; ++k) t[k][n] = (t[k - 1][n] >> 8) ^ t[0][t[k - 1][n] & 0xff];
  }
};

// The CRC register is linear over GF(2): running it over `len` more bytes from state s gives
// shift_len(s) ^ (the register run over those bytes from 0). shift_len multiplies by
// x^(8 len) modulo the polynomial; as a 32x32 bit matrix it is built by repeated squaring of
// the one-zero-bit operator, and applied a byte at a time through four tables.
uint32_t matrix_times(const uint32_t* mat, uint32_t vec) {
  uint32_t sum = 0;
  for (; vec != 0; vec >>= 1, ++mat)
    if ((vec & 1) != 0) sum ^= *mat;
  return sum;
}
void matrix_square(uint32_t* square, const uint32_t* mat) {
  for (int n = 0; n < 32; ++n) square[n] = matrix_times(mat, mat[n]);
}

struct ShiftTable {
  uint32_t t[4][256];
  explicit ShiftTable(size_t len) {  // len: a power of two, >= 1 byte
    uint32_t a[32], b[32];
    a[0] = kPoly;  // one zero bit
    for (int n = 1; n < 32; ++n) a[n] = 1u << (n - 1);
    uint32_t* cur = a;
    uint32_t* next = b;
    for (size_t bits = 1; bits < len * 8; bits <<= 1) {  // square up to 8 * len zero bits
      matrix_square(next, cur);
      std::swap(cur, next);
    }
    for (int k = 0; k < 4; ++k)
      for (uint32_t n = 0; n < 256; ++n) t[k][n] = matrix_times(cur, n << (8 * k));
  }
  uint32_t shift(uint32_t crc) const noexcept {
    return t[0][crc & 0xff] ^ t[1][(crc >> 8) & 0xff] ^ t[2][(crc >> 16) & 0xff] ^ t[3][crc >> 24];
  }
};

// Lane lengths of the three-stream loop: long lanes for the bulk, short ones for the rest.
constexpr size_t kLong = 2048;
constexpr size_t kShort = 128;

const ByteTables& byte_tables() {
  static const ByteTables t;
  return t;
}
const ShiftTable& long_shift() {
  static const ShiftTable t(kLong);
  return t;
}
const ShiftTable& short_shift() {
  static const ShiftTable t(kShort);
  return t;
}

// Raw register updates (no initial value or final xor).
uint32_t update_table(uint32_t c, const unsigned char* p, size_t n) noexcept {
  const ByteTables& T = byte_tables();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    w ^= c;
    c = T.t[7][w & 0xff] ^ T.t[6][(w >> 8) & 0xff] ^ T.t[5][(w >> 16) & 0xff] ^ T.t[4][(w >> 24) & 0xff] ^
        T.t[3][(w >> 32) & 0xff] ^ T.t[2][(w >> 40) & 0xff] ^ T.t[1][(w >> 48) & 0xff] ^ T.t[0][w >> 56];
  }
  for (; n != 0; ++p, --n) c = (c >> 8) ^ T.t[0][(c ^ *p) & 0xff];
  return c;
}

#if defined(__x86_64__)
// Three independent crc32 streams of `len` bytes each hide the instruction's latency (3
// cycles, throughput 1); `sh` moves a stream's CRC past the ones after it.
__attribute__((target("sse4.2"))) uint32_t lanes_hw(uint32_t c, const unsigned char*& p, size_t& n, size_t len,
                                                    const ShiftTable& sh) noexcept {
  while (n >= 3 * len) {
    uint64_t a = c, b = 0, d = 0;
    const unsigned char* end = p + len;
    for (; p < end; p += 8) {
      uint64_t x, y, z;
      std::memcpy(&x, p, 8);
      std::memcpy(&y, p + len, 8);
      std::memcpy(&z, p + 2 * len, 8);
      a = _mm_crc32_u64(a, x);
      b = _mm_crc32_u64(b, y);
      d = _mm_crc32_u64(d, z);
    }
    c = sh.shift(sh.shift(static_cast<uint32_t>(a)) ^ static_cast<uint32_t>(b)) ^ static_cast<uint32_t>(d);
    p += 2 * len;
    n -= 3 * len;
  }
  return c;
}

__attribute__((target("sse4.2"))) uint32_t update_hw(uint32_t c, const unsigned char* p, size_t n) noexcept {
  c = lanes_hw(c, p, n, kLong, long_shift());
  c = lanes_hw(c, p, n, kShort, short_shift());
  uint64_t c64 = c;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t x;
    std::memcpy(&x, p, 8);
    c64 = _mm_crc32_u64(c64, x);
  }
  c = static_cast<uint32_t>(c64);
  for (; n != 0; ++p, --n) c = _mm_crc32_u8(c, *p);
  return c;
}
#endif

bool hardware_default() noexcept {
#if defined(__x86_64__)
  return cpu_features().sse42;
#else
  return false;
#endif
}
bool g_hardware = hardware_default();

uint32_t update(uint32_t c, const unsigned char* p, size_t n) noexcept {
#if defined(__x86_64__)
  if (g_hardware) return update_hw(c, p, n);
#endif
  return update_table(c, p, n);
}

}  // namespace

uint32_t crc32c(const void* data, size_t n, uint32_t crc) noexcept {
  return ~update(~crc, static_cast<const unsigned char*>(data), n);
}

uint32_t copy_with_crc32c(void* dst, const void* src, size_t n, ChecksumSide side) noexcept {
  // Chunks of 3 long lanes: copied, then checksummed while they are still in the L1 cache.
  constexpr size_t kChunk = 3 * kLong;
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  uint32_t c = ~0u;
  while (n != 0) {
    const size_t k = std::min(n, kChunk);
    hal::window_copy(d, s, k);
    c = update(c, side == ChecksumSide::kSource ? s : d, k);
    d += k, s += k, n -= k;
  }
  return ~c;
}

const char* crc32c_implementation() noexcept { return g_hardware ? "crc32c (sse4.2, 3 streams)" : "crc32c (table)"; }

void crc32c_use_hardware(bool on) noexcept { g_hardware = on && hardware_default(); }

}  // namespace pbx::detail
