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

TEST(Wire, HeaderCarriesInlineLengthsUpToTheLimit) {
  const SlotHeader h{Kind::kInline, 0, static_cast<uint16_t>(kInlineLimit), 7};
  EXPECT_EQ(decode_header(encode_header(h, 0x81)).inline_len, kInlineLimit);
  EXPECT_EQ(decode_header(encode_header(h, 0x81)).tag, 7u);
}

TEST(Wire, InlineLinesAndSpans) {
  EXPECT_EQ(inline_lines(0), 1u);
  EXPECT_EQ(inline_lines(49), 1u);
  EXPECT_EQ(inline_lines(50), 2u);
  EXPECT_EQ(inline_lines(105), 2u);
  EXPECT_EQ(inline_lines(106), 3u);
  EXPECT_EQ(inline_lines(kInlineLimit), kInlineMaxLines);
  EXPECT_EQ(inline_span(100, 0).count, 49u);
  EXPECT_EQ(inline_span(100, 1).first, 49u);
  EXPECT_EQ(inline_span(100, 1).count, 51u);
  EXPECT_EQ(inline_span(100, 1).word0, 0u);
  EXPECT_EQ(inline_span(100, 2).count, 0u);
}

// Every line of every inline size: the bytes come back exactly, nothing is read or written
// outside the message (heap blocks of exactly n bytes: AddressSanitizer catches it), and
// every word of every line carries its own line's check byte.
TEST(Wire, InlineLinesRoundTripAndEveryWordCarriesItsLinesCheck) {
  for (size_t n = 0; n <= kInlineLimit; ++n) {
    std::vector<unsigned char> src(n);
    for (size_t i = 0; i < n; ++i) src[i] = static_cast<unsigned char>(i * 31 + n);
    std::vector<unsigned char> dst(n);
    const size_t lines = inline_lines(n);
    for (size_t k = 0; k < lines; ++k) {
      const auto check = static_cast<uint8_t>(0x80 | k);
      uint64_t w[8] = {0x1234};
      pack_inline_line(src.data(), n, k, w, check);
      if (k == 0) {
        EXPECT_EQ(w[0], 0x1234u) << "word 0 of the indicator line is the header's";
      }
      for (size_t i = inline_span(n, k).word0; i < 8; ++i) EXPECT_EQ(check_of(w[i]), check) << n << " " << k << " " << i;
      ASSERT_TRUE(unpack_inline_line(w, n, k, check, dst.data())) << n << " line " << k;
      // A word of the line still from another lap: the line is not whole.
      const size_t words = inline_words(inline_span(n, k).count);
      if (words != 0) {
        uint64_t stale[8];
        std::copy(std::begin(w), std::end(w), stale);
        stale[inline_span(n, k).word0 + words - 1] ^= uint64_t{1} << 56;
        EXPECT_FALSE(unpack_inline_line(stale, n, k, check, dst.data()));
      }
    }
    EXPECT_EQ(dst, src) << "n " << n;
  }
}

// The AVX-512 codec (where the CPU has it) gives the same words and bytes as the scalar one.
TEST(Wire, VectorAndScalarInlineCodecsAgree) {
  if (!kVectorInlineCodec) GTEST_SKIP() << "this CPU has no AVX-512 BW + VBMI: only the scalar codec runs";
  for (size_t n = 0; n <= kInlineLimit; ++n) {
    std::vector<unsigned char> src(n);
    for (size_t i = 0; i < n; ++i) src[i] = static_cast<unsigned char>(i * 13 + 5);
    std::vector<unsigned char> out(n + 1, 0xee);
    for (size_t k = 0; k < inline_lines(n); ++k) {
      const auto check = static_cast<uint8_t>(0xa5 + k);
      alignas(64) uint64_t a[8] = {7}, b[8] = {7};
      pack_inline_line(src.data(), n, k, a, check);
      pack_inline_line_avx512(src.data(), n, k, b, check);
      for (size_t i = 0; i < 8; ++i) EXPECT_EQ(a[i], b[i]) << "n " << n << " line " << k << " word " << i;
      ASSERT_TRUE(unpack_inline_line_avx512(b, n, k, check, out.data())) << n << " " << k;
      const size_t words = inline_words(inline_span(n, k).count);
      if (words != 0) {
        b[inline_span(n, k).word0 + words - 1] ^= uint64_t{1} << 56;  // one word from another lap
        EXPECT_FALSE(unpack_inline_line_avx512(b, n, k, check, out.data()));
      }
    }
    EXPECT_TRUE(std::equal(src.begin(), src.end(), out.begin())) << n;
    EXPECT_EQ(out[n], 0xee) << "wrote past the message";  // masked store
  }
}

}  // namespace
}  // namespace pbx::wire

