// CRC32C (Config::checksum): the known check value, both implementations (SSE4.2 streams and
// table) equal a bit-by-bit reference at every length and alignment, continuation, and the
// copying variants copy exactly [dst, dst + n) while they checksum.
#include "checksum.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "pbx/base/cpu_features.h"

namespace pbx::detail {
namespace {

// The definition, one bit at a time (reflected polynomial 0x82f63b78).
uint32_t crc32c_bitwise(const unsigned char* p, size_t n) {
  uint32_t c = ~0u;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
  }
  return ~c;
}

std::vector<unsigned char> noise(size_t n, uint32_t seed) {
  std::vector<unsigned char> v(n);
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    v[i] = static_cast<unsigned char>(seed >> 24);
  }
  return v;
}

struct Implementation {
  const char* name;
  bool hardware;
};

class Crc32c : public ::testing::TestWithParam<Implementation> {
 protected:
  void SetUp() override {
    if (GetParam().hardware && !cpu_features().sse42) GTEST_SKIP() << "this CPU has no SSE4.2";
    crc32c_use_hardware(GetParam().hardware);
  }
  void TearDown() override { crc32c_use_hardware(true); }
};

TEST_P(Crc32c, TheCheckValueOfTheStandard) {
  EXPECT_EQ(crc32c("123456789", 9), 0xe3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
}

// Lengths around every stream and chunk boundary (3 x 128, 3 x 2048 bytes), every alignment.
TEST_P(Crc32c, EqualsTheBitwiseDefinitionAtEveryLengthAndAlignment) {
  const auto buf = noise(3 * 2048 * 2 + 64, 7);
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 520; ++n) lengths.push_back(n);
  for (size_t n : {3 * 2048 - 1, 3 * 2048, 3 * 2048 + 1, 3 * 2048 + 383, 3 * 2048 + 384, 2 * 3 * 2048, 2 * 3 * 2048 + 57})
    lengths.push_back(n);
  for (size_t align = 0; align < 8; ++align)
    for (size_t n : lengths)
      ASSERT_EQ(crc32c(buf.data() + align, n), crc32c_bitwise(buf.data() + align, n)) << "n " << n << " align " << align;
}

TEST_P(Crc32c, ContinuesAnEarlierResult) {
  const auto buf = noise(10000, 3);
  for (size_t cut : {size_t{0}, size_t{1}, size_t{63}, size_t{4096}, size_t{9999}, size_t{10000}})
    EXPECT_EQ(crc32c(buf.data() + cut, buf.size() - cut, crc32c(buf.data(), cut)), crc32c(buf.data(), buf.size()));
}

TEST_P(Crc32c, CopyingCopiesExactlyTheRangeAndChecksumsIt) {
  const auto src = noise(70000, 11);
  for (ChecksumSide side : {ChecksumSide::kSource, ChecksumSide::kDestination})
    for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{64}, size_t{4095}, size_t{65536}, size_t{69000}})
      for (size_t align : {size_t{0}, size_t{3}}) {
        std::vector<unsigned char> dst(n + 64, 0xee);
        const uint32_t got = copy_with_crc32c(dst.data() + 32, src.data() + align, n, side);
        EXPECT_EQ(got, crc32c_bitwise(src.data() + align, n)) << n;
        EXPECT_EQ(std::memcmp(dst.data() + 32, src.data() + align, n), 0) << n;
        for (size_t i = 0; i < 32; ++i) {
          ASSERT_EQ(dst[i], 0xee) << "wrote before the range";
          ASSERT_EQ(dst[32 + n + i], 0xee) << "wrote past the range";
        }
      }
}

TEST_P(Crc32c, OneFlippedBitChangesIt) {
  auto buf = noise(300000, 5);
  const uint32_t good = crc32c(buf.data(), buf.size());
  for (size_t at : {size_t{0}, size_t{4097}, size_t{299999}}) {
    buf[at] ^= 0x10;
    EXPECT_NE(crc32c(buf.data(), buf.size()), good) << at;
    buf[at] ^= 0x10;
  }
}

INSTANTIATE_TEST_SUITE_P(BothImplementations, Crc32c,
                         ::testing::Values(Implementation{"table", false}, Implementation{"sse42", true}),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace pbx::detail
