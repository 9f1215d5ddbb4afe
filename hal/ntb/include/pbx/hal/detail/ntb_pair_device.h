// What the two-host NTB backends (Intel, AMD) share: one NTB between node 0 and node 1, driven by
// a register-level driver with the ntb.h grammar (spad_read, peer_spad_write, peer_db_set,
// db_read, db_clear, mw_set_trans). NtbPairDevice<Driver, Port> is the hal::Device part of both
// that does not depend on the family:
//
//   * windows: outbound = the driver's first window BAR (mapped by the backend into outbound_);
//     inbound = local memory, DMA-mapped and programmed into window 0's translation
//     (setup_inbound(), close_inbound()); windows to self (traffic between processes of one
//     node) = local memory of their own. export_pair_windows() hands them to a node manager.
//   * scratchpads and doorbells: to the peer through the driver; to self in plain memory.
//
// The families keep their own bring-up and handshake (link state), options and teardown order.
// Threading: as hal::Device (one thread at a time; windows usable from any thread).
//
// Instantiated for IntelNtb and AmdNtb in hal/ntb/src/ntb_pair_device.cpp.
#pragma once

#include <array>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pbx/base/clock.h"
#include "pbx/hal/detail/local_memory.h"
#include "pbx/hal/device.h"

namespace pbx::hal {

// The register-level driver of a two-host NTB, as the shared part uses it.
template <class D>
concept PairNtbDriver = requires(D& d, unsigned idx, uint32_t v, uint64_t bits) {
  { D::spad_count() } -> std::convertible_to<unsigned>;
  { d.spad_read(idx) } -> std::same_as<Result<uint32_t>>;
  { d.peer_spad_write(idx, v) } -> std::same_as<Result<void>>;
  { d.peer_db_set(bits) } -> std::same_as<Result<void>>;
  { d.db_read() } -> std::same_as<uint64_t>;
  { d.db_clear(bits) } -> std::same_as<Result<void>>;
  { d.mw_set_trans(idx, bits, bits) } -> std::same_as<Result<void>>;
  { d.mw_clear_trans(idx) } -> std::same_as<Result<void>>;
};

// The platform port of a two-host NTB, as the shared part uses it: the device enabled, what the
// driver attaches over, DMA mapping of local memory.
template <class P>
concept PairNtbPort = requires(P& p, std::span<std::byte> mem, uint64_t iova) {
  { p.enable_device() } -> std::same_as<Result<void>>;
  p.attach_params();
  { p.map_dma(mem, iova) } -> std::same_as<Result<void>>;
  { p.unmap_dma(iova) } noexcept;
};

template <PairNtbDriver Driver, PairNtbPort Port>
class NtbPairDevice : public Device {
 public:
  // Why the link to the peer is not up, when it is not (empty when up or still coming up within
  // its deadline): a bring-up time-out, a handshake mismatch. For tools and logs.
  const std::string& link_diagnostic() const noexcept { return diagnostic_; }
  // Where the inbound window is in the IOMMU's space, for diagnostics and tests.
  uint64_t inbound_iova() const noexcept { return iova_; }
  Driver& ntb() noexcept { return *ntb_; }

 protected:
  // `clock` nullptr: CLOCK_MONOTONIC.
  NtbPairDevice(std::unique_ptr<Port> port, const Clock* clock)
      : port_(std::move(port)), clock_(clock != nullptr ? clock : &default_clock_) {}

  // The device enabled (memory decoding, bus mastering) and the register-level driver attached
  // over the port (Driver::attach(port_->attach_params())) into ntb_. Errors name `name`.
  [[nodiscard]] Result<void> attach_driver(const std::string& name);
  // The inbound window (`ws` bytes of local memory in `pages`, memfd "<memfd_prefix>-inbound")
  // DMA-mapped at the first IOVA above 4 GiB aligned to `align` (a power of two) and programmed
  // into window 0's translation; and the window to self ("<memfd_prefix>-self", small pages,
  // touched only where segments are made). Errors name `name` and the step that failed.
  [[nodiscard]] Result<void> setup_inbound(const std::string& name, const std::string& memfd_prefix, uint64_t ws,
                                           PagePolicy pages, uint64_t align);
  // Undoes setup_inbound() as far as it went: the translation goes before the memory behind it,
  // then the DMA mapping. Call it after telling the peer to stop writing.
  void close_inbound() noexcept;
  const LocalMemory& inbound_memory() const noexcept { return inbound_; }

  // For a node manager (postboxd): outbound to the peer = `outbound` (the window BAR's file,
  // first window_size bytes); inbound from the peer = the inbound memfd; to and from self = the
  // self memfd (sparse: pages appear where segments are made). Memfds are write-back.
  Result<std::vector<NodeWindowsExport>> export_pair_windows(Result<MappableFile> outbound) const;

  NodeIdx other() const noexcept { return NodeIdx(static_cast<uint16_t>(1 - info_.self.v)); }

  // Windows, scratchpads and doorbells: self in local memory, the peer through the NTB.
  Result<OutboundWindow> do_peer_mw(NodeIdx peer) final;
  Result<InboundWindow> do_local_mw(NodeIdx peer) final;
  Result<uint32_t> do_spad_read(NodeIdx peer, SpadIdx idx) final;
  Result<void> do_peer_spad_write(NodeIdx peer, SpadIdx idx, uint32_t v) final;
  Result<void> do_peer_db_set(NodeIdx peer, uint64_t bits) final;
  // The peer's bits inside info().db_valid_mask: the handshake's bits stay the backend's.
  Result<uint64_t> do_db_read(NodeIdx peer) final;
  Result<void> do_db_clear(NodeIdx peer, uint64_t bits) final;

  std::unique_ptr<Port> port_;
  MonotonicClock default_clock_;
  const Clock* clock_;
  std::optional<Driver> ntb_;
  std::span<std::byte> outbound_;  // the first window_size bytes of the window BAR
  std::string diagnostic_;

 private:
  LocalMemory inbound_;      // the peer writes here (through the NTB)
  LocalMemory self_window_;  // this node's processes write here (window to self)
  uint64_t iova_ = 0;
  bool dma_mapped_ = false;
  bool trans_set_ = false;
  // Scratchpads and doorbells to self; the Device's checks keep indices below spad_count.
  std::array<uint32_t, Driver::spad_count()> self_spads_{};
  uint64_t self_db_ = 0;
};

}  // namespace pbx::hal
