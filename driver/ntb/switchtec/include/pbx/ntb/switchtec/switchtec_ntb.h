// SwitchtecNtb: register-level driver of one Switchtec NT endpoint, with one peer per target
// partition (N hosts through one switch), where Linux's ntb_hw_switchtec drives exactly one.
// It programs registers; it owns no memory and maps nothing: the caller (a HAL backend) maps
// BAR0 (the GAS) and the window BARs through VFIO, DMA-maps its inbound memory and passes the
// addresses in.
//
//   SwitchtecNtb::AttachParams p;
//   p.name = "0000:03:00.1";
//   p.gas = bar0_view.mem;  p.cfg = &config;  p.bar_size = {bar0, 0, bar2, 0, bar4, 0};
//   p.clock = &clock;  p.pacer = &pacer;  p.kernel_release = uname_release;
//   auto sw = SwitchtecNtb::attach(p);          // topology, plans, doorbell/message setup
//   sw->setup_requester_ids();                   // RC 0:00.0 + host bridge into our RID table
//   for (unsigned k = 0; k < sw->peer_count(); ++k) {
//     sw->inbound_set_trans(k, iova[k], size);   // peer k's LUT windows onto our memory
//     auto out = sw->peer_window(k);             // our BAR range that reaches peer k's memory
//   }
//   sw->peer_db_set(k, 1);  sw->peer_msg_write(0, kMsgCheckLink);
//
// Peer index pidx: 0..peer_count()-1 = the target partitions in partition order. Windows:
// every peer owns an equal range of each partition's LUT entries (topology.h); the peer
// programs the range in the *other* partition's control block so that it leads to the peer's
// own memory (the lock/configure transaction of txn.h). Errors name the device, the
// partition, the register or operation, and what to change.
//
// Not supported (refused at attach, with the reason): crosslink (two switches back to back),
// and a partition without peers. Threading: one thread at a time.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pbx/base/clock.h"
#include "pbx/base/error.h"
#include "pbx/ntb/config_space.h"
#include "pbx/ntb/link_status.h"
#include "pbx/ntb/pacer.h"
#include "pbx/ntb/switchtec/gas.h"
#include "pbx/ntb/switchtec/ids.h"
#include "pbx/ntb/switchtec/topology.h"
#include "pbx/ntb/switchtec/txn.h"

namespace pbx::ntb::switchtec {

// A range of this host's BAR that reaches another partition's memory.
struct OutboundWindow {
  unsigned bar = 0;          // BAR number of the NT endpoint
  uint64_t offset = 0;       // in that BAR
  uint64_t size = 0;
  unsigned first_entry = 0;  // LUT entries of our control block behind it
  unsigned entries = 0;
};

// A direct (non-LUT) window of this host's NT endpoint.
struct DirectWindow {
  unsigned bar = 0;
  uint64_t offset = 0;    // where the direct window starts in the BAR (after the LUT windows)
  uint64_t max_size = 0;  // the most it can translate (a power of two)
};

struct InMessage {
  unsigned slot = 0;       // imsg register
  uint8_t partition = 0;   // who sent it (imsg.src)
  uint32_t value = 0;
};

class SwitchtecNtb {
 public:
  struct AttachParams {
    std::string name;                              // the PCI address, for messages
    std::span<std::byte> gas;                      // mapped BAR0; or:
    MmioModel* gas_model = nullptr;                // a register model instead (tests)
    ConfigSpace* cfg = nullptr;                    // required: IDs, class, COMMAND
    std::array<uint64_t, kBarEntries> bar_size{};  // VFIO region sizes of BAR0..5
    const Clock* clock = nullptr;                  // required
    Pacer* pacer = nullptr;                        // required
    TxnTiming timing{};
    uint64_t lut_size = kLinuxLutSize;             // size of one LUT window (a power of two >= 4 KiB)
    std::string kernel_release;                    // uname -r, for the IOMMU alias check; empty: skip it
  };

