#include "pbx/ntb/switchtec/txn.h"

#include <cinttypes>
#include <cstdio>

namespace pbx::ntb::switchtec {

uint32_t PartitionTxn::op_and_wait(const RegWindow<CtrlRegs>& c, uint32_t op, uint32_t busy,
                                   uint64_t timeout_ns) const {
  c.write(CtrlRegs::partition_op, op);
  const uint64_t deadline = clock_->now_ns() + timeout_ns;
  for (;;) {
    // As Linux: give the firmware one interval before the first read, so that a status that has
    // not left its previous state yet is not taken for the answer.
    pacer_->pause_ns(timing_->poll_ns);
    const uint32_t status = c.read(CtrlRegs::partition_status);
    if ((status & kStatusMask) != busy || clock_->now_ns() >= deadline) return status;
  }
}

Result<void> PartitionTxn::run(unsigned partition, std::string_view what, const std::function<void()>& stage,
                               const std::function<void()>& undo) {
  const auto c = gas_->ctrl(partition);
  const char* nm = gas_->name().c_str();
  const int wl = static_cast<int>(what.size());
  const std::size_t block = ctrl_offset(partition);

  const uint32_t locked = op_and_wait(c, kOpLock, kStatusLocking, timing_->lock_timeout_ns);
  if ((locked & kStatusMask) == kStatusLocking)
    return fail(Errc::kTimedOut,
                "%s: lock of partition %u's control block (GAS 0x%zx) for %.*s: partition_status stayed 0x%08x (locking) "
                "for %" PRIu64 " ms: another host may be configuring partition %u, or the switch firmware is busy; "
                "retry, and check the switch with switchtec-user",
                nm, partition, block, wl, what.data(), locked, timing_->lock_timeout_ns / 1'000'000, partition);
  if ((locked & kStatusMask) != kStatusLocked)
    return fail(Errc::kIoError,
                "%s: lock of partition %u's control block (GAS 0x%zx) for %.*s: partition_status is 0x%08x (%s), not "
                "locked: the switch refused the lock; nothing was written; check the switch with switchtec-user",
                nm, partition, block, wl, what.data(), locked, status_name(locked));

  stage();

  const uint32_t done = op_and_wait(c, kOpCfg, kStatusConfiguring, timing_->cfg_timeout_ns);
  if ((done & kStatusMask) == kStatusNormal) return {};
  if ((done & kStatusMask) == kStatusConfiguring)
    return fail(Errc::kTimedOut,
                "%s: configure of partition %u's control block (GAS 0x%zx) for %.*s: partition_status stayed 0x%08x "
                "(configuring) for %" PRIu64 " ms; the new settings may or may not be in effect: reset the switch "
                "partition and retry",
                nm, partition, block, wl, what.data(), done, timing_->cfg_timeout_ns / 1'000'000);

  // Refused: say why, put the registers back, configure again.
  const uint32_t bar_error = c.read(CtrlRegs::bar_error);
  const uint32_t lut_error = c.read(CtrlRegs::lut_error);
  const uint32_t rid_error = c.read(CtrlRegs::req_id_error);
  undo();
  const uint32_t again = op_and_wait(c, kOpCfg, kStatusConfiguring, timing_->cfg_timeout_ns);
  const bool restored = (again & kStatusMask) == kStatusNormal;
  char restore[160];
  if (restored)
    std::snprintf(restore, sizeof restore, "the previous settings were restored");
  else
    std::snprintf(restore, sizeof restore,
                  "restoring the previous settings failed too (partition_status 0x%08x (%s) after the second "
                  "configure): reset the switch partition",
                  again, status_name(again));
  return fail(Errc::kIoError,
              "%s: the switch refused %.*s in partition %u's control block (GAS 0x%zx): partition_status 0x%08x (%s) "
              "after configure, bar_error 0x%08x, lut_error 0x%08x, req_id_error 0x%08x; %s. Check the partition's "
              "BAR sizes, LUT count and requester-ID table size in the switch configuration "
              "(Microsemi/switchtec-kernel#109)",
              nm, wl, what.data(), partition, block, done, status_name(done), bar_error, lut_error, rid_error, restore);
}

}  // namespace pbx::ntb::switchtec
