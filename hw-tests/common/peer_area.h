// PeerArea: two nodes meeting in memory both of them map (ivshmem BAR2), for tests that drive
// the device below the HAL (sysfs, VFIO). It finds the other node, steps both through numbered
// phases, carries one payload per node, and leaves its memory all zero when both are done.
//
// The area is the top kAreaSize bytes of the shared memory; one slot per ivshmem peer id:
//   slot + 0    present   tag              the node is in this test
//   slot + 8    step      tag + step       the last phase the node reached (sync)
//   slot + 16   verdict   tag ^ kGood/kBad what the node found in the peer's payload
//   slot + 24   done      tag              the node needs nothing more of the peer's slot
//   slot + 64   payload   kPayloadSize bytes, written by the slot's node only
// The tag mixes the run nonce (PBX_HW_NONCE) with the test's name, so that the words of an
// earlier run or test are never taken for this one's. Every word has one writer at a time (no
// compare-and-swap); control words go through `ctl` (uncached: loads stay in order), payloads
// through `data` (which may be write-combining), with wc_flush() between the two.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "pbx/base/error.h"

namespace pbx::hwtest {

class PeerArea {
 public:
  static constexpr size_t kSlotSize = 128u << 10;
  static constexpr uint32_t kSlots = 8;  // peer ids 0..7
  static constexpr size_t kAreaSize = kSlotSize * kSlots;
  static constexpr size_t kPayloadOff = 64;
  static constexpr size_t kPayloadSize = kSlotSize - kPayloadOff;

  // `ctl` and `data` view the same shared memory (they may be the same span); `self` is this
  // node's ivshmem peer id.
  PeerArea(std::span<std::byte> ctl, std::span<std::byte> data, uint32_t self);

  uint32_t self() const noexcept { return self_; }
  uint32_t peer() const noexcept { return peer_; }

  // Announces this node and waits for exactly one other node of this test.
  [[nodiscard]] Result<void> meet();
  // Both nodes have reached phase `step` (1, 2, ...: increasing). Stores of this node before
  // the call are visible to the peer after its sync(step) returns, and the other way round.
  [[nodiscard]] Result<void> sync(uint32_t step);
  // Payload memory of node `id` (this node writes only its own), through the data view.
  std::span<std::byte> payload(uint32_t id) const noexcept;
  // A word of node `id`'s payload through the control view (for atomics, flags).
  uint64_t* payload_word(uint32_t id, size_t index) const noexcept;

  // Publishes this node's verdict on the peer's payload, and waits for the peer's on ours.
  [[nodiscard]] Result<bool> exchange_verdicts(bool peer_payload_good);

  // Leaves the area all zero: clears this node's slot once the peer is done with it, clears the
  // peer's done word once seen, and returns when the peer has cleared ours, so that no store of
  // this test lands after both nodes moved on.
  [[nodiscard]] Result<void> leave();

 private:
  std::atomic_ref<uint64_t> word(uint32_t id, size_t off) const noexcept;
  // Waits until node `id`'s word at `off` satisfies `ok`; returns its last value.
  template <class Pred>
  [[nodiscard]] Result<uint64_t> wait_word(uint32_t id, size_t off, Pred ok, const char* what) const;

  std::byte* ctl_;
  std::byte* data_;
  uint32_t self_;
  uint32_t peer_ = 0;
  uint64_t tag_;
};

}  // namespace pbx::hwtest