  [[nodiscard]] static Result<SwitchtecNtb> attach(const AttachParams& p);

  SwitchtecNtb(SwitchtecNtb&&) noexcept = default;
  SwitchtecNtb& operator=(SwitchtecNtb&&) noexcept = default;

  const std::string& name() const noexcept { return name_; }
  const Topology& topology() const noexcept { return topo_; }
  uint8_t self_partition() const noexcept { return topo_.self; }
  unsigned peer_count() const noexcept { return static_cast<unsigned>(topo_.peers.size()); }
  uint8_t peer_partition(unsigned pidx) const noexcept { return topo_.peers[pidx]; }
  const std::string& part_name() const noexcept { return part_name_; }
  const AliasQuirk& alias_quirk() const noexcept { return alias_; }
  const DoorbellPlan& doorbell_plan() const noexcept { return db_; }
  const MessagePlan& message_plan() const noexcept { return msg_; }
  const LutPlan& lut_plan() const noexcept { return lut_; }
  uint64_t lut_size() const noexcept { return lut_size_; }
  const GasView& gas() const noexcept { return gas_; }

  // ---- requester IDs ----------------------------------------------------------------------
  // Puts the root complex (0:00.0) and the host bridge (ntb_info.requester_id) into our own
  // partition's requester-ID table (ID protection off), as Linux does; without them the switch
  // drops the TLPs this host sends through the NT endpoint. Returns the table as read back
  // (with the proxy IDs the switch assigned).
  [[nodiscard]] Result<std::vector<RidEntry>> setup_requester_ids();
  std::vector<RidEntry> rid_table(unsigned partition) const;

  // ---- windows ----------------------------------------------------------------------------
  // Our BAR range through which we reach peer pidx's memory: the LUT entries of our control
  // block that pidx owns (pidx programs them). Whether they lead anywhere yet is pidx's doing.
  [[nodiscard]] Result<OutboundWindow> peer_window(unsigned pidx) const;
  // Bytes of our memory peer pidx can reach through its LUT windows (our range in its block).
  [[nodiscard]] Result<uint64_t> inbound_capacity(unsigned pidx) const;
  // Programs our range of LUT entries in peer pidx's control block so that pidx's window onto
  // us leads to [iova, iova + size) here: entry j -> (our partition, iova + j * lut_size). iova
  // must be aligned to lut_size, size a multiple of it, at most inbound_capacity(pidx). Also
  // turns on the LUT windows of pidx's first direct BAR. Every entry is read back.
  [[nodiscard]] Result<void> inbound_set_trans(unsigned pidx, uint64_t iova, uint64_t size);
  [[nodiscard]] Result<void> inbound_clear_trans(unsigned pidx);
  // The same windows programmed by their owner instead (what postbox's N-host HAL backend does,
  // so that every host locks only its own control block and hosts starting together never
  // contend for a lock): programs the LUT entries of *our* block that belong to each peer, so
  // that our window to peer k (peer_window(k)) leads to [t[k].iova, t[k].iova + t[k].size) in
  // peer k's host: entry j -> (k's partition, iova + j * lut_size); t[k].size 0 turns k's range
  // off. One transaction for all peers (t has peer_count() entries); every entry is read back.
  // Also turns on the LUT windows of our first direct BAR. The addresses are the peers' IOVAs:
  // each peer must DMA-map its memory there (postbox derives them from the job's shape).
  struct OutboundTrans {
    uint64_t iova = 0;
    uint64_t size = 0;  // a multiple of lut_size(), at most peer_window(k).size; 0: off
  };
  [[nodiscard]] Result<void> outbound_set_trans(const std::vector<OutboundTrans>& t);
  // Direct windows: our own (where they are in our BARs), and programming peer pidx's BAR
  // `peer_bar` to translate into our memory [iova, iova + size) (size a power of two >= 4 KiB,
  // iova aligned to size). One partition per direct window: a BAR already translating to
  // another partition is refused.
  const std::vector<DirectWindow>& direct_windows() const noexcept { return direct_; }
  [[nodiscard]] Result<void> direct_set_trans(unsigned pidx, unsigned peer_bar, uint64_t iova, uint64_t size);
  [[nodiscard]] Result<void> direct_clear_trans(unsigned pidx, unsigned peer_bar);

