// GasView: typed register windows onto the blocks of a Switchtec GAS (regs.h), over the mapped
// BAR0 of an NT endpoint or over a register model (tests), plus read-only decoders of what the
// blocks hold. Reading never changes the switch: pbx-probe uses these on a read-only mapping.
//
//   auto gas = GasView::over(bar0, "0000:03:00.1");          // Result<GasView>
//   RawInfo info = read_info(*gas);
//   CtrlSnapshot c = read_ctrl(*gas, 1);                     // partition 1's control block
//   auto link = read_partition_link(*gas, 1);                 // Result<PcieLink>
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "pbx/base/error.h"
#include "pbx/ntb/link_status.h"
#include "pbx/ntb/switchtec/regs.h"
#include "pbx/ntb/switchtec/topology.h"

namespace pbx::ntb::switchtec {

class GasView {
 public:
  GasView() = default;
  // `gas` is the mapped BAR0; it must reach at least through the NT blocks (the DBMSG block of
  // partition 47); PFF CSR blocks beyond its end are refused when asked for.
  [[nodiscard]] static Result<GasView> over(std::span<std::byte> gas, std::string name);
  static GasView over_model(MmioModel& model, std::string name, std::size_t size = kGasMinSize);

  const std::string& name() const noexcept { return name_; }
  std::size_t size() const noexcept { return size_; }

  RegWindow<InfoRegs> info() const noexcept { return window<InfoRegs>(info_offset()); }
  RegWindow<CtrlRegs> ctrl(unsigned partition) const noexcept { return window<CtrlRegs>(ctrl_offset(partition)); }
  RegWindow<DbMsgRegs> dbmsg(unsigned partition) const noexcept {
    return window<DbMsgRegs>(dbmsg_offset(partition));
  }
  RegWindow<PartCfgRegs> part_cfg(unsigned partition) const noexcept {
    return window<PartCfgRegs>(part_cfg_offset(partition));
  }
  // The CSR block of PFF `pff`; fails when pff is out of range or beyond the mapped GAS.
  [[nodiscard]] Result<RegWindow<PffCsrRegs>> pff_csr(uint32_t pff) const;

 private:
  template <class L>
  RegWindow<L> window(std::size_t off) const noexcept {
    if (model_ != nullptr) return RegWindow<L>::over_model(*model_, off);
    auto w = RegWindow<L>::over(mem_.subspan(off, L::kSize), name_);
    return w ? *w : RegWindow<L>();
  }

  std::span<std::byte> mem_;
  MmioModel* model_ = nullptr;
  std::size_t size_ = 0;
  std::string name_;
};

// ---- read-only decoders ----------------------------------------------------------------------

RawInfo read_info(const GasView& gas);

struct BarEntry {
  uint32_t ctl = 0;
  uint32_t win_size = 0;
  uint32_t ext_win_size = 0;
  uint64_t xlate_addr = 0;
  bool valid() const noexcept { return (ctl & kBarValid) != 0; }
  bool direct() const noexcept { return (ctl & kBarDirWinEn) != 0; }
  bool lut() const noexcept { return (ctl & kBarLutWinEn) != 0; }
  uint64_t lut_size() const noexcept;           // from ctl bits 13:8
  unsigned lut_count() const noexcept;          // from ctl bits 14+ (count - 1)
  uint64_t direct_size() const noexcept;        // win_size & ~0xfff | ext << 32
  uint8_t xlate_partition() const noexcept;     // low bits of xlate_addr
  uint64_t xlate_address() const noexcept;      // xlate_addr without the partition
};

struct LutEntry {
  unsigned index = 0;
  uint8_t partition = 0;   // where the window leads
  uint64_t address = 0;    // in that partition's host (an IOVA there)
};

struct RidEntry {
  unsigned index = 0;
  uint16_t requester = 0;  // bus << 8 | devfn of the requester on this side
  uint8_t proxy_devfn = 0; // the ID the switch uses for it on the other side
};

struct CtrlSnapshot {
  unsigned partition = 0;
  uint32_t status = 0;              // partition_status, all 32 bits
  uint32_t partition_ctrl = 0;
  uint32_t bar_error = 0, lut_error = 0, req_id_error = 0;
  uint16_t lut_table_entries = 0;
  uint16_t req_id_table_size = 0;
  std::array<BarEntry, kBarEntries> bars{};
  std::vector<LutEntry> luts;       // enabled entries only (of the first lut_table_entries)
  std::vector<RidEntry> rids;       // enabled entries only (of the first req_id_table_size)
};

// Reads one control block; LUT and RID tables are scanned up to their configured sizes.
CtrlSnapshot read_ctrl(const GasView& gas, unsigned partition);
// Decodes one requester-ID table entry ("requester << 16 | proxy << 1 | EN" read back).
RidEntry decode_rid(unsigned index, uint32_t raw) noexcept;
LutEntry decode_lut(unsigned index, uint64_t raw) noexcept;

// The link of `partition`'s virtual EP function: part_cfg[partition].vep_pff_inst_id, then that
// PFF's link status (pff_csr.pci_cap_region[13], speed bits 19:16, width 25:20).
[[nodiscard]] Result<PcieLink> read_partition_link(const GasView& gas, unsigned partition);

const char* status_name(uint32_t status) noexcept;  // "normal", "locked", ... or "unknown"
std::string format_bdf16(uint16_t requester);       // "03:00.1"

}  // namespace pbx::ntb::switchtec
