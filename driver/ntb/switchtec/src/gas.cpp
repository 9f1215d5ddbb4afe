#include "pbx/ntb/switchtec/gas.h"

#include <cinttypes>
#include <cstdio>

namespace pbx::ntb::switchtec {

Result<GasView> GasView::over(std::span<std::byte> gas, std::string name) {
  constexpr std::size_t kNeed = dbmsg_offset(kMaxPartitions);
  if (gas.data() == nullptr || gas.size() < kNeed || reinterpret_cast<std::uintptr_t>(gas.data()) % 8 != 0)
    return fail(Errc::kInvalidArgument,
                "%s: BAR0 is %zu bytes: a Switchtec NT endpoint's BAR0 holds the switch's GAS, at least 0x%zx bytes "
                "through the NT doorbell blocks; wrong device, or a BAR0 the BIOS did not map",
                name.c_str(), gas.size(), kNeed);
  GasView v;
  v.mem_ = gas;
  v.size_ = gas.size();
  v.name_ = std::move(name);
  return v;
}

GasView GasView::over_model(MmioModel& model, std::string name, std::size_t size) {
  GasView v;
  v.model_ = &model;
  v.size_ = size;
  v.name_ = std::move(name);
  return v;
}

Result<RegWindow<PffCsrRegs>> GasView::pff_csr(uint32_t pff) const {
  if (pff >= kMaxPff)
    return fail(Errc::kIoError, "%s: PFF instance %u is out of range (0..%u): the partition configuration reads garbage",
                name_.c_str(), pff, kMaxPff - 1);
  const std::size_t off = pff_csr_offset(pff);
  if (off + PffCsrRegs::kSize > size_)
    return fail(Errc::kNotSupported,
                "%s: the CSR block of PFF %u (GAS 0x%zx) lies beyond the %zu mapped bytes of BAR0: map the whole BAR",
                name_.c_str(), pff, off, size_);
  return window<PffCsrRegs>(off);
}

RawInfo read_info(const GasView& gas) {
  const auto w = gas.info();
  RawInfo r;
  r.partition_count = w.read(InfoRegs::partition_count);
  r.partition_id = w.read(InfoRegs::partition_id);
  // ep_map is a u64 at offset 4 of a packed struct: two naturally aligned 32-bit reads.
  r.ep_map = uint64_t{w.read(InfoRegs::ep_map_lo)} | uint64_t{w.read(InfoRegs::ep_map_hi)} << 32;
  r.requester_id = w.read(InfoRegs::requester_id);
  const unsigned n = r.partition_count <= kMaxPartitions ? r.partition_count : 0;
  for (unsigned p = 0; p < n; ++p) {
    r.xlink[p] = w.read(InfoRegs::xlink_enabled, p);
    r.targets[p] = uint64_t{w.read(InfoRegs::target_part_high, p)} << 32 | w.read(InfoRegs::target_part_low, p);
  }
  return r;
}

uint64_t BarEntry::lut_size() const noexcept {
  const unsigned log2 = (ctl & kBarLutSizeMask) >> kBarLutSizeShift;
  return log2 < 64 ? uint64_t{1} << log2 : 0;
}
unsigned BarEntry::lut_count() const noexcept { return (ctl >> kBarLutCountShift) + 1; }
uint64_t BarEntry::direct_size() const noexcept {
  return uint64_t{ext_win_size} << 32 | (win_size & kWinSizeAddrMask);
}
uint8_t BarEntry::xlate_partition() const noexcept { return static_cast<uint8_t>(xlate_addr & 0x3f); }
uint64_t BarEntry::xlate_address() const noexcept { return xlate_addr & ~uint64_t{0xfff}; }

RidEntry decode_rid(unsigned index, uint32_t raw) noexcept {
  return RidEntry{index, static_cast<uint16_t>(raw >> kReqIdShift), static_cast<uint8_t>(raw >> kProxyIdShift)};
}

LutEntry decode_lut(unsigned index, uint64_t raw) noexcept {
  return LutEntry{index, static_cast<uint8_t>((raw & kLutPartitionMask) >> kLutPartitionShift),
                  raw & ~uint64_t{0xfff}};
}

CtrlSnapshot read_ctrl(const GasView& gas, unsigned partition) {
  const auto c = gas.ctrl(partition);
  CtrlSnapshot s;
  s.partition = partition;
  s.status = c.read(CtrlRegs::partition_status);
  s.partition_ctrl = c.read(CtrlRegs::partition_ctrl);
  s.bar_error = c.read(CtrlRegs::bar_error);
  s.lut_error = c.read(CtrlRegs::lut_error);
  s.req_id_error = c.read(CtrlRegs::req_id_error);
  s.lut_table_entries = c.read(CtrlRegs::lut_table_entries);
  s.req_id_table_size = c.read(CtrlRegs::req_id_table_size);
  for (unsigned b = 0; b < kBarEntries; ++b) {
    s.bars[b].ctl = c.read(CtrlRegs::bar_ctl, b);
    s.bars[b].win_size = c.read(CtrlRegs::bar_win_size, b);
    s.bars[b].ext_win_size = c.read(CtrlRegs::bar_ext_win_size, b);
    s.bars[b].xlate_addr = c.read(CtrlRegs::bar_xlate_addr, b);
  }
  const unsigned luts = std::min<unsigned>(s.lut_table_entries, kLutEntries);
  for (unsigned i = 0; i < luts; ++i)
    if (const uint64_t e = c.read(CtrlRegs::lut_entry, i); (e & kLutEn) != 0) s.luts.push_back(decode_lut(i, e));
  const unsigned rids = std::min<unsigned>(s.req_id_table_size, kRidEntries);
  for (unsigned i = 0; i < rids; ++i)
    if (const uint32_t e = c.read(CtrlRegs::req_id_table, i); (e & kReqIdEn) != 0) s.rids.push_back(decode_rid(i, e));
  return s;
}

Result<PcieLink> read_partition_link(const GasView& gas, unsigned partition) {
  const uint32_t pff = gas.part_cfg(partition).read(PartCfgRegs::vep_pff_inst_id);
  auto csr = gas.pff_csr(pff);
  if (!csr)
    return tl::unexpected(with_context(csr.error(), "link of partition " + std::to_string(partition) +
                                                        " (part_cfg vep_pff_inst_id = " + std::to_string(pff) + ")"));
  const uint32_t v = csr->read(PffCsrRegs::link_ctl_sta);
  PcieLink l;
  l.speed_code = static_cast<uint8_t>((v >> kPffLinkSpeedShift) & kPffLinkSpeedMask);
  l.width = static_cast<uint8_t>((v >> kPffLinkWidthShift) & kPffLinkWidthMask);
  l.active = (v >> 16 & kLnkStaActive) != 0 || l.width != 0;
  return l;
}

const char* status_name(uint32_t status) noexcept {
  switch (status & kStatusMask) {
    case kStatusNormal: return "normal";
    case kStatusLocked: return "locked";
    case kStatusLocking: return "locking";
    case kStatusConfiguring: return "configuring";
    case kStatusResetting: return "resetting";
    default: return "unknown";
  }
}

std::string format_bdf16(uint16_t r) {
  char b[16];
  std::snprintf(b, sizeof b, "%02x:%02x.%u", r >> 8, (r >> 3) & 0x1f, r & 7u);
  return b;
}

}  // namespace pbx::ntb::switchtec
