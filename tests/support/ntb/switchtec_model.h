// A software model of a Switchtec switch's NT registers for unit tests: the GAS blocks of
// driver/ntb/switchtec/regs.h (NTB info, partition control blocks, doorbell/message blocks,
// partition configs, PFF CSRs), one Port per NT endpoint (the GAS and config space as that
// host's driver sees them), and a data path through the translations the control blocks hold.
// A test tool, never the product: the driver reaches it through the same RegWindow and
// ConfigSpace interfaces that VFIO backs on hardware.
//
//   SwitchtecModel sw(SwitchtecModelSpec::mesh(3));        // 3 partitions, each targets the others
//   auto a = SwitchtecNtb::attach(sw.attach_params(0, clock, pacer));
//   ...
//   EXPECT_THAT(sw.violations(), IsEmpty());
//
// Semantics enforced (facts from linux ntb_hw_switchtec.c / switchtec.h, model choices marked):
//  * every GAS access must hit a known register with its width; read-only registers refuse
//    writes; a host may write only its own doorbell/message block;
//  * control blocks: partition_op LOCK -> status LOCKING for `lock_polls` status reads -> LOCKED
//    (the writer owns the lock); CFG -> CONFIGURING for `cfg_polls` reads -> NORMAL when the
//    registers are valid, else back to LOCKED with bar_error / lut_error / req_id_error set;
//    RESET -> RESETTING -> NORMAL, registers back to the last configuration. Configuration
//    registers written without holding the lock are dropped and recorded. (Model choices: a
//    LOCK from a second host while locked is ignored and counted as a conflict; the error codes
//    are the model's own, below: the switch's values are not public.)
//  * validity: a LUT entry at or beyond lut_table_entries, naming a non-NT partition, or not
//    aligned to the LUT window size; LUT windows larger than the BAR; a direct window that is
//    not a power of two >= 4 KiB, does not fit, is misaligned or names a non-NT partition; a
//    window on a BAR that is not VALID; a requester-ID entry beyond req_id_table_size;
//  * requester-ID entries read back with a proxy devfn (model: partition << 3 | index);
//  * doorbells: odb bits (within odb_mask) set in idb of every other NT partition (model choice:
//    the routing between more than two partitions is not public); idb is write-1-to-clear;
//  * messages: omsg[i] of partition X lands in imsg[k] of every partition whose msg_map byte k
//    is X << 2 | i (status set, src = X); the status byte is write-1-to-clear;
//  * data path (write_through/read_through): a store through partition X's BAR is translated by
//    X's last accepted configuration (LUT entry or direct window) into partition T's memory,
//    and delivered only if X's requester-ID table holds the root complex 00:00.0 (model: host
//    stores carry that requester ID) and T's host mapped memory at that IOVA.
//
// Threading: every access (the ports' GAS and config reads and writes, the test controls) takes
// one lock, so that the hosts of a job may run in threads of one test. on_change() is called
// with the lock held (it may call back into the model: the lock is recursive) whenever what a
// store through a BAR reaches may have changed: a configuration was accepted or reset, memory
// was added or removed (tests/support/ntb/switchtec_fabric.h routes BAR mappings with it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "pbx/base/clock.h"
#include "pbx/ntb/config_space.h"
#include "pbx/ntb/mmio.h"
#include "pbx/ntb/pacer.h"
#include "pbx/ntb/switchtec/switchtec_ntb.h"

