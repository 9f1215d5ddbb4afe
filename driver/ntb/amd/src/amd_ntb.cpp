#include "pbx/ntb/amd/amd_ntb.h"

#include <cinttypes>

#include "pbx/base/barrier.h"

namespace pbx::ntb::amd {
namespace {
constexpr uint64_t kPage = 4096;
}  // namespace

const char* to_string(Side s) noexcept { return s == Side::kPrimary ? "primary" : "secondary"; }

Result<AmdNtb> AmdNtb::attach(const AttachParams& p) {
  const char* nm = p.name.c_str();
  if (p.cfg == nullptr) return fail(Errc::kInvalidArgument, "%s: attach: no config space given", nm);
  auto vendor = p.cfg->read16(pci::kVendorId);
  auto device = p.cfg->read16(pci::kDeviceId);
  auto cmd = p.cfg->read16(pci::kCommand);
  if (!vendor || !device || !cmd)
    return tl::unexpected(with_context(!vendor ? vendor.error() : !device ? device.error() : cmd.error(),
                                       p.name + ": read PCI IDs from config space"));
  auto part = identify(*vendor, *device, p.name);
  if (!part) return tl::unexpected(part.error());
  constexpr uint16_t kNeed = pci::kCommandMemory | pci::kCommandMaster;
  if ((*cmd & kNeed) != kNeed)
    return fail(Errc::kInvalidArgument,
                "%s: COMMAND (config 0x04) = 0x%04x: memory decoding and bus mastering must both be on before the NTB "
                "is programmed; enable them through VFIO (VfioDevice::enable_bus_master) first",
                nm, *cmd);

  AmdNtb n;
  n.name_ = p.name;
  n.part_ = *part;
  n.cfg_ = p.cfg;
  n.link_cfg_ = p.link_cfg != nullptr ? p.link_cfg : p.cfg;
  if (p.bar0_model != nullptr) {
    n.r_ = RegWindow<Regs>::over_model(*p.bar0_model);
  } else {
    auto w = RegWindow<Regs>::over(p.bar0, p.name + " BAR0");
    if (!w) return tl::unexpected(w.error());
    n.r_ = *w;
  }
  const uint32_t side = n.r_.read(Regs::sideinfo);
  if (side == 0xffffffffu)
    return fail(Errc::kIoError,
                "%s: SIDEINFO (BAR0+0x408) reads 0xffffffff: the device does not answer (memory decoding off, D3, or "
                "gone); re-bind it to vfio-pci and retry",
                nm);
  n.side_ = (side & kSideMask) != 0 ? Side::kSecondary : Side::kPrimary;
  // Scratchpads: the primary owns 0..7 of the shared bank, the secondary 8..15.
  n.self_spad_ = n.side_ == Side::kPrimary ? 0 : kSpadsPerSide;
  n.peer_spad_ = n.side_ == Side::kPrimary ? kSpadsPerSide : 0;
  for (unsigned i = 0; i < n.part_->mw_count; ++i) {
    n.mw_[i].bar = n.part_->mw_bar[i];
    n.mw_[i].size = p.mw_size[i];
    if (n.mw_[i].size < kPage)
      return fail(Errc::kInvalidArgument,
                  "%s (%s): window %u (BAR%u) is %" PRIu64 " bytes: the BIOS did not size the NTB BAR (at least 4 KiB)",
                  nm, n.part_->name, i, n.mw_[i].bar, n.mw_[i].size);
  }
  // Events: only link up/down raise interrupts (amd_init_dev). Doorbells: all user bits masked;
  // the goodbye bit stays unmasked (Linux writes ~BIT(db_last_bit)).
  n.r_.write(Regs::intmask, kEventMask & ~(kEventLinkUp | kEventLinkDown));
  n.db_mask_ = kDbValidMask;
  n.write_dbmask();
  return n;
}

// ---- SIDEINFO -----------------------------------------------------------------------------------

bool AmdNtb::ready() noexcept { return (r_.read(Regs::sideinfo) & kSideReady) != 0; }
bool AmdNtb::peer_ready() noexcept { return (r_.read(Regs::peer_sideinfo) & kSideReady) != 0; }

void AmdNtb::set_ready() noexcept {
  const uint32_t s = r_.read(Regs::sideinfo);
  if ((s & kSideReady) == 0) r_.write(Regs::sideinfo, s | kSideReady);
  r_.write(Regs::cntl, r_.read(Regs::cntl) | kCntlPmmRegCtl | kCntlSmmRegCtl);
}

void AmdNtb::clear_ready() noexcept {
  const uint32_t s = r_.read(Regs::sideinfo);
  if ((s & kSideReady) != 0) {
    r_.write(Regs::sideinfo, s & ~kSideReady);
    (void)r_.read(Regs::sideinfo);  // flushes the posted write, as Linux's read-back
  }
  r_.write(Regs::cntl, r_.read(Regs::cntl) & ~(kCntlPmmRegCtl | kCntlSmmRegCtl));
}

void AmdNtb::clear_peer_ready() noexcept {
  const uint32_t s = r_.read(Regs::peer_sideinfo);
  if ((s & kSideReady) != 0) {
    r_.write(Regs::peer_sideinfo, s & ~kSideReady);
    (void)r_.read(Regs::peer_sideinfo);
  }
}

// ---- events ---------------------------------------------------------------------------------------

uint32_t AmdNtb::events() noexcept { return r_.read(Regs::intstat) & kEventMask; }

Result<void> AmdNtb::ack_events(uint32_t bits) {
  if ((bits & ~kEventMask) != 0)
    return fail(Errc::kInvalidArgument, "%s: ack_events(0x%x): event bits are 0x%x", name_.c_str(), bits, kEventMask);
  // ntb_hw_amd.c amd_handle_event: acknowledge to the SMU, then clear the status.
  r_.write(Regs::smuack, r_.read(Regs::smuack) | bits);
  r_.write(Regs::intstat, bits);
  return {};
}

// ---- memory windows ---------------------------------------------------------------------------------

Result<void> AmdNtb::mw_set_trans(unsigned widx, uint64_t addr, uint64_t size) {
  const char* nm = name_.c_str();
  if (widx >= part_->mw_count)
    return fail(Errc::kInvalidArgument, "%s (%s): memory window %u does not exist (0..%u)", nm, part_->name, widx,
                part_->mw_count - 1);
  const MwInfo& mw = mw_[widx];
  if (size == 0 || size > mw.size)
    return fail(Errc::kInvalidArgument,
                "%s (%s): memory window %u (BAR%u, %" PRIu64 " bytes): size %" PRIu64 " is invalid: 1 byte up to the BAR "
                "size (the BIOS sets the NTB BAR sizes)",
                nm, part_->name, widx, mw.bar, mw.size, size);
  if (addr % kPage != 0)
    return fail(Errc::kInvalidArgument,
                "%s (%s): memory window %u: address 0x%" PRIx64 " is not aligned to 4 KiB; place the inbound buffer at a "
                "page-aligned IOVA",
                nm, part_->name, widx, addr);
  auto mismatch = [&](const char* reg, std::size_t off, uint64_t wrote, uint64_t read) {
    return fail(Errc::kIoError,
                "%s (%s): the peer's %s (BAR0+0x%zx) reads back 0x%" PRIx64 " after writing 0x%" PRIx64
                ": the NTB did not accept memory window %u (BAR%u); the window was left closed; check that the peer "
                "side is powered and its link is up",
                nm, part_->name, reg, off, read, wrote, widx, mw.bar);
  };
  if (mw.bar == 1) {  // 0x145B's BAR1: 64-bit translation, 32-bit limit
    r_.write(Regs::peer_bar1_xlat, addr);
    if (const uint64_t v = r_.read(Regs::peer_bar1_xlat); v != addr) {
      r_.write(Regs::peer_bar1_xlat, 0);
      return mismatch("BAR1XLAT", Regs::peer_bar1_xlat.offset, addr, v);
    }
    const auto lim = static_cast<uint32_t>(size);
    r_.write(Regs::peer_bar1_lmt, lim);
    if (const uint32_t v = r_.read(Regs::peer_bar1_lmt); v != lim || size > UINT32_MAX) {
      r_.write(Regs::peer_bar1_lmt, 0);
      r_.write(Regs::peer_bar1_xlat, 0);
      return mismatch("BAR1LMT", Regs::peer_bar1_lmt.offset, size, v);
    }
    return {};
  }
  const bool b23 = mw.bar == 2;
  if (b23)
    r_.write(Regs::peer_bar23_xlat, addr);
  else
    r_.write(Regs::peer_bar45_xlat, addr);
  const uint64_t xv = b23 ? r_.read(Regs::peer_bar23_xlat) : r_.read(Regs::peer_bar45_xlat);
  if (xv != addr) {
    b23 ? r_.write(Regs::peer_bar23_xlat, 0) : r_.write(Regs::peer_bar45_xlat, 0);
    return mismatch(b23 ? "BAR23XLAT" : "BAR45XLAT",
                    b23 ? Regs::peer_bar23_xlat.offset : Regs::peer_bar45_xlat.offset, addr, xv);
  }
  if (b23)
    r_.write(Regs::peer_bar23_lmt, size);
  else
    r_.write(Regs::peer_bar45_lmt, size);
  const uint64_t lv = b23 ? r_.read(Regs::peer_bar23_lmt) : r_.read(Regs::peer_bar45_lmt);
  if (lv != size) {
    if (b23) {
      r_.write(Regs::peer_bar23_lmt, 0);
      r_.write(Regs::peer_bar23_xlat, 0);
    } else {
      r_.write(Regs::peer_bar45_lmt, 0);
      r_.write(Regs::peer_bar45_xlat, 0);
    }
    return mismatch(b23 ? "BAR23LMT" : "BAR45LMT", b23 ? Regs::peer_bar23_lmt.offset : Regs::peer_bar45_lmt.offset,
                    size, lv);
  }
  return {};
}

Result<void> AmdNtb::mw_clear_trans(unsigned widx) {
  if (widx >= part_->mw_count)
    return fail(Errc::kInvalidArgument, "%s: memory window %u does not exist", name_.c_str(), widx);
  switch (mw_[widx].bar) {
    case 1:
      r_.write(Regs::peer_bar1_lmt, 0);
      r_.write(Regs::peer_bar1_xlat, 0);
      break;
    case 2:
      r_.write(Regs::peer_bar23_lmt, 0);
      r_.write(Regs::peer_bar23_xlat, 0);
      break;
    default:
      r_.write(Regs::peer_bar45_lmt, 0);
      r_.write(Regs::peer_bar45_xlat, 0);
      break;
  }
  return {};
}

// ---- scratchpads ------------------------------------------------------------------------------------

Result<void> AmdNtb::check_index(unsigned idx, unsigned count, const char* what) const {
  if (idx >= count)
    return fail(Errc::kInvalidArgument, "%s: %s %u does not exist (0..%u)", name_.c_str(), what, idx, count - 1);
  return {};
}

Result<uint32_t> AmdNtb::spad_read(unsigned sidx) {
  if (auto ok = check_index(sidx, kSpadsPerSide, "scratchpad"); !ok) return tl::unexpected(ok.error());
  return r_.read(Regs::spad, self_spad_ + sidx);
}
Result<void> AmdNtb::spad_write(unsigned sidx, uint32_t v) {
  if (auto ok = check_index(sidx, kSpadsPerSide, "scratchpad"); !ok) return ok;
  r_.write(Regs::spad, self_spad_ + sidx, v);
  return {};
}
Result<uint32_t> AmdNtb::peer_spad_read(unsigned sidx) {
  if (auto ok = check_index(sidx, kSpadsPerSide, "peer scratchpad"); !ok) return tl::unexpected(ok.error());
  return r_.read(Regs::spad, peer_spad_ + sidx);
}
Result<void> AmdNtb::peer_spad_write(unsigned sidx, uint32_t v) {
  if (auto ok = check_index(sidx, kSpadsPerSide, "peer scratchpad"); !ok) return ok;
  r_.write(Regs::spad, peer_spad_ + sidx, v);
  return {};
}

// ---- doorbells --------------------------------------------------------------------------------------

void AmdNtb::write_dbmask() noexcept { r_.write(Regs::dbmask, static_cast<uint16_t>(db_mask_)); }

uint64_t AmdNtb::db_read() noexcept {
  const uint16_t v = r_.read(Regs::dbstat);
  // Orders the status read before reads of what the ring announces: pairs with the wc_flush()
  // in the peer's peer_db_set().
  from_peer_barrier();
  return v & kDbValidMask;
}

bool AmdNtb::goodbye_pending() noexcept { return (r_.read(Regs::dbstat) & kDbGoodbye) != 0; }
void AmdNtb::goodbye_clear() noexcept { r_.write(Regs::dbstat, kDbGoodbye); }

Result<void> AmdNtb::db_clear(uint64_t bits) {
  if ((bits & ~uint64_t{kDbValidMask}) != 0)
    return fail(Errc::kInvalidArgument, "%s: db_clear(0x%" PRIx64 "): valid doorbell bits are 0x%x", name_.c_str(),
                bits, kDbValidMask);
  r_.write(Regs::dbstat, static_cast<uint16_t>(bits));
  return {};
}

Result<void> AmdNtb::db_set_mask(uint64_t bits) {
  if ((bits & ~uint64_t{kDbValidMask}) != 0)
    return fail(Errc::kInvalidArgument, "%s: db_set_mask(0x%" PRIx64 "): valid doorbell bits are 0x%x", name_.c_str(),
                bits, kDbValidMask);
  db_mask_ |= bits;
  write_dbmask();
  return {};
}

Result<void> AmdNtb::db_clear_mask(uint64_t bits) {
  if ((bits & ~uint64_t{kDbValidMask}) != 0)
    return fail(Errc::kInvalidArgument, "%s: db_clear_mask(0x%" PRIx64 "): valid doorbell bits are 0x%x",
                name_.c_str(), bits, kDbValidMask);
  db_mask_ &= ~bits;
  write_dbmask();
  return {};
}

Result<void> AmdNtb::peer_db_set(uint64_t bits) {
  if ((bits & ~uint64_t{kDbValidMask}) != 0)
    return fail(Errc::kInvalidArgument, "%s: peer_db_set(0x%" PRIx64 "): valid doorbell bits are 0x%x (bit 15 is the "
                "goodbye bit)", name_.c_str(), bits, kDbValidMask);
  // Drains write-combining buffers and orders earlier stores before the ring: pairs with the
  // from_peer_barrier() in the peer's db_read().
  wc_flush();
  r_.write(Regs::dbreq, static_cast<uint16_t>(bits));
  return {};
}

void AmdNtb::ring_goodbye() noexcept {
  wc_flush();
  r_.write(Regs::dbreq, kDbGoodbye);
}

// ---- link -------------------------------------------------------------------------------------------

Result<PcieLink> AmdNtb::link_status() {
  const char* nm = name_.c_str();
  // Walk the capability list for the PCI Express capability.
  auto ptr = link_cfg_->read8(0x34);
  if (!ptr) return tl::unexpected(with_context(ptr.error(), name_ + ": read the capability pointer (config 0x34)"));
  uint8_t at = *ptr & 0xfc;
  for (unsigned hops = 0; at != 0 && hops < 48; ++hops) {
    auto hdr = link_cfg_->read16(at);
    if (!hdr) return tl::unexpected(with_context(hdr.error(), name_ + ": read a capability header"));
    if ((*hdr & 0xff) == kPcieCapId) {
      auto v = link_cfg_->read32(at + kPcieLnkCtl);
      if (!v) return tl::unexpected(with_context(v.error(), name_ + ": read Link Control/Status"));
      return decode_lnksta(static_cast<uint16_t>(*v >> 16));
    }
    at = static_cast<uint8_t>((*hdr >> 8) & 0xfc);
  }
  return fail(Errc::kNotSupported,
              "%s (%s, %s side): the device that reports the NTB link has no PCI Express capability: on the secondary "
              "side pass the config space of the switch upstream port above the NTB's upstream bridge",
              nm, part_->name, to_string(side_));
}

void AmdNtb::shutdown() noexcept {
  clear_ready();
  ring_goodbye();
}

}  // namespace pbx::ntb::amd
