// The Intel NTB HAL backend over an IntelNtbPort: windows (BAR2 out, DMA-mapped local memory
// in), the scratchpad handshake and the link state machine, doorbells.
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>

#include "pbx/base/barrier.h"
#include "pbx/hal/detail/intel_ntb_handshake.h"
#include "pbx/hal/intel_ntb.h"

namespace pbx::hal {

namespace hs = intel_ntb_handshake;
using ntb::intel::format_size;
using ntb::intel::IntelNtb;
using ntb::intel::LinkBringUp;

namespace {

constexpr uint64_t kPage = 4096;

}  // namespace

Result<void> IntelNtbOptions::validate() const {
  if (window_size != 0 && (window_size < kPage || !std::has_single_bit(window_size)))
    return fail(Errc::kInvalidArgument, "intel-ntb: window_size = %zu must be 0 (the BAR2 size) or a power of two >= 4 KiB",
                window_size);
  if (link_timeout_ns == 0) return fail(Errc::kInvalidArgument, "intel-ntb: link_timeout_ns must not be 0");
  return {};
}

Result<MappableFile> IntelNtbPort::outbound_file() {
  return fail(Errc::kNotSupported, "%s: this Intel NTB port cannot hand its BAR2 to other processes", name().c_str());
}

IntelNtbDevice::IntelNtbDevice(std::unique_ptr<IntelNtbPort> port, const IntelNtbOptions& opts)
    : NtbPairDevice(std::move(port), opts.clock), opts_(opts) {}

Result<std::unique_ptr<IntelNtbDevice>> IntelNtbDevice::attach(std::unique_ptr<IntelNtbPort> port,
                                                               const IntelNtbOptions& opts) {
  return detail::attach_backend<IntelNtbDevice>(std::move(port), opts);
}

Result<void> IntelNtbDevice::init() {
  const std::string name = port_->name();
  const char* nm = name.c_str();
  if (auto ok = attach_driver(name); !ok) return ok;

  // A (re)starting node takes the link down first: the peer sees a link event and both sides
  // handshake again on the next link-up. Then forget what the handshake scratchpads held.
  if (auto ok = ntb_->link_disable(); !ok) return ok;
  for (unsigned i = hs::kUserSpads; i < IntelNtb::spad_count(); ++i)
    if (auto ok = ntb_->spad_write(i, 0); !ok) return ok;
  if (auto ok = ntb_->db_clear(IntelNtb::db_valid_mask()); !ok) return ok;

  // Window size: BAR2, or smaller if asked.
  const ntb::intel::MwInfo& mw = ntb_->mw(0);
  const uint64_t ws = opts_.window_size != 0 ? opts_.window_size : mw.size;
  if (ws > mw.size)
    return fail(Errc::kInvalidArgument,
                "%s: window_size %s is larger than BAR2 (%s): use a smaller window_size, or raise the BAR size with "
                "BIOS %s on both hosts",
                nm, format_size(ws).c_str(), format_size(mw.size).c_str(), ntb_->part().bar_size_setting);
  auto out = port_->map_outbound();
  if (!out) return tl::unexpected(with_context(out.error(), name + ": map BAR2 (outbound window)"));
  if (out->size() < ws)
    return fail(Errc::kInvalidArgument, "%s: BAR2 maps %zu bytes, less than the %s window", nm, out->size(),
                format_size(ws).c_str());
  outbound_ = out->first(ws);

  // Inbound: local memory at an IOVA aligned to the window (and, on gen3/ICX, to the BAR size).
  if (auto ok = setup_inbound(name, "pbx-ntb", ws, opts_.pages, std::max<uint64_t>(ws, mw.addr_align)); !ok)
    return ok;

  // Interrupts: users' doorbells on one vector, the handshake bit and link events on another.
  if (port_->vector_count() >= 2) {
    for (unsigned src = 0; src < hs::kDbBit; ++src)
      if (auto ok = ntb_->set_intvec(src, hs::kUserVector); !ok) return ok;
    if (auto ok = ntb_->set_intvec(hs::kDbBit, hs::kControlVector); !ok) return ok;
    if (auto ok = ntb_->set_intvec(ntb::intel::kDbLinkBit, hs::kControlVector); !ok) return ok;
    if (auto ok = ntb_->db_clear_mask(IntelNtb::db_valid_mask()); !ok) return ok;
  }

  // A number new at every open, so that the peer tells a restarted node from the old one.
  epoch_ = static_cast<uint32_t>((clock_->now_ns() * 0x9e3779b97f4a7c15ull) >> 32) ^ static_cast<uint32_t>(::getpid());
  if (epoch_ == 0) epoch_ = 1;

  info_.backend = std::string("intel-") + ntb::intel::to_string(ntb_->part().regs);
  info_.name = name;
  info_.self = NodeIdx(ntb_->node_index());
  info_.node_count = 2;
  info_.spad_count = hs::kUserSpads;
  info_.db_valid_mask = hs::kUserDbMask;
  info_.window_size = ws;
  info_.outbound_mem_type = port_->outbound_mem_type();

  bringup_.emplace(*ntb_, *clock_, opts_.link_timeout_ns);
  advance();  // enables the link
  return {};
}

IntelNtbDevice::~IntelNtbDevice() {
  if (!ntb_) return;
  if (phase_ != Phase::kTraining) {
    // Tell the peer first, while the window is still open: it stops writing into it.
    (void)ntb_->peer_spad_write(hs::kSpadState, hs::kGone);
    (void)ntb_->peer_db_set(hs::kDbMask);  // flushes the scratchpad write before the ring
  }
  close_inbound();
  (void)ntb_->link_disable();
}

// ------------------------------------------------------------------------------------------
// link state machine

void IntelNtbDevice::go_down() noexcept {
  if (phase_ == Phase::kUp) ++generation_;
}

void IntelNtbDevice::restart_training() noexcept {
  go_down();
  phase_ = Phase::kTraining;
  bringup_.emplace(*ntb_, *clock_, opts_.link_timeout_ns);
}

void IntelNtbDevice::announce() noexcept {
  // Window size and epoch first, then magic, then "ready"; the ring flushes them all before it.
  (void)ntb_->peer_spad_write(hs::kSpadWindowPages, static_cast<uint32_t>(info_.window_size / kPage));
  (void)ntb_->peer_spad_write(hs::kSpadEpoch, epoch_);
  (void)ntb_->peer_spad_write(hs::kSpadMagic, hs::kMagic);
  (void)ntb_->peer_spad_write(hs::kSpadState, hs::kReady);
  (void)ntb_->peer_db_set(hs::kDbMask);
}

void IntelNtbDevice::advance() noexcept {
  const char* nm = info_.name.c_str();
  if (phase_ == Phase::kTraining) {
    auto s = bringup_->poll();
    if (!s) {
      diagnostic_ = s.error().message();
      restart_training();  // keep trying: the peer host may come up later
      return;
    }
    if (*s != LinkBringUp::State::kUp) return;
    link_ = bringup_->link();
    diagnostic_.clear();
    phase_ = Phase::kHandshake;
    announce();
  }
  // One MMIO read tells whether anything happened: a link event or a handshake ring.
  const uint64_t st = ntb_->db_status();
  if ((st & ntb::intel::kDbLinkMask) != 0) {
    auto l = ntb_->poll_link();
    if (!l || !l->active) {
      diagnostic_ = l ? "the NTB link went down" : l.error().message();
      restart_training();
      return;
    }
    link_ = *l;
    announce();  // the peer may have restarted and cleared what we wrote
  }
  if (phase_ == Phase::kUp && (st & hs::kDbMask) == 0) return;
  if ((st & hs::kDbMask) != 0) (void)ntb_->db_clear(hs::kDbMask);
  // Our own scratchpads, written by the peer. The status read above ordered these reads after
  // the ring (from_peer_barrier in db_status()).
  const auto state = ntb_->spad_read(hs::kSpadState);
  const auto magic = ntb_->spad_read(hs::kSpadMagic);
  const auto pages = ntb_->spad_read(hs::kSpadWindowPages);
  const auto epoch = ntb_->spad_read(hs::kSpadEpoch);
  if (!state || !magic || !pages || !epoch) return;
  if (phase_ == Phase::kUp) {
    if (*state == hs::kReady && *epoch == peer_epoch_) return;
    go_down();  // the peer is closing, or it restarted: a new generation follows
    phase_ = Phase::kHandshake;
    if (*epoch != peer_epoch_) announce();
  }
  if (*state != hs::kReady) return;
  char why[256];
  if (*magic != hs::kMagic) {
    std::snprintf(why, sizeof why,
                  "%s: the peer's handshake scratchpad 12 holds 0x%08x, not postbox's 0x%08x: run the same postbox "
                  "build on both hosts",
                  nm, *magic, hs::kMagic);
    diagnostic_ = why;
    return;
  }
  const uint64_t peer_ws = uint64_t{*pages} * kPage;
  if (peer_ws != info_.window_size) {
    std::snprintf(why, sizeof why,
                  "%s: window sizes differ: %s here, %s on the peer: give both hosts the same BIOS BAR sizes or the "
                  "same window_size",
                  nm, format_size(info_.window_size).c_str(), format_size(peer_ws).c_str());
    diagnostic_ = why;
    return;
  }
  peer_epoch_ = *epoch;
  phase_ = Phase::kUp;
  ++generation_;
  diagnostic_.clear();
}

LinkStatus IntelNtbDevice::do_link_status(NodeIdx /*peer*/) noexcept {
  advance();
  const bool up = phase_ == Phase::kUp;
  return LinkStatus{up, generation_, up ? link_.speed_code : uint8_t{0}, up ? link_.width : uint8_t{0}};
}

// ------------------------------------------------------------------------------------------
// windows and doorbell waits (the rest of windows, scratchpads and doorbells: NtbPairDevice)

Result<std::vector<NodeWindowsExport>> IntelNtbDevice::do_export_windows() {
  return export_pair_windows(port_->outbound_file());
}

Result<void> IntelNtbDevice::db_sleep(NodeIdx peer, uint64_t token, uint64_t ns) {
  if (peer == info_.self || port_->vector_count() < 2) return Device::db_sleep(peer, token, ns);
  // A ring after db_wait()'s look at the bits is counted by the eventfd: the wait returns.
  auto fired = port_->wait(hs::kUserVector, ns);
  if (!fired) return tl::unexpected(fired.error());
  return {};
}

}  // namespace pbx::hal
