// The indicator line codec: check bytes, header fields, inline payload packing.
#include <algorithm>
#include <vector>

#include <gtest/gtest.h>

#include "inline_codec.h"
#include "pbx/base/cpu_features.h"
#include "wire.h"

namespace pbx::wire {
namespace {

TEST(Wire, CheckByteNeverMatchesZeroedMemoryOrThePreviousLap) {
  const unsigned log2 = 8;  // 256 slots
  for (uint64_t seq = 0; seq < 300'000; seq += 97) {
    const uint8_t c = check_byte(seq, log2);
    EXPECT_NE(c, 0u);                                          // fresh (zeroed) memory never validates
    EXPECT_NE(c, check_byte(seq + (1u << log2), log2));        // next lap of this slot
    if (seq >= (1u << log2)) {
      EXPECT_NE(c, check_byte(seq - (1u << log2), log2));      // previous lap of this slot
    }
  }
}

TEST(Wire, HeaderRoundTrips) {
  const SlotHeader h{Kind::kPiece, flag::kAckNow | flag::kLastPiece, 33, 0xdeadbeef};
  const uint64_t w = encode_header(h, 0x85);
  EXPECT_EQ(check_of(w), 0x85u);
  const SlotHeader d = decode_header(w);
  EXPECT_EQ(d.kind, Kind::kPiece);
  EXPECT_EQ(d.flags, flag::kAckNow | flag::kLastPiece);
  EXPECT_EQ(d.inline_len, 33u);
  EXPECT_EQ(d.tag, 0xdeadbeefu);
}

TEST(Wire, InlinePayloadRoundTripsAndEveryWordCarriesTheCheck) {
  for (size_t n = 0; n <= kInlineCapacity; ++n) {
    // Heap blocks of exactly n bytes: AddressSanitizer catches a read or write past them.
    std::vector<unsigned char> src(n), dst(n + 8, 0xEE);
    for (size_t i = 0; i < n; ++i) src[i] = static_cast<unsigned char>(i * 7 + n);
    uint64_t w[8] = {};
    pack_inline(src.data(), n, w, 0x9a);
    for (size_t i = 1; i < 8; ++i) {
      EXPECT_EQ(check_of(w[i]), 0x9au) << "word " << i;
      for (size_t b = 0; b < 7; ++b) {  // byte b of word i is payload byte 7 (i - 1) + b, or zero past n
        const size_t p = 7 * (i - 1) + b;
        EXPECT_EQ((w[i] >> (8 * b)) & 0xff, p < n ? src[p] : 0u) << "n=" << n << " word " << i << " byte " << b;
      }
    }
    unpack_inline(w, n, dst.data());
    EXPECT_TRUE(std::equal(src.begin(), src.end(), dst.begin())) << n;
    for (size_t i = n; i < dst.size(); ++i) EXPECT_EQ(dst[i], 0xEE) << "n=" << n << ": byte " << i << " past the message";
    EXPECT_LE(inline_words(n), 7u);
  }
  EXPECT_EQ(inline_words(0), 0u);
  EXPECT_EQ(inline_words(7), 1u);
  EXPECT_EQ(inline_words(8), 2u);
  EXPECT_EQ(inline_words(49), 7u);
}

}  // namespace
}  // namespace pbx::wire

namespace pbx::wire {
namespace {

TEST(Wire, VectorAndScalarInlineCodecsAgree) {
  if (!kVectorInlineCodec) GTEST_SKIP() << "this CPU has no AVX-512 BW + VBMI: only the scalar codec runs";
  for (size_t n = 0; n <= kInlineCapacity; ++n) {
    unsigned char src[64];
    for (size_t i = 0; i < 64; ++i) src[i] = static_cast<unsigned char>(i * 13 + n + 1);
    uint64_t a[8] = {0x1234}, b[8] = {0x1234};
    pack_inline(src, n, a, 0xa5);
    pack_inline_avx512(src, n, b, 0xa5);
    for (size_t i = 0; i <= inline_words(n); ++i) EXPECT_EQ(a[i], b[i]) << "n " << n << " word " << i;
    EXPECT_EQ(b[0], 0x1234u);  // the header word is the caller's
    unsigned char out[64];
    std::memset(out, 0xee, sizeof out);
    ASSERT_TRUE(unpack_inline_avx512(b, n, 0xa5, out));
    EXPECT_EQ(0, std::memcmp(out, src, n));
    EXPECT_EQ(out[n], 0xee) << "wrote past the message";  // masked store
    if (n > 0) {
      b[inline_words(n)] ^= uint64_t{1} << 56;  // one word from another lap
      EXPECT_FALSE(unpack_inline_avx512(b, n, 0xa5, out));
    }
  }
}

// The AVX2 line store (two 32-byte stores, words built in registers) writes exactly the line
// the scalar codec builds, and reads only the message's bytes (exact-size heap buffers).
TEST(Wire, Avx2LineStoreWritesTheScalarCodecsLine) {
  if (!cpu_features().avx2) GTEST_SKIP() << "this CPU has no AVX2";
  for (size_t n = 0; n <= kInlineCapacity; ++n) {
    std::vector<unsigned char> src(n);
    for (size_t i = 0; i < n; ++i) src[i] = static_cast<unsigned char>(i * 29 + n + 3);
    uint64_t want[8] = {0x5a5a0000deadbeefull};
    pack_inline(src.data(), n, want, 0x93);
    alignas(64) uint64_t line[8];
    std::memset(line, 0xcc, sizeof line);
    store_inline_line_avx2(line, want[0], src.data(), n, 0x93);
    for (size_t i = 0; i < 8; ++i) EXPECT_EQ(line[i], want[i]) << "n " << n << " word " << i;
  }
}

}  // namespace
}  // namespace pbx::wire
