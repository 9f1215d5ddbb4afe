// The indicator line codec: check bytes, header fields, inline payload packing.
#include <gtest/gtest.h>

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
    unsigned char src[kInlineCapacity];
    for (size_t i = 0; i < n; ++i) src[i] = static_cast<unsigned char>(i * 7 + n);
    uint64_t w[8] = {};
    pack_inline(src, n, w, 0x9a);
    for (size_t i = 1; i < 8; ++i) EXPECT_EQ(check_of(w[i]), 0x9au) << "word " << i;
    unsigned char dst[kInlineCapacity] = {};
    unpack_inline(w, n, dst);
    EXPECT_EQ(0, std::memcmp(src, dst, n)) << n;
    EXPECT_LE(inline_words(n), 7u);
  }
  EXPECT_EQ(inline_words(0), 0u);
  EXPECT_EQ(inline_words(7), 1u);
  EXPECT_EQ(inline_words(8), 2u);
  EXPECT_EQ(inline_words(49), 7u);
}

}  // namespace
}  // namespace pbx::wire