namespace pbx::test {

// Error codes the model puts into the error registers (its own; see above).
enum : uint32_t {
  kModelLutOutOfRange = 1,
  kModelLutBadPartition = 2,
  kModelLutMisaligned = 3,
  kModelBarNotValid = 1,
  kModelLutExceedsBar = 2,
  kModelDirectBadSize = 3,
  kModelDirectMisaligned = 4,
  kModelDirectBadPartition = 5,
  kModelRidOutOfRange = 1,
};

struct SwitchtecPartitionSpec {
  bool nt = true;                  // an NT endpoint (in ep_map)
  uint64_t targets = 0;            // ntp_info target vector
  uint32_t xlink = 0;              // ntp_info xlink_enabled
  uint16_t lut_entries = 32;       // lut_table_entries of its control block
  uint16_t rid_entries = 16;       // req_id_table_size
  std::array<uint64_t, 6> bar_size{32ull << 20, 0, 4ull << 20, 0, 1ull << 20, 0};  // BAR0 = GAS
  std::array<bool, 6> bar_valid{false, false, true, false, true, false};
  uint16_t host_bridge = 0;        // ntb_info requester_id as this host sees it; 0: 0x0100 * (partition + 1)
  uint32_t link = 0;               // LNKSTA (speed | width << 4); 0: 16 GT/s x8
};

struct SwitchtecModelSpec {
  uint8_t partition_count = 2;
  std::vector<SwitchtecPartitionSpec> partitions;  // partition_count entries
  uint16_t vendor = 0x11f8;
  uint16_t device = 0x4036;        // PFX 36XG4
  uint32_t class_code = 0x068000;
  uint16_t command = ntb::pci::kCommandMemory | ntb::pci::kCommandMaster;
  unsigned lock_polls = 2;         // status reads spent in LOCKING
  unsigned cfg_polls = 2;          // status reads spent in CONFIGURING
  uint32_t status_high = 0xa5a50000;  // bits 31:16 of partition_status (the driver must mask them)

  // n NT partitions, each targeting all the others.
  static SwitchtecModelSpec mesh(unsigned n);
  // Two NT partitions without target vectors (Linux's rule finds the peer).
  static SwitchtecModelSpec linux_pair();
};

class SwitchtecModel {
 public:
  explicit SwitchtecModel(SwitchtecModelSpec spec);
  ~SwitchtecModel();
  SwitchtecModel(const SwitchtecModel&) = delete;
  SwitchtecModel& operator=(const SwitchtecModel&) = delete;

  // The NT endpoint of `partition`: its GAS (MmioModel) and config space, as its host sees them.
  class Port final : public ntb::MmioModel, public ntb::ConfigSpace {
   public:
    Port(SwitchtecModel& sw, unsigned partition) : sw_(&sw), partition_(partition) {}
    uint64_t mmio_read(std::size_t off, unsigned width) override;
    void mmio_write(std::size_t off, unsigned width, uint64_t value) override;
    Result<uint32_t> cfg_read(uint32_t off, unsigned width) override;
    Result<void> cfg_write(uint32_t off, unsigned width, uint32_t value) override;

   private:
    SwitchtecModel* sw_;
    unsigned partition_;
  };
  Port& port(unsigned partition) { return *ports_.at(partition); }

  // Attach parameters for the host of `partition` (PCI name 0000:0<p>:00.1).
  ntb::switchtec::SwitchtecNtb::AttachParams attach_params(unsigned partition, const Clock& clock,
                                                           ntb::Pacer& pacer);

  // ---- test controls -----------------------------------------------------------------------
  void stall(unsigned partition, bool stalled) { blk(partition).stalled = stalled; }  // stays LOCKING/CONFIGURING
  void force_lock(unsigned partition, unsigned owner);  // another host holds the lock
  void set_lut_entries(unsigned partition, uint16_t n);  // the switch's LUT count changes (a config reload)
  // Memory the host of `partition` DMA-mapped at `iova` (the target of windows into it), and its
  // unmapping.
  void add_memory(unsigned partition, uint64_t iova, std::span<std::byte> mem);
  void remove_memory(unsigned partition, uint64_t iova);
  // The link of `partition` to the switch goes down (LNKSTA without Data Link Layer Link Active)
  // or comes back (its spec value).
  void set_link_active(unsigned partition, bool active);
  // Called (with the model's lock held) when the translations or the memory behind them changed.
  void on_change(std::function<void()> f);
  // Runs `f` with the model's lock held.
  void locked(const std::function<void()>& f) {
    std::lock_guard lock(mu_);
    f();
  }
  // Where a store of `len` bytes through `from`'s BAR `bar` at `off` lands in a host's memory
  // (the pointer into the memory that host added), or nullptr when it would be dropped (why in
  // last_drop()). Does not count a drop.
  std::byte* resolve(unsigned from, unsigned bar, uint64_t off, std::size_t len);
  // The LUT windows partition `p`'s BAR `bar` has in its accepted configuration: (count, size).
  std::pair<unsigned, uint64_t> lut_windows(unsigned p, unsigned bar);
  // A store/load through `from`'s BAR `bar` at `off`; true if it reached memory.
  bool write_through(unsigned from, unsigned bar, uint64_t off, const void* data, std::size_t len);
  bool read_through(unsigned from, unsigned bar, uint64_t off, void* data, std::size_t len);

