// SwitchtecNtb: attach (identity, topology, plans, our own windows) and the memory windows.
// Requester IDs, doorbells, messages and link speed are in switchtec_signals.cpp.
#include "pbx/ntb/switchtec/switchtec_ntb.h"

#include <bit>
#include <cinttypes>
#include <cstdio>

namespace pbx::ntb::switchtec {
namespace {

std::string size_str(uint64_t b) {
  static constexpr const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  unsigned u = 0;
  while (u + 1 < std::size(kUnits) && b >= 1024 && b % 1024 == 0) {
    b /= 1024;
    ++u;
  }
  return std::to_string(b) + " " + kUnits[u];
}

// The first BAR whose control entry is VALID: where the LUT windows live (ntb_hw_switchtec.c
// map_bars / direct_mw_to_bar[0]).
std::optional<unsigned> first_valid_bar(const RegWindow<CtrlRegs>& c) {
  for (unsigned b = 0; b < kBarEntries; ++b)
    if ((c.read(CtrlRegs::bar_ctl, b) & kBarValid) != 0) return b;
  return std::nullopt;
}

}  // namespace

Result<SwitchtecNtb> SwitchtecNtb::attach(const AttachParams& p) {
  const char* nm = p.name.c_str();
  if (p.cfg == nullptr || p.clock == nullptr || p.pacer == nullptr)
    return fail(Errc::kInvalidArgument, "%s: attach: config space, clock and pacer are required", nm);
  auto vendor = p.cfg->read16(pci::kVendorId);
  auto device = p.cfg->read16(pci::kDeviceId);
  auto class_rev = p.cfg->read32(pci::kRevision);
  auto cmd = p.cfg->read16(pci::kCommand);
  if (!vendor || !device || !class_rev || !cmd)
    return tl::unexpected(with_context(!vendor ? vendor.error() : !device ? device.error() : !class_rev ? class_rev.error()
                                                                                                      : cmd.error(),
                                       p.name + ": read PCI IDs from config space"));
  const uint32_t class_code = *class_rev >> 8;
  if (!is_nt_endpoint(*vendor, class_code))
    return fail(Errc::kNotSupported,
                "%s [%04x:%04x] class %06x is not a Switchtec NT endpoint (vendor 11f8 or 1055, class 068000)%s", nm,
                *vendor, *device, class_code,
                class_code == kClassManagement ? ": this is the switch's management endpoint; use the NT endpoint "
                                                 "function of the same switch (pbx-probe lists it)"
                                               : "");
  constexpr uint16_t kNeed = pci::kCommandMemory | pci::kCommandMaster;
  if ((*cmd & kNeed) != kNeed)
    return fail(Errc::kInvalidArgument,
                "%s: COMMAND (config 0x04) = 0x%04x: memory decoding and bus mastering must both be on before the NT "
                "endpoint is programmed; enable them through VFIO (VfioDevice::enable_bus_master) first",
                nm, *cmd);
  if (p.lut_size < 4096 || !std::has_single_bit(p.lut_size))
    return fail(Errc::kInvalidArgument, "%s: LUT window size %" PRIu64 " is not a power of two of at least 4 KiB", nm,
                p.lut_size);

  SwitchtecNtb s;
  s.name_ = p.name;
  s.part_name_ = describe(*vendor, *device);
  s.clock_ = p.clock;
  s.pacer_ = p.pacer;
  s.timing_ = p.timing;
  s.lut_size_ = p.lut_size;
  if (p.gas_model != nullptr) {
    s.gas_ = GasView::over_model(*p.gas_model, p.name);
  } else {
    auto g = GasView::over(p.gas, p.name);
    if (!g) return tl::unexpected(g.error());
    s.gas_ = std::move(*g);
  }
  s.info_ = read_info(s.gas_);
  auto topo = decode_topology(s.info_, p.name);
  if (!topo) return tl::unexpected(topo.error());
  s.topo_ = std::move(*topo);
  if (s.topo_.crosslink)
    return fail(Errc::kNotSupported,
                "%s (%s): partition %u reaches its peers through a crosslink partition (two switches back to back, "
                "ntp_info xlink_enabled): this driver does not enumerate the virtual crosslink partition yet; configure "
                "the switches without crosslink, or use Linux's ntb_hw_switchtec for this pair",
                nm, s.part_name_.c_str(), s.topo_.self);
  if (!p.kernel_release.empty()) s.alias_ = check_alias_quirk(*vendor, *device, p.kernel_release);
  s.db_ = plan_doorbells(s.topo_.ep_map, s.topo_.partition_count);
  s.msg_ = plan_messages(s.topo_.peers);
  auto lut = s.plan_for(s.topo_.self);
  if (!lut) return tl::unexpected(lut.error());
  s.lut_ = std::move(*lut);
  if (auto ok = s.init_own_windows(p.bar_size); !ok) return tl::unexpected(ok.error());
  s.init_doorbells_and_messages();
  return s;
}

Result<void> SwitchtecNtb::init_own_windows(const std::array<uint64_t, kBarEntries>& bar_size) {
  const char* nm = name_.c_str();
  const auto c = gas_.ctrl(topo_.self);
  const auto lut_bar = first_valid_bar(c);
  if (!lut_bar)
    return fail(Errc::kNotSupported,
                "%s: partition %u's control block (GAS 0x%zx) has no valid BAR entry: the NT endpoint has no window "
                "BARs; enable NT BARs (BAR2/BAR4) for partition %u in the switch configuration",
                nm, topo_.self, ctrl_offset(topo_.self), topo_.self);
  lut_bar_ = *lut_bar;
  const uint64_t lut_bytes = uint64_t{lut_.entries} * lut_size_;
  for (unsigned b = lut_bar_; b < kBarEntries; ++b) {
    if ((c.read(CtrlRegs::bar_ctl, b) & kBarValid) == 0) continue;
    const uint64_t len = bar_size[b];
    if (len == 0)
      return fail(Errc::kInvalidArgument,
                  "%s: BAR%u is valid in partition %u's control block but its size was not given (VFIO region size)",
                  nm, b, topo_.self);
    if (b == lut_bar_) {
      if (lut_bytes > len)
        return fail(Errc::kNotSupported,
                    "%s: BAR%u is %s, too small for partition %u's %u LUT windows of %s (%s): lower 'Maximum Number of "
                    "NT Lut Entries' or enlarge BAR%u in the switch configuration (LUT Window Exceeds BAR Size, "
                    "Microsemi/switchtec-kernel#109)",
                    nm, b, size_str(len).c_str(), topo_.self, lut_.entries, size_str(lut_size_).c_str(),
                    size_str(lut_bytes).c_str(), b);
      // The direct window of the LUT BAR starts after the LUT windows and is at most as large
      // as they are (ntb_hw_switchtec.c switchtec_ntb_direct_get_addr).
      const uint64_t rest = std::min(len - lut_bytes, lut_bytes);
      if (rest >= 4096) direct_.push_back(DirectWindow{b, lut_bytes, std::bit_floor(rest)});
    } else {
      direct_.push_back(DirectWindow{b, 0, std::bit_floor(len)});
    }
  }
  return {};
}

Result<void> SwitchtecNtb::check_pidx(unsigned pidx, const char* op) const {
  if (pidx >= topo_.peers.size())
    return fail(Errc::kInvalidArgument, "%s: %s: peer %u does not exist (partition %u has %zu peers: partitions %s)",
                name_.c_str(), op, pidx, topo_.self, topo_.peers.size(),
                partition_list([&] {
                  uint64_t m = 0;
                  for (uint8_t q : topo_.peers) m |= uint64_t{1} << q;
                  return m;
                }()).c_str());
  return {};
}

Result<LutPlan> SwitchtecNtb::plan_for(unsigned partition) const {
  const uint16_t entries = gas_.ctrl(partition).read(CtrlRegs::lut_table_entries);
  return plan_luts(info_, static_cast<uint8_t>(partition), entries, name_);
}

Result<OutboundWindow> SwitchtecNtb::peer_window(unsigned pidx) const {
  if (auto ok = check_pidx(pidx, "peer_window"); !ok) return tl::unexpected(ok.error());
  const auto first = lut_.first_entry_of(topo_.peers[pidx]);
  if (!first)  // unreachable: our peers are the peers of our block
    return fail(Errc::kInvalidArgument, "%s: partition %u owns no LUT range of ours", name_.c_str(), topo_.peers[pidx]);
  OutboundWindow w;
  w.bar = lut_bar_;
  w.first_entry = *first;
  w.entries = lut_.per_peer;
  w.offset = uint64_t{*first} * lut_size_;
  w.size = uint64_t{lut_.per_peer} * lut_size_;
  return w;
}

Result<uint64_t> SwitchtecNtb::inbound_capacity(unsigned pidx) const {
  if (auto ok = check_pidx(pidx, "inbound_capacity"); !ok) return tl::unexpected(ok.error());
  auto plan = plan_for(topo_.peers[pidx]);
  if (!plan) return tl::unexpected(plan.error());
  if (!plan->first_entry_of(topo_.self))
    return fail(Errc::kNotSupported,
                "%s: partition %u does not list partition %u among its NT targets (targets: %s): it cannot reach us; "
                "add partition %u to its targets in the switch configuration",
                name_.c_str(), topo_.peers[pidx], topo_.self,
                partition_list(info_.targets[topo_.peers[pidx]]).c_str(), topo_.self);
  return uint64_t{plan->per_peer} * lut_size_;
}

Result<void> SwitchtecNtb::inbound_set_trans(unsigned pidx, uint64_t iova, uint64_t size) {
  const char* nm = name_.c_str();
  auto cap = inbound_capacity(pidx);
  if (!cap) return tl::unexpected(cap.error());
  const uint8_t peer = topo_.peers[pidx];
  if (size == 0 || size % lut_size_ != 0 || size > *cap)
    return fail(Errc::kInvalidArgument,
                "%s: inbound window for partition %u: size %s is invalid: a multiple of the LUT window size (%s), at "
                "most the %s of LUT entries partition %u keeps for us",
                nm, peer, size_str(size).c_str(), size_str(lut_size_).c_str(), size_str(*cap).c_str(), peer);
  if (iova % lut_size_ != 0)
    return fail(Errc::kInvalidArgument,
                "%s: inbound window for partition %u: address 0x%" PRIx64 " is not aligned to the LUT window size (%s); "
                "place the buffer at an IOVA aligned to it",
                nm, peer, iova, size_str(lut_size_).c_str());
  auto plan = plan_for(peer);
  if (!plan) return tl::unexpected(plan.error());
  const unsigned first = *plan->first_entry_of(topo_.self);
  const unsigned used = static_cast<unsigned>(size / lut_size_);
  const auto c = gas_.ctrl(peer);
  const auto bar = first_valid_bar(c);
  if (!bar)
    return fail(Errc::kNotSupported,
                "%s: partition %u's control block has no valid BAR entry: its host cannot have LUT windows; enable NT "
                "BARs for partition %u in the switch configuration",
                nm, peer, peer);
  const uint32_t old_ctl = c.read(CtrlRegs::bar_ctl, *bar);
  const uint32_t new_ctl = lut_bar_ctl(old_ctl, lut_size_, plan->entries);
  std::vector<uint64_t> old(plan->per_peer), want(plan->per_peer, 0);
  for (unsigned j = 0; j < plan->per_peer; ++j) {
    old[j] = c.read(CtrlRegs::lut_entry, first + j);
    if (j < used) want[j] = kLutEn | uint64_t{topo_.self} << kLutPartitionShift | (iova + j * lut_size_);
  }
  char what[96];
  std::snprintf(what, sizeof what, "LUT entries %u..%u for partition %u", first, first + plan->per_peer - 1,
                topo_.self);
  auto ok = txn().run(
      peer, what,
      [&] {
        c.write(CtrlRegs::bar_ctl, *bar, new_ctl);
        for (unsigned j = 0; j < want.size(); ++j) c.write(CtrlRegs::lut_entry, first + j, want[j]);
      },
      [&] {
        c.write(CtrlRegs::bar_ctl, *bar, old_ctl);
        for (unsigned j = 0; j < old.size(); ++j) c.write(CtrlRegs::lut_entry, first + j, old[j]);
      });
  if (!ok) return ok;
  for (unsigned j = 0; j < want.size(); ++j)
    if (const uint64_t v = c.read(CtrlRegs::lut_entry, first + j); v != want[j])
      return fail(Errc::kIoError,
                  "%s: LUT entry %u of partition %u reads 0x%016" PRIx64 " after configure, not 0x%016" PRIx64
                  ": another host may have configured partition %u at the same time; retry",
                  nm, first + j, peer, v, want[j], peer);
  return {};
}

Result<void> SwitchtecNtb::inbound_clear_trans(unsigned pidx) {
  if (auto ok = check_pidx(pidx, "inbound_clear_trans"); !ok) return ok;
  const uint8_t peer = topo_.peers[pidx];
  auto plan = plan_for(peer);
  if (!plan) return tl::unexpected(plan.error());
  const auto first = plan->first_entry_of(topo_.self);
  if (!first) return {};  // it cannot reach us: nothing to clear
  const auto c = gas_.ctrl(peer);
  std::vector<uint64_t> old(plan->per_peer);
  for (unsigned j = 0; j < old.size(); ++j) old[j] = c.read(CtrlRegs::lut_entry, *first + j);
  char what[96];
  std::snprintf(what, sizeof what, "clearing LUT entries %u..%u of partition %u", *first, *first + plan->per_peer - 1,
                topo_.self);
  return txn().run(
      peer, what, [&] { for (unsigned j = 0; j < old.size(); ++j) c.write(CtrlRegs::lut_entry, *first + j, 0); },
      [&] { for (unsigned j = 0; j < old.size(); ++j) c.write(CtrlRegs::lut_entry, *first + j, old[j]); });
}

Result<void> SwitchtecNtb::outbound_set_trans(const std::vector<OutboundTrans>& t) {
  const char* nm = name_.c_str();
  if (t.size() != topo_.peers.size())
    return fail(Errc::kInvalidArgument, "%s: outbound_set_trans: %zu translations for %zu peers", nm, t.size(),
                topo_.peers.size());
  const uint64_t range = uint64_t{lut_.per_peer} * lut_size_;
  for (unsigned k = 0; k < t.size(); ++k) {
    const uint8_t peer = topo_.peers[k];
    if (t[k].size % lut_size_ != 0 || t[k].size > range)
      return fail(Errc::kInvalidArgument,
                  "%s: outbound window to partition %u: size %s is invalid: a multiple of the LUT window size (%s), at "
                  "most the %s of LUT entries partition %u owns in our block",
                  nm, peer, size_str(t[k].size).c_str(), size_str(lut_size_).c_str(), size_str(range).c_str(), peer);
    if (t[k].size != 0 && t[k].iova % lut_size_ != 0)
      return fail(Errc::kInvalidArgument,
                  "%s: outbound window to partition %u: address 0x%" PRIx64 " is not aligned to the LUT window size (%s)",
                  nm, peer, t[k].iova, size_str(lut_size_).c_str());
  }
  const auto c = gas_.ctrl(topo_.self);
  const uint32_t old_ctl = c.read(CtrlRegs::bar_ctl, lut_bar_);
  const uint32_t new_ctl = lut_bar_ctl(old_ctl, lut_size_, lut_.entries);
  const unsigned count = lut_.per_peer * static_cast<unsigned>(t.size());
  std::vector<uint64_t> old(count), want(count, 0);
  for (unsigned k = 0; k < t.size(); ++k) {
    const unsigned first = *lut_.first_entry_of(topo_.peers[k]);  // our block's peers are our peers
    const auto used = static_cast<unsigned>(t[k].size / lut_size_);
    for (unsigned j = 0; j < lut_.per_peer; ++j) {
      const unsigned e = first + j;
      old[e] = c.read(CtrlRegs::lut_entry, e);
      if (j < used) want[e] = kLutEn | uint64_t{topo_.peers[k]} << kLutPartitionShift | (t[k].iova + j * lut_size_);
    }
  }
  char what[96];
  std::snprintf(what, sizeof what, "LUT entries 0..%u (windows to partitions %s)", count - 1,
                partition_list([&] {
                  uint64_t m = 0;
                  for (uint8_t q : topo_.peers) m |= uint64_t{1} << q;
                  return m;
                }()).c_str());
  auto ok = txn().run(
      topo_.self, what,
      [&] {
        c.write(CtrlRegs::bar_ctl, lut_bar_, new_ctl);
        for (unsigned e = 0; e < count; ++e) c.write(CtrlRegs::lut_entry, e, want[e]);
      },
      [&] {
        c.write(CtrlRegs::bar_ctl, lut_bar_, old_ctl);
        for (unsigned e = 0; e < count; ++e) c.write(CtrlRegs::lut_entry, e, old[e]);
      });
  if (!ok) return ok;
  for (unsigned e = 0; e < count; ++e)
    if (const uint64_t v = c.read(CtrlRegs::lut_entry, e); v != want[e])
      return fail(Errc::kIoError,
                  "%s: LUT entry %u of partition %u reads 0x%016" PRIx64 " after configure, not 0x%016" PRIx64
                  ": another program configured partition %u at the same time; retry",
                  nm, e, topo_.self, v, want[e], topo_.self);
  return {};
}

Result<void> SwitchtecNtb::direct_set_trans(unsigned pidx, unsigned peer_bar, uint64_t iova, uint64_t size) {
  const char* nm = name_.c_str();
  if (auto ok = check_pidx(pidx, "direct_set_trans"); !ok) return ok;
  const uint8_t peer = topo_.peers[pidx];
  if (peer_bar >= kBarEntries)
    return fail(Errc::kInvalidArgument, "%s: direct window: BAR%u does not exist (0..5)", nm, peer_bar);
  const auto c = gas_.ctrl(peer);
  const uint32_t ctl = c.read(CtrlRegs::bar_ctl, peer_bar);
  if ((ctl & kBarValid) == 0)
    return fail(Errc::kNotSupported,
                "%s: BAR%u of partition %u is not a valid NT BAR (bar_entry.ctl 0x%08x): enable it in the switch "
                "configuration, or use another BAR",
                nm, peer_bar, peer, ctl);
  if (size < 4096 || !std::has_single_bit(size))
    return fail(Errc::kInvalidArgument,
                "%s: direct window BAR%u of partition %u: size %s is not a power of two of at least 4 KiB "
                "(bar_entry.win_size holds its log2)",
                nm, peer_bar, peer, size_str(size).c_str());
  if (iova % size != 0)
    return fail(Errc::kInvalidArgument,
                "%s: direct window BAR%u of partition %u: address 0x%" PRIx64 " is not aligned to the window size %s "
                "(the switch translates only size-aligned addresses); place the buffer at an aligned IOVA",
                nm, peer_bar, peer, iova, size_str(size).c_str());
  const uint64_t old_xlate = c.read(CtrlRegs::bar_xlate_addr, peer_bar);
  if ((ctl & kBarDirWinEn) != 0 && (old_xlate & 0x3f) != topo_.self)
    return fail(Errc::kBusy,
                "%s: direct window BAR%u of partition %u already translates to partition %u: a direct window serves "
                "one partition; use LUT windows (inbound_set_trans) for this peer",
                nm, peer_bar, peer, static_cast<unsigned>(old_xlate & 0x3f));
  const uint32_t old_ws = c.read(CtrlRegs::bar_win_size, peer_bar);
  const uint32_t old_ext = c.read(CtrlRegs::bar_ext_win_size, peer_bar);
  const uint32_t ws = static_cast<uint32_t>(std::countr_zero(size)) | (static_cast<uint32_t>(size) & kWinSizeAddrMask);
  const uint32_t ext = static_cast<uint32_t>(size >> 32);
  const uint64_t xlate = topo_.self | iova;
  char what[96];
  std::snprintf(what, sizeof what, "the direct window of BAR%u for partition %u", peer_bar, topo_.self);
  auto ok = txn().run(
      peer, what,
      [&] {
        c.write(CtrlRegs::bar_ctl, peer_bar, ctl | kBarDirWinEn);
        c.write(CtrlRegs::bar_win_size, peer_bar, ws);
        c.write(CtrlRegs::bar_ext_win_size, peer_bar, ext);
        c.write(CtrlRegs::bar_xlate_addr, peer_bar, xlate);
      },
      [&] {
        c.write(CtrlRegs::bar_ctl, peer_bar, ctl);
        c.write(CtrlRegs::bar_win_size, peer_bar, old_ws);
        c.write(CtrlRegs::bar_ext_win_size, peer_bar, old_ext);
        c.write(CtrlRegs::bar_xlate_addr, peer_bar, old_xlate);
      });
  if (!ok) return ok;
  if (const uint64_t v = c.read(CtrlRegs::bar_xlate_addr, peer_bar); v != xlate)
    return fail(Errc::kIoError,
                "%s: BAR%u xlate_addr of partition %u reads 0x%016" PRIx64 " after configure, not 0x%016" PRIx64
                ": the window is not what was programmed (another host configuring partition %u?); retry",
                nm, peer_bar, peer, v, xlate, peer);
  return {};
}

Result<void> SwitchtecNtb::direct_clear_trans(unsigned pidx, unsigned peer_bar) {
  if (auto ok = check_pidx(pidx, "direct_clear_trans"); !ok) return ok;
  if (peer_bar >= kBarEntries)
    return fail(Errc::kInvalidArgument, "%s: direct window: BAR%u does not exist (0..5)", name_.c_str(), peer_bar);
  const uint8_t peer = topo_.peers[pidx];
  const auto c = gas_.ctrl(peer);
  const uint32_t ctl = c.read(CtrlRegs::bar_ctl, peer_bar);
  const uint64_t xlate = c.read(CtrlRegs::bar_xlate_addr, peer_bar);
  if ((ctl & kBarDirWinEn) == 0 || (xlate & 0x3f) != topo_.self) return {};  // not ours
  const uint32_t ws = c.read(CtrlRegs::bar_win_size, peer_bar);
  const uint32_t ext = c.read(CtrlRegs::bar_ext_win_size, peer_bar);
  char what[96];
  std::snprintf(what, sizeof what, "clearing the direct window of BAR%u", peer_bar);
  return txn().run(
      peer, what,
      [&] {
        c.write(CtrlRegs::bar_ctl, peer_bar, ctl & ~kBarDirWinEn);
        c.write(CtrlRegs::bar_win_size, peer_bar, 0);
        c.write(CtrlRegs::bar_ext_win_size, peer_bar, 0);
        c.write(CtrlRegs::bar_xlate_addr, peer_bar, topo_.self);
      },
      [&] {
        c.write(CtrlRegs::bar_ctl, peer_bar, ctl);
        c.write(CtrlRegs::bar_win_size, peer_bar, ws);
        c.write(CtrlRegs::bar_ext_win_size, peer_bar, ext);
        c.write(CtrlRegs::bar_xlate_addr, peer_bar, xlate);
      });
}

}  // namespace pbx::ntb::switchtec
