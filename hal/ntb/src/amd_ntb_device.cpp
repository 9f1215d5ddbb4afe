// The AMD NTB HAL backend over an AmdNtbPort: windows (the first window BAR out, DMA-mapped
// local memory in), the driver's bring-up with the dirty-shutdown rule, the scratchpad
// handshake on top of it, scratchpads and doorbells.
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>

#include "pbx/base/barrier.h"
#include "new_epoch.h"
#include "pbx/hal/amd_ntb.h"

namespace pbx::hal {

namespace hs = amd_handshake;
using ntb::amd::AmdLinkBringUp;
using ntb::amd::AmdNtb;

namespace {

constexpr uint64_t kPage = 4096;

}  // namespace

Result<void> AmdNtbOptions::validate() const {
  if (window_size % kPage != 0)
    return fail(Errc::kInvalidArgument, "amd-ntb: window_size = %zu must be 0 (the BAR size) or a multiple of 4 KiB",
                window_size);
  if (link_timeout_ns == 0) return fail(Errc::kInvalidArgument, "amd-ntb: link_timeout_ns must not be 0");
  return {};
}

Result<MappableFile> AmdNtbPort::window_file(unsigned bar) {
  return fail(Errc::kNotSupported, "%s: this AMD NTB port cannot hand its BAR%u to other processes", name().c_str(),
              bar);
}

AmdNtbDevice::AmdNtbDevice(std::unique_ptr<AmdNtbPort> port, const AmdNtbOptions& opts)
    : NtbPairDevice(std::move(port), opts.clock), opts_(opts) {}

Result<std::unique_ptr<AmdNtbDevice>> AmdNtbDevice::attach(std::unique_ptr<AmdNtbPort> port,
                                                           const AmdNtbOptions& opts) {
  return detail::attach_backend<AmdNtbDevice>(std::move(port), opts);
}

Result<void> AmdNtbDevice::init() {
  const std::string name = port_->name();
  const char* nm = name.c_str();
  if (auto ok = attach_driver(name); !ok) return ok;
  // Forget what the peer wrote into our handshake scratchpads: it announces again when it sees
  // our READY (every bring-up of its link to us makes it write them anew).
  for (unsigned i = hs::kUserSpads; i < AmdNtb::spad_count(); ++i)
    if (auto ok = ntb_->spad_write(i, 0); !ok) return ok;
  if (auto ok = ntb_->db_clear(ntb::amd::kDbValidMask); !ok) return ok;

  const ntb::amd::MwInfo& mw = ntb_->mw(0);
  const uint64_t ws = opts_.window_size != 0 ? opts_.window_size : mw.size;
  if (ws > mw.size)
    return fail(Errc::kInvalidArgument,
                "%s (%s): window_size %" PRIu64 " is larger than the window BAR%u (%" PRIu64
                " bytes): use a smaller window_size, or raise the NTB BAR size in the BIOS of both hosts",
                nm, ntb_->part().name, ws, mw.bar, mw.size);
  auto out = port_->map_window_bar(mw.bar);
  if (!out) return tl::unexpected(with_context(out.error(), name + ": map BAR" + std::to_string(mw.bar)));
  if (out->size() < ws)
    return fail(Errc::kInvalidArgument, "%s: BAR%u maps %zu bytes, less than the %" PRIu64 "-byte window", nm, mw.bar,
                out->size(), ws);
  outbound_ = out->first(ws);

  // Inbound: local memory at an IOVA aligned to the window size rounded up to a power of two.
  if (auto ok = setup_inbound(name, "pbx-amd", ws, opts_.pages, std::bit_ceil(ws)); !ok) return ok;

  epoch_ = detail::new_epoch();
  info_.backend = "amd";
  info_.name = name;
  info_.self = NodeIdx(ntb_->node_index());
  info_.node_count = 2;
  info_.spad_count = hs::kUserSpads;
  info_.db_valid_mask = hs::kUserDbMask;
  info_.window_size = static_cast<size_t>(ws);
  info_.outbound_mem_type = port_->window_mem_type();

  bringup_.emplace(*ntb_, *clock_, opts_.link_timeout_ns, opts_.dirty_wait_ns);
  advance();  // sets READY (or starts the dirty-shutdown wait)
  return {};
}

AmdNtbDevice::~AmdNtbDevice() {
  if (!ntb_) return;
  if (phase_ != Phase::kBringUp) {
    // Tell the peer first, while the window is still open: it stops writing into it.
    (void)ntb_->peer_spad_write(hs::kSpadMagic, hs::kGone);
    (void)ntb_->peer_db_set(hs::kDbMask);  // flushes the scratchpad write before the ring
  }
  close_inbound();
  ntb_->shutdown();  // READY cleared, then the goodbye doorbell
}

// ------------------------------------------------------------------------------------------
// link state machine

void AmdNtbDevice::go_down() noexcept {
  if (phase_ == Phase::kUp) ++generation_;
}

void AmdNtbDevice::restart_bringup() noexcept {
  go_down();
  phase_ = Phase::kBringUp;
  // Our own READY goes first, so that the new attempt does not take it for a dirty shutdown.
  ntb_->clear_ready();
  bringup_.emplace(*ntb_, *clock_, opts_.link_timeout_ns, opts_.dirty_wait_ns);
  bringup_generation_ = 0;
}

void AmdNtbDevice::announce() noexcept {
  // Window size, epoch and acknowledgement first, then the magic; the ring flushes them all
  // before it.
  (void)ntb_->peer_spad_write(hs::kSpadWindowPages, static_cast<uint32_t>(info_.window_size / kPage));
  (void)ntb_->peer_spad_write(hs::kSpadEpoch, epoch_);
  (void)ntb_->peer_spad_write(hs::kSpadAck, peer_epoch_);
  (void)ntb_->peer_spad_write(hs::kSpadMagic, hs::kMagic);
  (void)ntb_->peer_db_set(hs::kDbMask);
  last_announce_ns_ = clock_->now_ns();
}

void AmdNtbDevice::advance() noexcept {
  auto s = bringup_->poll();
  if (!s) {
    diagnostic_ = s.error().message();
    restart_bringup();  // keep trying: the peer host may come up later
    return;
  }
  if (bringup_->generation() != bringup_generation_) {  // the peer's driver came or went
    bringup_generation_ = bringup_->generation();
    go_down();
    phase_ = Phase::kBringUp;
    // What the peer wrote belongs to the link that ended (a host that crashed leaves its last
    // announcement behind): forget it; the peer writes anew when its link comes up.
    for (unsigned i = hs::kUserSpads; i < AmdNtb::spad_count(); ++i) (void)ntb_->spad_write(i, 0);
    if (bringup_->up()) {
      diagnostic_.clear();
      phase_ = Phase::kHandshake;
      announce();
    }
  }
  if (phase_ != Phase::kBringUp) handshake();
}

// Reads what the peer wrote into our scratchpads 4..7 (after a ring, or while not up).
void AmdNtbDevice::handshake() noexcept {
  const char* nm = info_.name.c_str();
  const uint64_t rung = ntb_->db_read();
  if (phase_ == Phase::kUp && (rung & hs::kDbMask) == 0) return;  // nothing happened
  if ((rung & hs::kDbMask) != 0) (void)ntb_->db_clear(hs::kDbMask);
  // Ordered after the ring by db_read().
  const auto magic = ntb_->spad_read(hs::kSpadMagic);
  const auto pages = ntb_->spad_read(hs::kSpadWindowPages);
  const auto epoch = ntb_->spad_read(hs::kSpadEpoch);
  const auto ack = ntb_->spad_read(hs::kSpadAck);
  if (!magic || !pages || !epoch || !ack) return;
  auto not_up = [&] {
    go_down();
    phase_ = Phase::kHandshake;
  };
  auto maybe_reannounce = [&] {
    if (clock_->now_ns() - last_announce_ns_ >= opts_.reannounce_ns) announce();
  };
  char why[256];
  if (*magic != hs::kMagic) {
    not_up();
    if (*magic == hs::kGone) {
      std::snprintf(why, sizeof why, "%s: the peer closed its device", nm);
    } else if (*magic != 0) {
      std::snprintf(why, sizeof why,
                    "%s: the peer's handshake scratchpad %u holds 0x%08x, not postbox's 0x%08x: run the same postbox "
                    "build on both hosts",
                    nm, hs::kSpadMagic, *magic, hs::kMagic);
    } else {
      std::snprintf(why, sizeof why, "%s: the peer's driver is up, but it has not announced its window yet", nm);
      maybe_reannounce();
    }
    diagnostic_ = why;
    return;
  }
  if (*epoch != peer_epoch_) {  // a new peer process: acknowledge it
    not_up();
    peer_epoch_ = *epoch;
    announce();
  }
  const uint64_t peer_ws = uint64_t{*pages} * kPage;
  if (peer_ws != info_.window_size) {
    not_up();
    std::snprintf(why, sizeof why,
                  "%s: window sizes differ: %zu bytes here, %" PRIu64 " on the peer: give both hosts the same BIOS BAR "
                  "sizes or the same window_size",
                  nm, info_.window_size, peer_ws);
    diagnostic_ = why;
    return;
  }
  if (*ack != epoch_) {  // it has not seen our announcement (yet, or it was forgotten)
    not_up();
    std::snprintf(why, sizeof why, "%s: the peer has not acknowledged our announcement yet", nm);
    diagnostic_ = why;
    maybe_reannounce();
    return;
  }
  if (phase_ != Phase::kUp) {
    phase_ = Phase::kUp;
    ++generation_;
  }
  diagnostic_.clear();
}

LinkStatus AmdNtbDevice::do_link_status(NodeIdx /*peer*/) noexcept {
  advance();
  const bool up = phase_ == Phase::kUp;
  const ntb::PcieLink& l = bringup_->link();
  return LinkStatus{up, generation_, up ? l.speed_code : uint8_t{0}, up ? l.width : uint8_t{0}};
}

// ------------------------------------------------------------------------------------------
// windows (the rest of windows, scratchpads and doorbells: NtbPairDevice)

Result<std::vector<NodeWindowsExport>> AmdNtbDevice::do_export_windows() {
  return export_pair_windows(port_->window_file(ntb_->mw(0).bar));
}

}  // namespace pbx::hal
