// The lock -> configure -> normal transaction on a partition's NT control block. Every change
// to a control block's windows, LUT entries or requester-ID table happens inside one:
//
//   write partition_op = LOCK,  wait while partition_status == LOCKING      (must end LOCKED)
//   write the registers
//   write partition_op = CFG,   wait while partition_status == CONFIGURING  (must end NORMAL)
//
// (linux drivers/ntb/hw/mscc/ntb_hw_switchtec.c switchtec_ntb_part_op: it sleeps 50 ms before
// each status read, up to 1000 times; the status is the low 16 bits.) When the switch refuses
// the configuration (the status after CFG is not NORMAL) the three error registers are read,
// the registers are put back as they were, and the block is configured again, as Linux does
// for a memory window; the error reports all of it.
//
// Waiting: deadlines from the injected clock, polls spaced by the pacer (tests: a fake clock
// and a pacer that advances it). Every time-out returns Errc::kTimedOut naming the partition,
// the step and the last status read.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "pbx/base/clock.h"
#include "pbx/base/error.h"
#include "pbx/ntb/pacer.h"
#include "pbx/ntb/switchtec/gas.h"

namespace pbx::ntb::switchtec {

struct TxnTiming {
  uint64_t lock_timeout_ns = 10'000'000'000;  // for LOCKING to end
  uint64_t cfg_timeout_ns = 10'000'000'000;   // for CONFIGURING to end
  uint64_t poll_ns = 1'000'000;               // between two status reads (Linux: 50 ms)
};

class PartitionTxn {
 public:
  // All referenced objects must outlive the transaction object.
  PartitionTxn(const GasView& gas, const Clock& clock, Pacer& pacer, const TxnTiming& timing) noexcept
      : gas_(&gas), clock_(&clock), pacer_(&pacer), timing_(&timing) {}

  // Locks `partition`'s control block, calls `stage` (which writes the registers), configures.
  // If the switch refuses, calls `undo` (which writes the registers back) and configures again.
  // `what` names the change in messages ("LUT entries 8..15 for partition 2").
  [[nodiscard]] Result<void> run(unsigned partition, std::string_view what, const std::function<void()>& stage,
                                 const std::function<void()>& undo);

 private:
  // Writes `op`, then polls while the status is `busy`; returns the first other status (or the
  // busy one when the deadline passed).
  uint32_t op_and_wait(const RegWindow<CtrlRegs>& c, uint32_t op, uint32_t busy, uint64_t timeout_ns) const;

  const GasView* gas_;
  const Clock* clock_;
  Pacer* pacer_;
  const TxnTiming* timing_;
};

}  // namespace pbx::ntb::switchtec
