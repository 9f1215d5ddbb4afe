// IntelNtb: register-level driver of one Intel Xeon NTB port (gen3 and gen4 register models),
// back-to-back topology. It programs registers; it owns no memory and maps nothing: the caller
// (the HAL backend) maps BAR0 and the window BARs through VFIO and passes them in.
//
//   IntelNtb::AttachParams p;
//   p.name = "0000:af:00.0";
//   p.bar0 = bar0_view.mem;                 // BAR0, uncached
//   p.cfg = &config_space;                  // VFIO config region
//   p.mw_size = {bar2_len, bar4_len};       // VFIO region sizes of BAR2 and BAR4
//   auto ntb = IntelNtb::attach(p);         // identify, check topology, B2B setup, mask doorbells
//   LinkBringUp up(*ntb, clock, 10'000'000'000);
//   while (up.poll() == LinkBringUp::State::kTraining) { /* do other work */ }
//   ntb->mw_set_trans(0, iova, size);       // peer writes into BAR2 land at `iova` here
//   ntb->peer_spad_write(1, x);
//   ntb->peer_db_set(1u << 0);
//
// Facts (registers, bits, sequences) come from Linux drivers/ntb/hw/intel (ntb_hw_gen3.c,
// ntb_hw_gen4.c) and DPDK drivers/raw/ntb (ntb_hw_intel.c).
//
// Errors name the device, the register (with its BAR0 or config offset) and what to do.
// Threading: one thread at a time (the node manager's control thread).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "pbx/base/error.h"
#include "pbx/ntb/config_space.h"
#include "pbx/ntb/intel/ids.h"
#include "pbx/ntb/intel/regs.h"
#include "pbx/ntb/intel/topology.h"
#include "pbx/ntb/link_status.h"
#include "pbx/ntb/mmio.h"

namespace pbx::ntb::intel {

// One memory window: what the peer writes through its BARn lands in this host's memory at the
// programmed translation address.
struct MwInfo {
  unsigned bar = 0;          // 2 or 4
  uint64_t bus_addr = 0;     // this host's BAR address (from config space)
  uint64_t size = 0;         // the BAR length
  uint64_t addr_align = 0;   // a translation address must be a multiple of this
};

class IntelNtb {
 public:
  struct AttachParams {
    std::string name;                     // the PCI address, for messages
    std::span<std::byte> bar0;            // mapped BAR0 (at least 64 KiB); or:
    MmioModel* bar0_model = nullptr;      // a register model instead of mapped BAR0 (tests)
    ConfigSpace* cfg = nullptr;           // required
    std::array<uint64_t, kMwCount> mw_size{};  // lengths of BAR2 and BAR4
  };

  // Identifies the part, checks the topology (back-to-back only, no split BAR), programs the
  // zero-length B2B windows, masks all doorbells, maps doorbell sources to MSI-X vectors
  // (INTVEC) and leaves the link disabled (gen4) or as firmware left it (gen3).
  [[nodiscard]] static Result<IntelNtb> attach(const AttachParams& p);

  IntelNtb(IntelNtb&&) noexcept = default;
  IntelNtb& operator=(IntelNtb&&) noexcept = default;

  const PartInfo& part() const noexcept { return *part_; }
  const Topology& topology() const noexcept { return topo_; }
  Side side() const noexcept { return topo_.side; }
  uint16_t node_index() const noexcept { return intel::node_index(topo_.side); }
  const std::string& name() const noexcept { return name_; }

  // ---- link ------------------------------------------------------------------------------
  // Enables the link and starts training. gen3: NTBCNTL clears DISABLE and CFG_LOCK and sets
  // the snoop bits. gen4: LTR (SPR and later), NTBCNTL snoop bits, LINK_CTRL clears
  // LINK_DISABLE, PPD0 sets LINKTRN and is read back: training must have started.
  [[nodiscard]] Result<void> link_enable();
  [[nodiscard]] Result<void> link_disable();
  // Acknowledges the link event (doorbell bit 32; gen4 also SLOTSTS.DLLSCS) and reads LNKSTS.
  // gen3 reads it from config space (a system call through VFIO); gen4 from BAR0.
  [[nodiscard]] Result<PcieLink> poll_link();

