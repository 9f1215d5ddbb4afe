// Typed register windows (pbx/mmio/mmio.h, used by every driver) over plain memory and over
// a model; LNKSTS decoding.
#include "pbx/ntb/mmio.h"

#include <cstring>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/ntb/link_status.h"

namespace pbx::ntb {
namespace {

using ::testing::HasSubstr;

struct TestRegs {
  static constexpr std::size_t kSize = 0x100;
  static constexpr Reg<uint32_t, 0x00> ctrl{};
  static constexpr Reg<uint64_t, 0x08, Access::kRO> id{};
  static constexpr Reg<uint16_t, 0x12> half{};
  static constexpr RegArray<uint32_t, 0x80, 4, 4> spad{};
  static constexpr RegArray<uint8_t, 0xf8, 1, 8> bytes{};
};

template <class W, class R>
concept CanRead = requires(W w, R r) { w.read(r); };
template <class W, class R>
concept CanWrite = requires(W w, R r) { w.write(r, 0); };
struct AccessRegs {
  static constexpr std::size_t kSize = 0x20;
  static constexpr Reg<uint16_t, 0x06, Access::kRO> id{};
  static constexpr Reg<uint64_t, 0x08, Access::kW1C> status{};
  static constexpr Reg<uint32_t, 0x1c, Access::kWO> doorbell{};
};
static_assert(!CanWrite<RegWindow<AccessRegs>, decltype(AccessRegs::id)>, "read-only registers refuse writes");
static_assert(!CanRead<RegWindow<AccessRegs>, decltype(AccessRegs::doorbell)>, "write-only registers refuse reads");
static_assert(CanRead<RegWindow<AccessRegs>, decltype(AccessRegs::status)> &&
              CanWrite<RegWindow<AccessRegs>, decltype(AccessRegs::status)>);

TEST(RegWindow, AccessesHitTheirOffsetsWithTheirWidths) {
  alignas(8) std::byte mem[0x100] = {};
  auto w = RegWindow<TestRegs>::over(mem, "test BAR0");
  ASSERT_TRUE(w.has_value());
  w->write(TestRegs::ctrl, 0x11223344u);
  w->write(TestRegs::half, 0xabcd);
  w->write(TestRegs::spad, 3, 0xdeadbeefu);
  w->write(TestRegs::bytes, 7, 0x5a);
  uint32_t c;
  std::memcpy(&c, mem + 0x00, 4);
  EXPECT_EQ(c, 0x11223344u);
  uint16_t h;
  std::memcpy(&h, mem + 0x12, 2);
  EXPECT_EQ(h, 0xabcd);
  uint32_t s;
  std::memcpy(&s, mem + 0x8c, 4);
  EXPECT_EQ(s, 0xdeadbeefu);
  EXPECT_EQ(mem[0xff], std::byte{0x5a});
  EXPECT_EQ(mem[0x10], std::byte{0});  // neighbours untouched
  const uint64_t id = 0x0102030405060708ull;
  std::memcpy(mem + 0x08, &id, 8);
  EXPECT_EQ(w->read(TestRegs::id), id);
  EXPECT_EQ(w->read(TestRegs::spad, 3), 0xdeadbeefu);
  EXPECT_EQ(TestRegs::spad.offset_of(2), 0x88u);
}

TEST(RegWindow, RejectsMemorySmallerThanTheRegisterFile) {
  alignas(8) std::byte mem[0x80] = {};
  auto w = RegWindow<TestRegs>::over(mem, "0000:af:00.0 BAR0");
  ASSERT_FALSE(w.has_value());
  EXPECT_EQ(w.error().code(), Errc::kInvalidArgument);
  EXPECT_THAT(w.error().message(), HasSubstr("0000:af:00.0 BAR0: 128 bytes"));
  EXPECT_THAT(w.error().message(), HasSubstr("256-byte register file"));
}

class RecordingModel final : public MmioModel {
 public:
  uint64_t mmio_read(std::size_t off, unsigned width) override {
    log.push_back({false, off, width, 0});
    return 0x1234;
  }
  void mmio_write(std::size_t off, unsigned width, uint64_t v) override { log.push_back({true, off, width, v}); }
  struct Access {
    bool write;
    std::size_t off;
    unsigned width;
    uint64_t value;
  };
  std::vector<Access> log;
};

TEST(RegWindow, AModelSeesEveryAccessWithOffsetAndWidth) {
  RecordingModel m;
  auto w = RegWindow<TestRegs>::over_model(m);
  EXPECT_EQ(w.read(TestRegs::half), 0x1234);
  w.write(TestRegs::spad, 1, 7);
  ASSERT_EQ(m.log.size(), 2u);
  EXPECT_FALSE(m.log[0].write);
  EXPECT_EQ(m.log[0].off, 0x12u);
  EXPECT_EQ(m.log[0].width, 2u);
  EXPECT_TRUE(m.log[1].write);
  EXPECT_EQ(m.log[1].off, 0x84u);
  EXPECT_EQ(m.log[1].width, 4u);
  EXPECT_EQ(m.log[1].value, 7u);
}

TEST(LinkStatus, DecodesActiveSpeedAndWidth) {
  const PcieLink l = decode_lnksta(0x2103);  // active, x16, 8 GT/s
  EXPECT_TRUE(l.active);
  EXPECT_EQ(l.speed_code, 3);
  EXPECT_EQ(l.width, 16);
  EXPECT_STREQ(speed_gts(l.speed_code), "8");
  const PcieLink down = decode_lnksta(0x0084);  // training: x8, 16 GT/s, not active
  EXPECT_FALSE(down.active);
  EXPECT_EQ(down.width, 8);
  EXPECT_STREQ(speed_gts(1), "2.5");
  EXPECT_STREQ(speed_gts(6), "64");
  EXPECT_STREQ(speed_gts(9), "?");
}

}  // namespace
}  // namespace pbx::ntb
