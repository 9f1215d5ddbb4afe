// AmdNtb: register-level driver of one side of an AMD (or Hygon) NTB. Two hosts: the primary
// side is node 0, the secondary node 1 (SIDEINFO bit 0). It programs registers; it owns no
// memory and maps nothing: the caller maps BAR0 and the window BARs through VFIO and passes
// them in. Link bring-up, including the dirty-shutdown rule, is AmdLinkBringUp (link_bringup.h).
//
//   AmdNtb::AttachParams p;
//   p.name = "0000:41:00.1";  p.bar0 = bar0.mem;  p.cfg = &config;
//   p.link_cfg = &upstream_port_config;      // secondary side: see link_cfg below
//   p.mw_size = {bar2_len, bar4_len};
//   auto ntb = AmdNtb::attach(p);            // identify, side, mask doorbells and events
//   AmdLinkBringUp up(*ntb, clock, 30'000'000'000);
//   while (*up.poll() != AmdLinkBringUp::State::kUp) serve_other_work();
//   ntb->mw_set_trans(0, iova, size);        // peer writes into its window 0 land at iova here
//
// Facts: linux drivers/ntb/hw/amd/ntb_hw_amd.{c,h} (registers, the scratchpad split, the
// reserved top doorbell, window translation programmed through the peer's register view with
// read-back, the Link Control/Status dword, the READY handshake). Errors name the device, the
// register (BAR0 offset) and what to do. Threading: one thread at a time.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "pbx/base/error.h"
#include "pbx/ntb/amd/ids.h"
#include "pbx/ntb/amd/regs.h"
#include "pbx/ntb/config_space.h"
#include "pbx/ntb/link_status.h"
#include "pbx/ntb/mmio.h"

namespace pbx::ntb::amd {

enum class Side : uint8_t { kPrimary, kSecondary };
const char* to_string(Side s) noexcept;  // "primary" / "secondary"
constexpr uint16_t node_index(Side s) noexcept { return s == Side::kPrimary ? 0 : 1; }

struct MwInfo {
  unsigned bar = 0;
  uint64_t size = 0;  // the BAR length: the most a window translates
};

class AmdNtb {
 public:
  struct AttachParams {
    std::string name;                 // the PCI address, for messages
    std::span<std::byte> bar0;        // mapped BAR0 (at least 4 KiB); or:
    MmioModel* bar0_model = nullptr;  // a register model instead (tests)
    ConfigSpace* cfg = nullptr;       // required: IDs, COMMAND
    // Whose PCIe capability reports the link: the NTB itself on the primary side and on the
    // endpoint variant; on the secondary side the upstream switch port above the NTB's upstream
    // bridge (ntb_hw_amd.c amd_ntb_get_link_status). nullptr: this NTB's own.
    ConfigSpace* link_cfg = nullptr;
    std::array<uint64_t, kMaxMws> mw_size{};  // lengths of the window BARs, in window order
  };

  // Identifies the part, reads the side, masks every doorbell but the peer's goodbye and every
  // event but link up/down (as Linux's amd_init_dev). Leaves SIDEINFO.READY alone: deciding
  // about a READY left set by a crash is the bring-up's job.
  [[nodiscard]] static Result<AmdNtb> attach(const AttachParams& p);

  AmdNtb(AmdNtb&&) noexcept = default;
  AmdNtb& operator=(AmdNtb&&) noexcept = default;

  const std::string& name() const noexcept { return name_; }
  const PartInfo& part() const noexcept { return *part_; }
  Side side() const noexcept { return side_; }
  uint16_t node_index() const noexcept { return amd::node_index(side_); }

  // ---- SIDEINFO.READY: "my driver is loaded" --------------------------------------------------
  bool ready() noexcept;       // ours
  bool peer_ready() noexcept;  // the peer's, through the peer view
  // Sets our READY and the register-control bits (ntb_hw_amd.c amd_init_side_info).
  void set_ready() noexcept;
  // Clears our READY (read back, as Linux) and the register-control bits.
  void clear_ready() noexcept;
  // Clears the peer's READY (Linux does this on the primary when a link-down event arrives:
  // the peer could not clear it itself).
  void clear_peer_ready() noexcept;

  // ---- events (INTSTAT) -------------------------------------------------------------------------
  uint32_t events() noexcept;                 // pending event bits (kEvent*)
  [[nodiscard]] Result<void> ack_events(uint32_t bits);  // SMUACK, then write-1-to-clear

  // ---- memory windows ---------------------------------------------------------------------------
  unsigned mw_count() const noexcept { return part_->mw_count; }
  const MwInfo& mw(unsigned widx) const noexcept { return mw_[widx]; }
  // What the peer writes into its window widx lands at [addr, addr + size) here: the peer's
  // XLAT = addr and LMT = size, through the peer view, each read back (a mismatch closes the
  // window again). addr aligned to 4 KiB, size in (0, BAR size].
  [[nodiscard]] Result<void> mw_set_trans(unsigned widx, uint64_t addr, uint64_t size);
  [[nodiscard]] Result<void> mw_clear_trans(unsigned widx);

  // ---- scratchpads (8 per side of the shared bank) ----------------------------------------------
  static constexpr unsigned spad_count() noexcept { return kSpadsPerSide; }
  [[nodiscard]] Result<uint32_t> spad_read(unsigned sidx);
  [[nodiscard]] Result<void> spad_write(unsigned sidx, uint32_t v);
  [[nodiscard]] Result<uint32_t> peer_spad_read(unsigned sidx);
  [[nodiscard]] Result<void> peer_spad_write(unsigned sidx, uint32_t v);

  // ---- doorbells (15; the 16th is the peer's goodbye) -------------------------------------------
  static constexpr uint64_t db_valid_mask() noexcept { return kDbValidMask; }
  uint64_t db_read() noexcept;                  // user bits the peer rang
  bool goodbye_pending() noexcept;              // the peer rang its goodbye bit
  void goodbye_clear() noexcept;
  [[nodiscard]] Result<void> db_clear(uint64_t bits);
  [[nodiscard]] Result<void> db_set_mask(uint64_t bits);
  [[nodiscard]] Result<void> db_clear_mask(uint64_t bits);
  uint64_t db_mask() const noexcept { return db_mask_; }
  // Rings the peer (DBREQ). Orders earlier stores first.
  [[nodiscard]] Result<void> peer_db_set(uint64_t bits);
  void ring_goodbye() noexcept;                 // tells the peer our driver is going away

  // ---- link ---------------------------------------------------------------------------------------
  // Speed and width from the Link Control/Status dword of link_cfg.
  [[nodiscard]] Result<PcieLink> link_status();

  // Leaving in order: READY cleared first, then the goodbye doorbell, so that the peer reads
  // READY = 0 when the doorbell arrives (ntb_hw_amd.c amd_ntb_pci_remove).
  void shutdown() noexcept;

 private:
  AmdNtb() = default;
  Result<void> check_index(unsigned idx, unsigned count, const char* what) const;
  void write_dbmask() noexcept;

  std::string name_;
  const PartInfo* part_ = nullptr;
  Side side_ = Side::kPrimary;
  ConfigSpace* cfg_ = nullptr;
  ConfigSpace* link_cfg_ = nullptr;
  RegWindow<Regs> r_;
  std::array<MwInfo, kMaxMws> mw_{};
  uint64_t db_mask_ = 0;  // user bits without interrupt
  unsigned self_spad_ = 0, peer_spad_ = 0;
};

}  // namespace pbx::ntb::amd
