// RegWindow: registers land at their offsets with their widths; a too-short BAR is refused.
#include "pbx/vfio/reg_window.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace pbx::vfio {
namespace {

struct TestRegs {
  static constexpr std::size_t kSize = 0x20;
  static constexpr Reg<uint32_t, 0x00> ctrl{};
  static constexpr Reg<uint16_t, 0x06, Access::kRO> id{};
  static constexpr Reg<uint64_t, 0x08, Access::kW1C> status{};
  static constexpr Reg<uint32_t, 0x1c, Access::kWO> doorbell{};
};

template <class W, class R>
concept CanRead = requires(W w, R r) { w.read(r); };
template <class W, class R>
concept CanWrite = requires(W w, R r) { w.write(r, 0); };
static_assert(!CanWrite<RegWindow<TestRegs>, decltype(TestRegs::id)>, "read-only registers refuse writes");
static_assert(!CanRead<RegWindow<TestRegs>, decltype(TestRegs::doorbell)>, "write-only registers refuse reads");
static_assert(CanRead<RegWindow<TestRegs>, decltype(TestRegs::status)> &&
              CanWrite<RegWindow<TestRegs>, decltype(TestRegs::status)>);

TEST(RegWindow, AccessesLandAtTheRegisterOffsetWithTheRegisterWidth) {
  alignas(8) std::byte mem[TestRegs::kSize]{};
  auto w = RegWindow<TestRegs>::over(mem, "test BAR");
  ASSERT_TRUE(w) << w.error().message();
  w->write(TestRegs::doorbell, 0x00010002u);
  w->write(TestRegs::ctrl, 0xa5a5a5a5u);
  uint32_t db = 0;
  std::memcpy(&db, mem + 0x1c, 4);
  EXPECT_EQ(db, 0x00010002u);
  const uint16_t id = 0x1110;
  std::memcpy(mem + 0x06, &id, 2);
  EXPECT_EQ(w->read(TestRegs::id), 0x1110);
  EXPECT_EQ(w->read(TestRegs::ctrl), 0xa5a5a5a5u);
  EXPECT_EQ(mem[0x04], std::byte{0});  // nothing spilled between ctrl and id
}

TEST(RegWindow, RefusesMemoryShorterThanTheLayout) {
  alignas(8) std::byte mem[TestRegs::kSize - 4]{};
  auto w = RegWindow<TestRegs>::over(mem, "BAR0 of 0000:00:04.0");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(w.error().message().find("BAR0 of 0000:00:04.0"), std::string::npos);
  EXPECT_NE(w.error().message().find("32-byte"), std::string::npos) << w.error().message();
}

}  // namespace
}  // namespace pbx::vfio
