// The lock -> configure -> normal transaction against the model's state machine: the writes
// happen only while the lock is held, every time-out fires at its deadline and is reported,
// a refused configuration is reported with all three error registers and rolled back.
#include "pbx/ntb/switchtec/txn.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fixture.h"

namespace pbx::ntb::switchtec {
namespace {

using test::SwitchFixture;
using test::SwitchtecModelSpec;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::size_t kLut0 = 0x1000;  // lut_entry[0] in a control block

struct Txn : ::testing::Test {
  Txn() : f(SwitchtecModelSpec::mesh(2)), gas(GasView::over_model(f.sw.port(0), "0000:01:00.1")) {}
  PartitionTxn txn() { return PartitionTxn(gas, f.clock, f.pacer, f.timing); }
  SwitchFixture f;
  GasView gas;
};

TEST_F(Txn, StagesOnlyWhileLockedAndEndsNormal) {
  uint32_t status_in_stage = 0;
  unsigned undos = 0;
  const auto c = gas.ctrl(1);
  auto r = txn().run(
      1, "LUT entry 0",
      [&] {
        status_in_stage = f.sw.status(1);
        c.write(CtrlRegs::lut_entry, 0, kLutEn | uint64_t{0} << 1 | 0x100000);
      },
      [&] { ++undos; });
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(status_in_stage, kStatusLocked);
  EXPECT_EQ(undos, 0u);
  EXPECT_EQ(f.sw.status(1), kStatusNormal);
  EXPECT_EQ(f.sw.configures(1), 1u);
  EXPECT_EQ(f.sw.peek(ctrl_offset(1) + kLut0, 8), kLutEn | 0x100000);
  EXPECT_THAT(f.sw.violations(), IsEmpty());
  // Status reads came after a pause each: lock (2 reads) and configure (2 reads).
  EXPECT_EQ(f.pacer.pauses(), 4u);
}

TEST_F(Txn, LockThatNeverCompletesTimesOutAtTheDeadlineWithoutWriting) {
  f.sw.stall(1, true);
  bool staged = false;
  const uint64_t start = f.clock.now_ns();
  auto r = txn().run(1, "LUT entries 0..15 for partition 0", [&] { staged = true; }, [] {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kTimedOut);
  EXPECT_FALSE(staged);
  EXPECT_GE(f.clock.now_ns() - start, f.timing.lock_timeout_ns);
  EXPECT_LT(f.clock.now_ns() - start, f.timing.lock_timeout_ns + 2 * f.timing.poll_ns);
  const std::string m = r.error().message();
  EXPECT_THAT(m, HasSubstr("0000:01:00.1: lock of partition 1's control block (GAS 0x16000)"));
  EXPECT_THAT(m, HasSubstr("LUT entries 0..15 for partition 0"));
  EXPECT_THAT(m, HasSubstr("(locking) for 1000 ms"));
  EXPECT_THAT(m, HasSubstr("partition_status stayed 0xa5a50003"));  // all 32 bits reported
}

TEST_F(Txn, ConfigureThatNeverCompletesTimesOut) {
  auto r = txn().run(1, "a change", [&] { f.sw.stall(1, true); }, [] {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kTimedOut);
  EXPECT_THAT(r.error().message(), HasSubstr("configure of partition 1's control block"));
  EXPECT_THAT(r.error().message(), HasSubstr("(configuring)"));
}

TEST_F(Txn, RefusedConfigurationReportsTheErrorRegistersAndRollsBack) {
  const auto c = gas.ctrl(1);
  const uint64_t before = f.sw.peek(ctrl_offset(1) + kLut0 + 8 * 40, 8);
  auto r = txn().run(
      1, "LUT entry 40", [&] { c.write(CtrlRegs::lut_entry, 40, kLutEn | 0x200000); },  // only 32 configured
      [&] { c.write(CtrlRegs::lut_entry, 40, before); });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kIoError);
  const std::string m = r.error().message();
  EXPECT_THAT(m, HasSubstr("the switch refused LUT entry 40 in partition 1's control block"));
  EXPECT_THAT(m, HasSubstr("bar_error 0x00000000, lut_error 0x00000001, req_id_error 0x00000000"));
  EXPECT_THAT(m, HasSubstr("the previous settings were restored"));
  EXPECT_EQ(f.sw.peek(ctrl_offset(1) + kLut0 + 8 * 40, 8), before);
  EXPECT_EQ(f.sw.status(1), kStatusNormal);
  EXPECT_THAT(f.sw.violations(), IsEmpty());
}

TEST_F(Txn, ALockHeldByAnotherHostIsNotTakenForSuccess) {
  // The switch has one status per block: a lock another host holds reads "locked" to us too.
  // Our writes are dropped and our configure ignored; the transaction must end in an error.
  f.sw.force_lock(1, 1);  // the host of partition 1 holds it; we are the host of partition 0
  const auto c = gas.ctrl(1);
  auto r = txn().run(1, "LUT entry 0", [&] { c.write(CtrlRegs::lut_entry, 0, kLutEn | 0x100000); }, [] {});
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("(locked) after configure"));
  EXPECT_THAT(r.error().message(), HasSubstr("restoring the previous settings failed too (partition_status 0xa5a50002"));
  EXPECT_EQ(f.sw.lock_conflicts(), 1u);
  EXPECT_EQ(f.sw.peek(ctrl_offset(1) + kLut0, 8), 0u) << "nothing written without the lock";
  EXPECT_FALSE(f.sw.violations().empty());  // the model saw the dropped writes
}

TEST_F(Txn, ARefusedLockIsReportedWithoutWriting) {
  // RESET in flight: the status after LOCK is "resetting", which is not a lock.
  gas.ctrl(1).write(CtrlRegs::partition_op, kOpReset);
  f.sw.stall(1, true);
  bool staged = false;
  auto r = txn().run(1, "x", [&] { staged = true; }, [] {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kIoError);
  EXPECT_THAT(r.error().message(), HasSubstr("(resetting), not locked"));
  EXPECT_FALSE(staged);
}

}  // namespace
}  // namespace pbx::ntb::switchtec