  // ---- doorbells (our slice of the shared 64; see topology.h) -------------------------------
  uint64_t db_valid_mask() const noexcept { return db_.valid_mask; }
  uint64_t db_read() noexcept;  // rung bits of our slice, at shift 0
  [[nodiscard]] Result<void> db_clear(uint64_t bits);
  [[nodiscard]] Result<void> db_set_mask(uint64_t bits);    // no interrupt for these bits
  [[nodiscard]] Result<void> db_clear_mask(uint64_t bits);  // interrupt for these bits
  uint64_t db_mask() const noexcept { return db_mask_; }
  // Rings `bits` (within db_valid_mask()) in peer pidx's slice. Orders earlier stores first.
  [[nodiscard]] Result<void> peer_db_set(unsigned pidx, uint64_t bits);

  // Interrupts: routes our doorbells (all 60) to MSI-X vector `db_vector` and the four message
  // interrupts (the top 4 doorbell sources) to `msg_vector` through idb_vec_map, as Linux's
  // switchtec_ntb_init_db_msg_irq. Neither may be the partition's event vector (the switch's
  // own events: part_cfg.vep_vector_number), which is refused.
  [[nodiscard]] Result<void> map_vectors(uint8_t db_vector, uint8_t msg_vector);
  uint16_t event_vector() const noexcept;

  // ---- message registers ---------------------------------------------------------------------
  // Writes our outgoing message register midx (0..3); every partition whose msg_map names it
  // hears it (the link message is midx 0: kMsgLinkUp, kMsgLinkDown, kMsgCheckLink, ...).
  [[nodiscard]] Result<void> peer_msg_write(unsigned midx, uint32_t value);
  // Incoming messages whose status is set (not cleared: msg_clear() does).
  std::vector<InMessage> msg_read() noexcept;
  [[nodiscard]] Result<void> msg_clear(unsigned slot);
  // The imsg slot that hears peer pidx's link message; nullopt beyond the fourth peer.
  std::optional<unsigned> link_slot(unsigned pidx) const noexcept;

  // ---- link -----------------------------------------------------------------------------------
  // Speed and width of a partition's link to the switch (its virtual EP's PFF), and of the
  // path to peer pidx (the slower of ours and theirs).
  [[nodiscard]] Result<PcieLink> partition_link(unsigned partition) const;
  [[nodiscard]] Result<PcieLink> peer_link(unsigned pidx) const;

 private:
  SwitchtecNtb() = default;
  Result<void> check_pidx(unsigned pidx, const char* op) const;
  Result<LutPlan> plan_for(unsigned partition) const;
  PartitionTxn txn() { return PartitionTxn(gas_, *clock_, *pacer_, timing_); }
  Result<void> init_own_windows(const std::array<uint64_t, kBarEntries>& bar_size);
  void init_doorbells_and_messages();

  std::string name_;
  std::string part_name_;
  GasView gas_;
  const Clock* clock_ = nullptr;
  Pacer* pacer_ = nullptr;
  TxnTiming timing_;
  uint64_t lut_size_ = kLinuxLutSize;
  RawInfo info_;
  Topology topo_;
  AliasQuirk alias_;
  DoorbellPlan db_;
  MessagePlan msg_;
  LutPlan lut_;                        // of our own block
  unsigned lut_bar_ = 0;               // our first direct BAR: the LUT windows are at its start
  std::vector<DirectWindow> direct_;
  uint64_t db_mask_ = 0;               // our slice bits without interrupt, at shift 0
};

}  // namespace pbx::ntb::switchtec
