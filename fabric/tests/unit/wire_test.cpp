// The provider's header on postbox (wire.h): what each message kind carries, that an 8-byte
// MPI message stays inside postbox's inline line, and that foreign or short messages are refused.
#include "wire.h"

#include <gtest/gtest.h>

#include <vector>

namespace pbx::fabric::wire {
namespace {

std::vector<std::byte> encoded(const Header& h, uint32_t& ptag, size_t payload = 0) {
  std::vector<std::byte> buf(header_size(h) + payload);
  ptag = encode(h, buf.data());
  return buf;
}

TEST(Wire, TaggedWithDataRoundTrips) {
  Header h;
  h.op = Op::kTagged;
  h.tag = 0x0123456789abcdefull;
  h.has_data = true;
  h.data = 0xfeedbeef;
  uint32_t ptag = 0;
  auto buf = encoded(h, ptag, 8);
  Header got;
  size_t hl = 0;
  ASSERT_TRUE(decode(ptag, buf, got, hl));
  EXPECT_EQ(got.op, Op::kTagged);
  EXPECT_EQ(got.tag, h.tag);
  EXPECT_TRUE(got.has_data);
  EXPECT_EQ(got.data, h.data);
  EXPECT_FALSE(got.large);
  EXPECT_EQ(hl, 12u);
}

TEST(Wire, EightByteMpiMessageFitsPostboxInlineLine) {
  Header h;  // what Open MPI's ofi MTL sends: tagged, with 4 bytes of CQ data
  h.op = Op::kTagged;
  h.has_data = true;
  EXPECT_LE(header_size(h) + 8, 49u);  // pbx::Config::inline_max
  h.want_ack = true;                   // even with FI_DELIVERY_COMPLETE
  EXPECT_LE(header_size(h) + 8, 49u);
}

TEST(Wire, LargeMessageHeaderCarriesOnlyTheLength) {
  Header h;
  h.op = Op::kMsg;
  h.large = true;
  h.total_len = 1 << 20;
  uint32_t ptag = 0;
  auto buf = encoded(h, ptag);
  Header got;
  size_t hl = 0;
  ASSERT_TRUE(decode(ptag, buf, got, hl));
  EXPECT_TRUE(got.large);
  EXPECT_EQ(got.total_len, 1u << 20);
  buf.push_back(std::byte{0});  // a large message's header travels alone
  EXPECT_FALSE(decode(ptag, buf, got, hl));
}

TEST(Wire, AckCarriesItsId) {
  Header h;
  h.op = Op::kAck;
  h.ack_id = 0x00070003;
  uint32_t ptag = 0;
  auto buf = encoded(h, ptag);
  Header got;
  size_t hl = 0;
  ASSERT_TRUE(decode(ptag, buf, got, hl));
  EXPECT_EQ(got.op, Op::kAck);
  EXPECT_EQ(got.ack_id, 0x00070003u);
}

TEST(Wire, PayloadTagDecodesAsPayload) {
  Header got;
  size_t hl = 7;
  std::vector<std::byte> payload(100);
  ASSERT_TRUE(decode(kPayloadTag, payload, got, hl));
  EXPECT_EQ(got.op, Op::kPayload);
  EXPECT_EQ(hl, 0u);
}

TEST(Wire, RefusesForeignAndShortMessages) {
  Header got;
  size_t hl = 0;
  std::vector<std::byte> buf(64);
  EXPECT_FALSE(decode(7, buf, got, hl)) << "a pbx::Endpoint program's tag";
  EXPECT_FALSE(decode(kMagic | 0x2u | (1u << 20), buf, got, hl)) << "unknown flag bits";
  EXPECT_FALSE(decode(kMagic | 0x9u, buf, got, hl)) << "unknown op";
  std::vector<std::byte> short_buf(4);
  EXPECT_FALSE(decode(kMagic | static_cast<uint8_t>(Op::kTagged), short_buf, got, hl)) << "shorter than its tag";
}

}  // namespace
}  // namespace pbx::fabric::wire