// ---- the parsers of peer-written words ------------------------------------------------

namespace pbx::wire {

namespace {
constexpr IndicatorLimits kLimits{49, 1u << 20, 256u << 10, 64u << 10, 1u << 30, 64u << 10};

void pool_line(uint64_t (&w)[8], uint8_t check, uint64_t off, uint64_t len, uint64_t sum) {
  w[0] = encode_header({Kind::kPool, 0, 0, 7}, check);
  w[1] = checked(off >> 6, check);
  w[2] = checked(len, check);
  w[3] = checked(sum, check);
  for (int i = 4; i < 8; ++i) w[i] = checked(0, check);
}
}  // namespace

TEST(WireParsers, APoolIndicatorInsideThePoolDecodes) {
  uint64_t w[8];
  pool_line(w, 0x81, 4096, 1000, kChecksumPresent | 0x1234);
  Indicator ind;
  Refusal why;
  ASSERT_EQ(decode_indicator(w, 0x81, kLimits, ind, why), Decode::kOk);
  EXPECT_EQ(ind.pool_off, 4096u);
  EXPECT_EQ(ind.len, 1000u);
  EXPECT_EQ(ind.total, 1000u);
  EXPECT_EQ(ind.checksum, kChecksumPresent | 0x1234);
  EXPECT_TRUE(ind.ends_message());
}

TEST(WireParsers, ARingIndicatorInsideTheRingDecodesAndOneOutsideIsRefused) {
  uint64_t w[8];
  pool_line(w, 0x81, (64u << 10) - 128, 128, 0);
  w[0] = encode_header({Kind::kRing, 0, 0, 7}, 0x81);
  Indicator ind;
  Refusal why;
  ASSERT_EQ(decode_indicator(w, 0x81, kLimits, ind, why), Decode::kOk);
  EXPECT_EQ(ind.kind, Kind::kRing);
  EXPECT_EQ(ind.pool_off, (64u << 10) - 128);
  EXPECT_EQ(ind.len, 128u);
  EXPECT_TRUE(ind.ends_message());
  w[2] = checked(129, 0x81);  // one byte past the ring's end (the pool is larger: it is not the bound)
  EXPECT_EQ(decode_indicator(w, 0x81, kLimits, ind, why), Decode::kBad);
  EXPECT_STREQ(why.what, "ring offset + length");
  w[2] = checked(128, 0x81);
  w[0] = encode_header({Kind::kRing, flag::kLastPiece, 0, 7}, 0x81);  // a ring message is not a piece
  EXPECT_EQ(decode_indicator(w, 0x81, kLimits, ind, why), Decode::kBad);
  EXPECT_STREQ(why.what, "flags");
}

TEST(WireParsers, AWordOfAnotherLapIsNotYetNeverBad) {
  uint64_t w[8];
  pool_line(w, 0x81, 0, 100, 0);
  w[2] = checked(100, 0x80);  // still the previous lap's
  Indicator ind;
  Refusal why;
  EXPECT_EQ(decode_indicator(w, 0x81, kLimits, ind, why), Decode::kNotYet);
}

TEST(WireParsers, EveryOutOfBoundsFieldIsRefusedAndNamed) {
  Indicator ind;
  Refusal why;
  uint64_t w[8];
  pool_line(w, 0x81, (1u << 20) - 64, 128, 0);  // runs past the pool's end
  EXPECT_EQ(decode_indicator(w, 0x81, kLimits, ind, why), Decode::kBad);
  EXPECT_STREQ(why.what, "pool offset + length");
  pool_line(w, 0x81, 0, (256u << 10) + 1, 0);  // a pool message above the CTS
  EXPECT_EQ(decode_indicator(w, 0x81, kLimits, ind, why), Decode::kBad);
  EXPECT_STREQ(why.what, "message length");
  pool_line(w, 0x81, 0, 10, 1ull << 40);  // checksum word with unknown bits
  EXPECT_EQ(decode_indicator(w, 0x81, kLimits, ind, why), Decode::kBad);
  EXPECT_STREQ(why.what, "checksum word");
  w[0] = encode_header({static_cast<Kind>(9), 0, 0, 0}, 0x81);
  EXPECT_EQ(decode_indicator(w, 0x81, kLimits, ind, why), Decode::kBad);
  EXPECT_STREQ(why.what, "kind");
  w[0] = encode_header({Kind::kInline, 0, 50, 0}, 0x81);
  EXPECT_EQ(decode_indicator(w, 0x81, kLimits, ind, why), Decode::kBad);
  EXPECT_STREQ(why.what, "inline length");
  // A piece that claims to be the last but does not end its message.
  w[0] = encode_header({Kind::kPiece, flag::kLastPiece, 0, 0}, 0x81);
  w[1] = checked(0, 0x81);
  w[2] = checked(1000, 0x81);
  w[3] = checked(0, 0x81);
  w[4] = checked(300000, 0x81);
  w[5] = checked(0, 0x81);
  EXPECT_EQ(decode_indicator(w, 0x81, kLimits, ind, why), Decode::kBad);
  EXPECT_STREQ(why.what, "piece offset");
}

TEST(WireParsers, AnAckCountsOnlyInItsEpochAndNeverBackwardsOrPastWhatWasSent) {
  uint64_t v = 0;
  EXPECT_EQ(check_ack(ack_word(5, 3), 3, 2, 10, v), AckCheck::kOk);
  EXPECT_EQ(v, 5u);
  EXPECT_EQ(check_ack(ack_word(5, 2), 3, 2, 10, v), AckCheck::kStale);  // an earlier epoch's
  EXPECT_EQ(check_ack(0, 3, 2, 10, v), AckCheck::kStale);               // never written
  EXPECT_EQ(check_ack(ack_word(1, 3), 3, 2, 10, v), AckCheck::kBad);    // backwards
  EXPECT_EQ(check_ack(ack_word(11, 3), 3, 2, 10, v), AckCheck::kBad);   // more than was sent
}

TEST(WireParsers, APresenceLineNeedsItsMagicAnIncarnationAndAKnownState) {
  EXPECT_EQ(decode_presence(kPresenceMagic, 42, presence::kUp, 1, 2, 3, 4).state, presence::kUp);
  EXPECT_EQ(decode_presence(kPresenceMagic, 42, presence::kGone, 1, 2, 3, 4).incarnation, 42u);
  EXPECT_EQ(decode_presence(kPresenceMagic ^ 1, 42, presence::kUp, 1, 2, 3, 4).state, presence::kAbsent);
  EXPECT_EQ(decode_presence(kPresenceMagic, 0, presence::kUp, 1, 2, 3, 4).state, presence::kAbsent);
  EXPECT_EQ(decode_presence(kPresenceMagic, 42, 7, 1, 2, 3, 4).state, presence::kAbsent);
}

}  // namespace pbx::wire

namespace pbx::wire {

// Config allows max_message below the CTS and inline_max: a pool or inline message above it is
// refused like a piece (found by tests/fuzz/fuzz_indicator).
TEST(WireParsers, EveryKindOfMessageIsCheckedAgainstMaxMessage) {
  IndicatorLimits lim = kLimits;
  lim.max_message = 20;
  uint64_t w[8];
  pool_line(w, 0x81, 0, 21, 0);
  Indicator ind;
  Refusal why;
  EXPECT_EQ(decode_indicator(w, 0x81, lim, ind, why), Decode::kBad);
  EXPECT_STREQ(why.what, "message length");
  w[0] = encode_header({Kind::kInline, 0, 21, 0}, 0x81);
  EXPECT_EQ(decode_indicator(w, 0x81, lim, ind, why), Decode::kBad);
  EXPECT_STREQ(why.what, "message length");
  pool_line(w, 0x81, 0, 20, 0);
  EXPECT_EQ(decode_indicator(w, 0x81, lim, ind, why), Decode::kOk);
}

}  // namespace pbx::wire