  // ---- inspection --------------------------------------------------------------------------
  const std::vector<std::string>& violations() const noexcept { return violations_; }
  unsigned lock_conflicts() const noexcept { return conflicts_; }
  std::size_t dropped() const noexcept { return dropped_; }
  const std::string& last_drop() const noexcept { return last_drop_; }
  uint64_t peek(std::size_t gas_off, unsigned width) const;
  // The whole GAS as the host of `partition` would read it (a BAR0 image for pbx-probe tests).
  std::vector<uint8_t> gas_image(unsigned partition) const;
  uint32_t status(unsigned partition) const { return blk(partition).status; }
  unsigned configures(unsigned partition) const { return blk(partition).configures; }
  const SwitchtecModelSpec& spec() const noexcept { return spec_; }

 private:
  struct Block {  // the state machine of one control block
    uint32_t status = ntb::switchtec::kStatusNormal;
    int owner = -1;
    unsigned countdown = 0;
    bool stalled = false;
    unsigned configures = 0;                     // accepted configurations
    std::vector<uint8_t> active;                 // the registers as last accepted
  };
  struct Memory {
    uint64_t iova;
    std::span<std::byte> mem;
  };
  friend class Port;

  Block& blk(unsigned p) { return blocks_.at(p); }
  const Block& blk(unsigned p) const { return blocks_.at(p); }
  uint64_t raw(std::size_t off, unsigned width) const;
  void set_raw(std::size_t off, unsigned width, uint64_t v);
  void violation(std::string s) { violations_.push_back(std::move(s)); }
  uint64_t read(unsigned who, std::size_t off, unsigned width);
  void write(unsigned who, std::size_t off, unsigned width, uint64_t v);
  // Register checks: the width of the register at `off` in its block; 0 if none.
  unsigned ctrl_width(std::size_t rel, bool* config, bool* ro) const;
  unsigned dbmsg_width(std::size_t rel) const;
  // Control blocks.
  uint32_t status_read(unsigned p);
  void op_write(unsigned who, unsigned p, uint32_t op);
  void finish(unsigned p);
  bool validate(unsigned p);
  uint64_t lut_size_of(unsigned p) const;
  // Doorbells and messages.
  void ring(unsigned from, uint64_t bits);
  void send_msg(unsigned from, unsigned idx, uint32_t v);
  // Data path.
  bool translate(unsigned from, unsigned bar, uint64_t off, std::size_t len, unsigned* to, uint64_t* addr);
  std::byte* memory_at(unsigned partition, uint64_t addr, std::size_t len);
  bool drop(std::string why);

  SwitchtecModelSpec spec_;
  std::vector<uint8_t> gas_;
  std::vector<Block> blocks_;
  std::vector<std::unique_ptr<Port>> ports_;
  std::map<unsigned, std::vector<Memory>> memory_;
  std::vector<std::string> violations_;
  unsigned conflicts_ = 0;
  std::size_t dropped_ = 0;
  std::string last_drop_;
  std::function<void()> on_change_;
  mutable std::recursive_mutex mu_;
};

}  // namespace pbx::test
