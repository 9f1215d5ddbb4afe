#include "pbx/ntb/intel/intel_ntb.h"

#include <bit>
#include <cinttypes>
#include <cstdio>

#include "pbx/base/barrier.h"

namespace pbx::ntb::intel {
namespace {
constexpr uint64_t kPage = 4096;
}  // namespace

std::string format_size(uint64_t b) {
  static constexpr const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
  unsigned u = 0;
  uint64_t v = b;
  while (u + 1 < std::size(kUnits) && v >= 1024 && v % 1024 == 0) {
    v /= 1024;
    ++u;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "%" PRIu64 " %s", v, kUnits[u]);
  return buf;
}

// ------------------------------------------------------------------------------------------
// attach

Result<IntelNtb> IntelNtb::attach(const AttachParams& p) {
  const char* nm = p.name.c_str();
  if (p.cfg == nullptr) return fail(Errc::kInvalidArgument, "%s: attach: no config space given", nm);

  auto vendor = p.cfg->read16(pci::kVendorId);
  auto device = p.cfg->read16(pci::kDeviceId);
  auto rev = p.cfg->read8(pci::kRevision);
  if (!vendor || !device || !rev)
    return tl::unexpected(with_context(!vendor ? vendor.error() : !device ? device.error() : rev.error(),
                                       p.name + ": read PCI IDs from config space"));
  auto part = identify(*vendor, *device, *rev, p.name);
  if (!part) return tl::unexpected(part.error());

  IntelNtb ntb;
  ntb.name_ = p.name;
  ntb.part_ = *part;
  ntb.cfg_ = p.cfg;
  const char* code = ntb.part_->code;

  // Register file: mapped BAR0, or a model in tests.
  if (p.bar0_model != nullptr) {
    ntb.r3_ = RegWindow<gen3::Regs>::over_model(*p.bar0_model);
    ntb.r4_ = RegWindow<gen4::Regs>::over_model(*p.bar0_model);
  } else {
    const std::string what = p.name + " BAR0";
    auto w3 = RegWindow<gen3::Regs>::over(p.bar0, what);
    if (!w3) return tl::unexpected(w3.error());
    auto w4 = RegWindow<gen4::Regs>::over(p.bar0, what);
    if (!w4) return tl::unexpected(w4.error());
    ntb.r3_ = *w3;
    ntb.r4_ = *w4;
  }

  // The NTB must decode memory (BAR0, windows) and master the bus (it writes the peer's data
  // into this host's memory).
  auto cmd = p.cfg->read16(pci::kCommand);
  if (!cmd) return tl::unexpected(with_context(cmd.error(), p.name + ": read COMMAND"));
  constexpr uint16_t kNeed = pci::kCommandMemory | pci::kCommandMaster;
  if ((*cmd & kNeed) != kNeed)
    return fail(Errc::kInvalidArgument,
                "%s (%s): COMMAND (config 0x04) = 0x%04x: memory decoding and bus mastering must both be on "
                "before the NTB is programmed; enable them through VFIO (VfioDevice::enable_bus_master) first",
                nm, code, *cmd);

  // Topology.
  uint32_t ppd;
  if (ntb.gen3()) {
    auto v = p.cfg->read8(gen3::kCfgPpd);
    if (!v) return tl::unexpected(with_context(v.error(), p.name + ": read PPD (config 0xd4)"));
    ppd = *v;
  } else {
    ppd = ntb.r4_.read(gen4::Regs::ppd1);
  }
  ntb.topo_ = decode_ppd(ntb.part_->ppd, ppd);
  if (auto side = check_topology(*ntb.part_, ntb.topo_, p.name); !side) return tl::unexpected(side.error());

  // Windows: BAR2 and BAR4, 64-bit memory BARs whose address is in config space.
  for (unsigned i = 0; i < kMwCount; ++i) {
    MwInfo& mw = ntb.mw_[i];
    mw.bar = kMwBar[i];
    mw.size = p.mw_size[i];
    if (mw.size < kPage || !std::has_single_bit(mw.size))
      return fail(Errc::kInvalidArgument,
                  "%s (%s): BAR%u is %s: a memory window must be a power of two of at least 4 KiB; check BIOS %s "
                  "and 'Enable NTB BARs' = Enabled",
                  nm, code, mw.bar, format_size(mw.size).c_str(), ntb.part_->bar_size_setting);
    auto lo = p.cfg->read32(pci::kBar0 + 4 * mw.bar);
    auto hi = p.cfg->read32(pci::kBar0 + 4 * (mw.bar + 1));
    if (!lo || !hi) return tl::unexpected(with_context(!lo ? lo.error() : hi.error(), p.name + ": read BAR address"));
    if ((*lo & pci::kBarIo) != 0 || (*lo & pci::kBarTypeMask) != pci::kBarType64)
      return fail(Errc::kNotSupported,
                  "%s (%s): BAR%u (config 0x%02x = 0x%08x) is not a 64-bit memory BAR: the window BARs of a "
                  "back-to-back NTB are; check BIOS 'Enable SPLIT BARs' = Disabled",
                  nm, code, mw.bar, pci::kBar0 + 4 * mw.bar, *lo);
    mw.bus_addr = ((uint64_t{*hi} << 32) | *lo) & pci::kBarAddrMask;
    mw.addr_align = ntb.part_->mw_addr_align_bar_size ? mw.size : kPage;
  }

  if (auto ok = ntb.init_b2b(); !ok) return tl::unexpected(ok.error());
  return ntb;
}

Result<void> IntelNtb::init_b2b() {
  if (gen3()) {
    // Incoming windows: limit == base (zero length) until translations are programmed.
    r3_.write(gen3::Regs::imbar_xlmt, 0, kB2bBar2Addr);
    r3_.write(gen3::Regs::imbar_xlmt, 1, kB2bBar4Addr);
    r3_.write(gen3::Regs::imbar_xbase, 0, 0);
    r3_.write(gen3::Regs::imbar_xbase, 1, 0);
    // Let the secondary (link) side decode memory and master the bus.
    r3_.write(gen3::Regs::spcicmd, pci::kCommandMemory | pci::kCommandMaster);
    db_mask_ = kDbValidMask;
    r3_.write(gen3::Regs::im_int_disable, db_mask_);
    // MSI-X vectors are 1..32,0 at reset; line them up with the status bits: source i -> vector i.
    for (unsigned i = 0; i < kMsixVectorCount; ++i) r3_.write(gen3::Regs::intvec, i, static_cast<uint8_t>(i));
    // SKX erratum (Linux NTB_HWERR_MSIX_VECTOR32_BAD): vector 32 does not fire; the link event
    // shares vector 31 with doorbell 31.
    r3_.write(gen3::Regs::intvec, kDbLinkBit, static_cast<uint8_t>(kDbLinkBit - 1));
  } else {
    r4_.write(gen4::Regs::im_xlmt, 0, kB2bBar2Addr);
    r4_.write(gen4::Regs::im_xlmt, 1, kB2bBar4Addr);
    r4_.write(gen4::Regs::im_xbase, 0, 0);
    r4_.write(gen4::Regs::im_xbase, 1, 0);
    db_mask_ = kDbValidMask;
    r4_.write(gen4::Regs::im_int_disable, db_mask_);
    // The link stays down until link_enable().
    r4_.write(gen4::Regs::link_ctrl, static_cast<uint16_t>(r4_.read(gen4::Regs::link_ctrl) | gen4::kLinkCtrlDisable));
    for (unsigned i = 0; i < kMsixVectorCount; ++i) r4_.write(gen4::Regs::intvec, i, static_cast<uint8_t>(i));
  }
  // The B2B limits are not read back: the addresses are above the physical-address width of some
  // parts, which then drop the top bits (Linux only logs them too).
  return {};
}

// ------------------------------------------------------------------------------------------
// link

Result<void> IntelNtb::link_enable() {
  const char* nm = name_.c_str();
  if (gen3()) {
    uint32_t ctl = r3_.read(gen3::Regs::ntbcntl);
    ctl &= ~(gen3::kCtlDisable | gen3::kCtlCfgLock);
    ctl |= gen3::kCtlSnoopAll;
    r3_.write(gen3::Regs::ntbcntl, ctl);
    const uint32_t back = r3_.read(gen3::Regs::ntbcntl);
    if ((back & (gen3::kCtlDisable | gen3::kCtlCfgLock)) != 0)
      return fail(Errc::kIoError,
                  "%s (%s): NTBCNTL (BAR0+0x0) reads 0x%08x after clearing DISABLE and CFG_LOCK: the link cannot "
                  "be enabled; the port may be locked by firmware: check BIOS 'Enable NTB BARs' = Enabled and that "
                  "no other driver (ntb_hw_intel) owns the device",
                  nm, part_->code, back);
    return {};
  }
  if (part_->program_ltr) {
    // Latency tolerance: active 0 us, idle 600 us (snoop and non-snoop); select "active".
    r4_.write(gen4::Regs::ltr_active, gen4::kLtrActive);
    r4_.write(gen4::Regs::ltr_idle, gen4::kLtrIdle);
    r4_.write(gen4::Regs::ltr_swsel, gen4::kLtrSwselActive);
  }
  r4_.write(gen4::Regs::ntbcntl, gen4::kCtlSnoopAll);
  r4_.write(gen4::Regs::link_ctrl, static_cast<uint16_t>(r4_.read(gen4::Regs::link_ctrl) & ~gen4::kLinkCtrlDisable));
  const bool dmr = part_->ppd0_offset == gen4::Regs::ppd0_dmr.offset;
  auto read_ppd0 = [&] { return dmr ? r4_.read(gen4::Regs::ppd0_dmr) : r4_.read(gen4::Regs::ppd0); };
  const uint32_t ppd0 = read_ppd0() | gen4::kPpdLinkTrn;
  if (dmr)
    r4_.write(gen4::Regs::ppd0_dmr, ppd0);
  else
    r4_.write(gen4::Regs::ppd0, ppd0);
  const uint32_t back = read_ppd0();
  if ((back & gen4::kPpdLinkTrn) == 0)
    return fail(Errc::kIoError,
                "%s (%s): PPD0 (BAR0+0x%x) reads 0x%08x after setting LINKTRN (0x8): the link is not training; "
                "check the cable and retimer card, BIOS 'PCIe PLL SSC' = Disabled%s",
                nm, part_->code, part_->ppd0_offset, back,
                part_->part == Part::kSpr ? " and 'Port Subsystem Mode' = Gen4 Only" : "");
  return {};
}

Result<void> IntelNtb::link_disable() {
  if (gen3()) {
    uint32_t ctl = r3_.read(gen3::Regs::ntbcntl);
    ctl &= ~gen3::kCtlSnoopAll;
    ctl |= gen3::kCtlDisable | gen3::kCtlCfgLock;
    r3_.write(gen3::Regs::ntbcntl, ctl);
    return {};
  }
  r4_.write(gen4::Regs::ntbcntl, r4_.read(gen4::Regs::ntbcntl) & ~gen4::kCtlSnoopAll);
  r4_.write(gen4::Regs::link_ctrl, static_cast<uint16_t>(r4_.read(gen4::Regs::link_ctrl) | gen4::kLinkCtrlDisable));
  if (part_->program_ltr) r4_.write(gen4::Regs::ltr_swsel, gen4::kLtrSwselIdle);
  return {};
}

Result<PcieLink> IntelNtb::poll_link() {
  if (gen3()) {
    r3_.write(gen3::Regs::im_int_status, kDbLinkMask);  // acknowledge the link event
    auto sta = cfg_->read16(gen3::kCfgLinkStatus);
    if (!sta) return tl::unexpected(with_context(sta.error(), name_ + ": read link status (config 0x1a2)"));
    return decode_lnksta(*sta);
  }
  // DLLSCS must be cleared before the link doorbell bit can be (ICX).
  r4_.write(gen4::Regs::slotsts, gen4::kSlotStsDllscs);
  r4_.write(gen4::Regs::im_int_status, kDbLinkMask);
  return decode_lnksta(r4_.read(gen4::Regs::link_status));
}

// ------------------------------------------------------------------------------------------
// memory windows

Result<void> IntelNtb::check_mw(unsigned widx, uint64_t addr, uint64_t size) const {
  const char* nm = name_.c_str();
  if (widx >= kMwCount)
    return fail(Errc::kInvalidArgument, "%s: memory window %u does not exist (windows 0 = BAR2, 1 = BAR4)", nm, widx);
  const MwInfo& mw = mw_[widx];
  if (size == 0 || size > mw.size || size % kPage != 0)
    return fail(Errc::kInvalidArgument,
                "%s (%s): memory window %u (BAR%u, %s): size %s is invalid: use a multiple of 4 KiB up to the BAR "
                "size (BIOS %s sets the BAR size)",
                nm, part_->code, widx, mw.bar, format_size(mw.size).c_str(), format_size(size).c_str(),
                part_->bar_size_setting);
  if (!gen3() && !std::has_single_bit(size))
    return fail(Errc::kInvalidArgument,
                "%s (%s): memory window %u (BAR%u): size %s is not a power of two: gen4 NTBs hold the window size "
                "as log2 in %s; round the buffer up to a power of two",
                nm, part_->code, widx, mw.bar, format_size(size).c_str(), gen4::kXbaseIdxName[widx]);
  if (addr % mw.addr_align != 0) {
    if (part_->mw_addr_align_bar_size)
      return fail(Errc::kInvalidArgument,
                  "%s (%s): memory window %u (BAR%u, %s): translation address 0x%" PRIx64
                  " is not aligned to the BAR size: %s NTBs translate only addresses aligned to the whole BAR; "
                  "place the inbound buffer at an IOVA aligned to %s, or make the BAR smaller with BIOS %s",
                  nm, part_->code, widx, mw.bar, format_size(mw.size).c_str(), addr, part_->name,
                  format_size(mw.addr_align).c_str(), part_->bar_size_setting);
    return fail(Errc::kInvalidArgument,
                "%s (%s): memory window %u (BAR%u): translation address 0x%" PRIx64
                " is not aligned to a 4 KiB page; place the inbound buffer at a page-aligned IOVA",
                nm, part_->code, widx, mw.bar, addr);
  }
  return {};
}

Result<void> IntelNtb::mw_set_trans(unsigned widx, uint64_t addr, uint64_t size) {
  if (auto ok = check_mw(widx, addr, size); !ok) return ok;
  return mw_program(widx, addr, size);
}

Result<void> IntelNtb::mw_program(unsigned widx, uint64_t addr, uint64_t size) {
  const MwInfo& mw = mw_[widx];
  const uint64_t limit = mw.bus_addr + size;
  const char* nm = name_.c_str();
  auto mismatch = [&](const char* reg, std::size_t off, uint64_t wrote, uint64_t read) {
    return fail(Errc::kIoError,
                "%s (%s): %s (BAR0+0x%zx) reads back 0x%" PRIx64 " after writing 0x%" PRIx64
                ": the NTB did not accept memory window %u (BAR%u); check that the address fits the platform's "
                "address width and that BIOS 'Enable NTB BARs' = Enabled; the window was left closed",
                nm, part_->code, reg, off, read, wrote, widx, mw.bar);
  };
  if (gen3()) {
    using R = gen3::Regs;
    auto close = [&] {
      r3_.write(R::imbar_xlmt, widx, mw.bus_addr);
      r3_.write(R::imbar_xbase, widx, 0);
    };
    r3_.write(R::imbar_xbase, widx, addr);
    if (const uint64_t v = r3_.read(R::imbar_xbase, widx); v != addr) {
      r3_.write(R::imbar_xbase, widx, 0);
      return mismatch(gen3::kXbaseName[widx], R::imbar_xbase.offset_of(widx), addr, v);
    }
    r3_.write(R::imbar_xlmt, widx, limit);
    if (const uint64_t v = r3_.read(R::imbar_xlmt, widx); v != limit) {
      close();
      return mismatch(gen3::kXlmtName[widx], R::imbar_xlmt.offset_of(widx), limit, v);
    }
    // The external (link-side) limit: the secondary BAR base as the peer enumerated it, plus size.
    const uint64_t em_base = r3_.read(R::embar, widx) & pci::kBarAddrMask;
    const uint64_t em_limit = em_base + size;
    r3_.write(R::embar_xlmt, widx, em_limit);
    if (const uint64_t v = r3_.read(R::embar_xlmt, widx); v != em_limit) {
      r3_.write(R::embar_xlmt, widx, em_base);
      close();
      return mismatch(gen3::kEmXlmtName[widx], R::embar_xlmt.offset_of(widx), em_limit, v);
    }
    return {};
  }
  using R = gen4::Regs;
  auto close = [&] {
    r4_.write(R::im_xlmt, widx, mw.bus_addr);
    r4_.write(R::im_xbase, widx, 0);
  };
  r4_.write(R::im_xbase, widx, addr);
  if (const uint64_t v = r4_.read(R::im_xbase, widx); v != addr) {
    r4_.write(R::im_xbase, widx, 0);
    return mismatch(gen4::kXbaseName[widx], R::im_xbase.offset_of(widx), addr, v);
  }
  r4_.write(R::im_xlmt, widx, limit);
  if (const uint64_t v = r4_.read(R::im_xlmt, widx); v != limit) {
    close();
    return mismatch(gen4::kXlmtName[widx], R::im_xlmt.offset_of(widx), limit, v);
  }
  const auto idx = static_cast<uint16_t>(std::countr_zero(size));  // log2: size is a power of two
  r4_.write(R::im_xbase_idx, widx, idx);
  if (const uint16_t v = r4_.read(R::im_xbase_idx, widx); v != idx) {
    r4_.write(R::im_xbase_idx, widx, 0);
    close();
    return mismatch(gen4::kXbaseIdxName[widx], R::im_xbase_idx.offset_of(widx), idx, v);
  }
  return {};
}

Result<void> IntelNtb::mw_clear_trans(unsigned widx) {
  if (widx >= kMwCount)
    return fail(Errc::kInvalidArgument, "%s: memory window %u does not exist (windows 0 = BAR2, 1 = BAR4)",
                name_.c_str(), widx);
  const MwInfo& mw = mw_[widx];
  if (gen3()) {
    const uint64_t em_base = r3_.read(gen3::Regs::embar, widx) & pci::kBarAddrMask;
    r3_.write(gen3::Regs::embar_xlmt, widx, em_base);
    r3_.write(gen3::Regs::imbar_xlmt, widx, mw.bus_addr);
    r3_.write(gen3::Regs::imbar_xbase, widx, 0);
  } else {
    r4_.write(gen4::Regs::im_xlmt, widx, mw.bus_addr);
    r4_.write(gen4::Regs::im_xbase, widx, 0);
    r4_.write(gen4::Regs::im_xbase_idx, widx, 0);
  }
  return {};
}

// ------------------------------------------------------------------------------------------
// scratchpads

Result<void> IntelNtb::check_index(unsigned idx, unsigned count, const char* what) const {
  if (idx >= count)
    return fail(Errc::kInvalidArgument, "%s: %s %u does not exist (0..%u)", name_.c_str(), what, idx, count - 1);
  return {};
}

Result<uint32_t> IntelNtb::spad_read(unsigned sidx) {
  if (auto ok = check_index(sidx, kSpadCount, "scratchpad"); !ok) return tl::unexpected(ok.error());
  return gen3() ? r3_.read(gen3::Regs::im_spad, sidx) : r4_.read(gen4::Regs::im_spad, sidx);
}

Result<void> IntelNtb::spad_write(unsigned sidx, uint32_t v) {
  if (auto ok = check_index(sidx, kSpadCount, "scratchpad"); !ok) return ok;
  if (gen3())
    r3_.write(gen3::Regs::im_spad, sidx, v);
  else
    r4_.write(gen4::Regs::im_spad, sidx, v);
  return {};
}

Result<uint32_t> IntelNtb::peer_spad_read(unsigned sidx) {
  if (auto ok = check_index(sidx, kSpadCount, "peer scratchpad"); !ok) return tl::unexpected(ok.error());
  return gen3() ? r3_.read(gen3::Regs::b2b_spad, sidx) : r4_.read(gen4::Regs::em_spad, sidx);
}

Result<void> IntelNtb::peer_spad_write(unsigned sidx, uint32_t v) {
  if (auto ok = check_index(sidx, kSpadCount, "peer scratchpad"); !ok) return ok;
  if (gen3())
    r3_.write(gen3::Regs::b2b_spad, sidx, v);
  else
    r4_.write(gen4::Regs::em_spad, sidx, v);
  return {};
}

// ------------------------------------------------------------------------------------------
// doorbells

uint64_t IntelNtb::db_read() noexcept { return db_status() & kDbValidMask; }

uint64_t IntelNtb::db_status() noexcept {
  const uint64_t bits = gen3() ? r3_.read(gen3::Regs::im_int_status) : r4_.read(gen4::Regs::im_int_status);
  // Orders the status read before the reads of what the ring announces (scratchpads, inbound
  // memory): pairs with the wc_flush() in the peer's peer_db_set().
  from_peer_barrier();
  return bits;
}

Result<void> IntelNtb::set_intvec(unsigned source, uint8_t vector) {
  if (source >= kMsixVectorCount || vector >= kMsixVectorCount)
    return fail(Errc::kInvalidArgument, "%s: set_intvec(%u, %u): sources and vectors are 0..%u", name_.c_str(), source,
                vector, kMsixVectorCount - 1);
  if (gen3())
    r3_.write(gen3::Regs::intvec, source, vector);
  else
    r4_.write(gen4::Regs::intvec, source, vector);
  return {};
}

Result<void> IntelNtb::db_clear(uint64_t bits) {
  if ((bits & ~kDbValidMask) != 0)
    return fail(Errc::kInvalidArgument, "%s: db_clear(0x%" PRIx64 "): valid doorbell bits are 0x%" PRIx64,
                name_.c_str(), bits, kDbValidMask);
  if (gen3())
    r3_.write(gen3::Regs::im_int_status, bits);
  else
    r4_.write(gen4::Regs::im_int_status, bits);
  return {};
}

Result<void> IntelNtb::db_set_mask(uint64_t bits) {
  if ((bits & ~kDbValidMask) != 0)
    return fail(Errc::kInvalidArgument, "%s: db_set_mask(0x%" PRIx64 "): valid doorbell bits are 0x%" PRIx64,
                name_.c_str(), bits, kDbValidMask);
  db_mask_ |= bits;
  if (gen3())
    r3_.write(gen3::Regs::im_int_disable, db_mask_);
  else
    r4_.write(gen4::Regs::im_int_disable, db_mask_);
  return {};
}

Result<void> IntelNtb::db_clear_mask(uint64_t bits) {
  if ((bits & ~kDbValidMask) != 0)
    return fail(Errc::kInvalidArgument, "%s: db_clear_mask(0x%" PRIx64 "): valid doorbell bits are 0x%" PRIx64,
                name_.c_str(), bits, kDbValidMask);
  db_mask_ &= ~bits;
  if (gen3())
    r3_.write(gen3::Regs::im_int_disable, db_mask_);
  else
    r4_.write(gen4::Regs::im_int_disable, db_mask_);
  return {};
}

Result<void> IntelNtb::peer_db_set(uint64_t bits) {
  if ((bits & ~kDbValidMask) != 0)
    return fail(Errc::kInvalidArgument, "%s: peer_db_set(0x%" PRIx64 "): valid doorbell bits are 0x%" PRIx64,
                name_.c_str(), bits, kDbValidMask);
  // Drains write-combining buffers and orders every earlier store (scratchpads, window data)
  // before the ring: pairs with the from_peer_barrier() in the peer's db_read().
  wc_flush();
  for (uint64_t b = bits; b != 0; b &= b - 1) {
    const auto bit = static_cast<unsigned>(std::countr_zero(b));
    if (gen3())
      r3_.write(gen3::Regs::im_doorbell, bit, 1u);
    else
      r4_.write(gen4::Regs::im_doorbell, bit, 1u);
  }
  return {};
}

}  // namespace pbx::ntb::intel