  // ---- memory windows ----------------------------------------------------------------------
  static constexpr unsigned mw_count() noexcept { return kMwCount; }
  const MwInfo& mw(unsigned widx) const noexcept { return mw_[widx]; }
  // Peer writes into window `widx` land at [addr, addr + size) of this host's IOVA space.
  // Rules: size in (0, BAR size], a multiple of 4 KiB (gen4: a power of two, since the window
  // index register holds log2(size)); addr aligned to the BAR size on gen3 and ICX, to 4 KiB on
  // SPR and later. Every register is read back; on a mismatch the window is closed again.
  [[nodiscard]] Result<void> mw_set_trans(unsigned widx, uint64_t addr, uint64_t size);
  // Closes the window (translation 0, zero-length limit).
  [[nodiscard]] Result<void> mw_clear_trans(unsigned widx);

  // ---- scratchpads -------------------------------------------------------------------------
  static constexpr unsigned spad_count() noexcept { return kSpadCount; }
  [[nodiscard]] Result<uint32_t> spad_read(unsigned sidx);
  [[nodiscard]] Result<void> spad_write(unsigned sidx, uint32_t v);
  // The peer's scratchpads, through the link (B2B SPAD on gen3, EM SPAD on gen4). A read is a
  // non-posted transaction across the link: control path only.
  [[nodiscard]] Result<uint32_t> peer_spad_read(unsigned sidx);
  [[nodiscard]] Result<void> peer_spad_write(unsigned sidx, uint32_t v);

  // ---- doorbells ---------------------------------------------------------------------------
  static constexpr uint64_t db_valid_mask() noexcept { return kDbValidMask; }
  static constexpr uint64_t db_link_mask() noexcept { return kDbLinkMask; }
  // Doorbell bits the peer rang (status register at BAR0+0x40), link bit excluded.
  uint64_t db_read() noexcept;
  // The whole status register: doorbell bits and the link event (bit 32). One MMIO read, so a
  // poller can watch both without a config-space access.
  uint64_t db_status() noexcept;
  // Write-1-to-clear of `bits` (must be within db_valid_mask()).
  [[nodiscard]] Result<void> db_clear(uint64_t bits);
  // Interrupt mask (BAR0+0x48): a masked bit still sets in the status, but raises no MSI-X.
  [[nodiscard]] Result<void> db_set_mask(uint64_t bits);
  [[nodiscard]] Result<void> db_clear_mask(uint64_t bits);
  uint64_t db_mask() const noexcept { return db_mask_; }
  // Routes interrupt source `source` (doorbell 0..31, link 32) to MSI-X vector `vector` (INTVEC).
  [[nodiscard]] Result<void> set_intvec(unsigned source, uint8_t vector);
  // Rings the peer's doorbells: writes 1 to BAR0 + 0x100 + 4*bit for every bit set. Orders all
  // earlier stores (scratchpads, window data) before the ring.
  [[nodiscard]] Result<void> peer_db_set(uint64_t bits);

 private:
  IntelNtb() = default;
  bool gen3() const noexcept { return part_->regs == Gen::kGen3; }
  Result<void> init_b2b();
  Result<void> check_mw(unsigned widx, uint64_t addr, uint64_t size) const;
  Result<void> mw_program(unsigned widx, uint64_t addr, uint64_t size);
  Result<void> check_index(unsigned idx, unsigned count, const char* what) const;

  std::string name_;
  const PartInfo* part_ = nullptr;
  Topology topo_;
  ConfigSpace* cfg_ = nullptr;
  RegWindow<gen3::Regs> r3_;
  RegWindow<gen4::Regs> r4_;
  std::array<MwInfo, kMwCount> mw_{};
  uint64_t db_mask_ = 0;
};

// Human-readable size in the largest whole binary unit: "4 KiB", "512 MiB", "1000 bytes".
std::string format_size(uint64_t bytes);

}  // namespace pbx::ntb::intel
