// A software model of the Intel Xeon NTB register files (gen3 and gen4) for unit tests: BAR0
// MMIO and config space with their semantics, and a back-to-back "cable" joining two models.
// It is a test tool, never the product: the driver reaches it through the same RegWindow and
// ConfigSpace interfaces that VFIO backs on hardware.
//
//   IntelNtbModel usd({.part = Part::kSpr, .side = Side::kUsd});
//   IntelNtbModel dsd({.part = Part::kSpr, .side = Side::kDsd});
//   connect_b2b(usd, dsd);                        // doorbells, scratchpads and link cross over
//   auto a = IntelNtb::attach(usd.attach_params("0000:af:00.0"));
//   ...
//   EXPECT_THAT(usd.violations(), IsEmpty());     // no access to an unknown register or bad width
//
// Semantics enforced:
//  * every BAR0 access must hit a known register with its exact width, else it is recorded as a
//    violation; writes to read-only registers are ignored and recorded;
//  * doorbell status (BAR0+0x40) is write-1-to-clear; gen4 SLOTSTS too;
//  * translation registers hold only what the hardware implements: XBASE bits below the
//    alignment (BAR size on gen3/ICX, 4 KiB on SPR+) read as 0; XBASEIDX holds 6 bits;
//  * stuck bits can be injected into any register (read-back verification tests);
//  * writing the peer bell (0x100 + 4*bit) sets `bit` in the peer's status; writing the peer
//    scratchpads (gen3 0x180, gen4 0x8080) lands in the peer's local ones (0x80); both are
//    dropped while the link is down;
//  * the link trains when both sides enabled it (gen3: NTBCNTL DISABLE and CFG_LOCK clear;
//    gen4: LINK_CTRL.LINK_DISABLE clear and PPD0.LINKTRN set) and the two sides are one USD and
//    one DSD; it comes up after `train_polls` link-status reads, and every change sets status
//    bit 32 on both sides.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pbx/ntb/config_space.h"
#include "pbx/ntb/intel/ids.h"
#include "pbx/ntb/intel/intel_ntb.h"
#include "pbx/ntb/intel/topology.h"
#include "pbx/ntb/mmio.h"

namespace pbx::test {

struct IntelNtbModelSpec {
  ntb::intel::Part part = ntb::intel::Part::kSkx;
  ntb::intel::Side side = ntb::intel::Side::kUsd;
  uint8_t revision = 0;              // 0: typical for the part (ICX 0x04, SPR 0x10)
  bool ppd_override = false;         // use `ppd` instead of B2B for `side`
  uint32_t ppd = 0;
  uint64_t bar0_addr = 0x3f000000000ull;
  uint64_t bar2_addr = 0x3f100000000ull;
  uint64_t bar2_size = 1ull << 20;
  uint64_t bar4_addr = 0x3f200000000ull;
  uint64_t bar4_size = 1ull << 20;
  bool bar4_32bit = false;           // BAR4 reads as a 32-bit BAR (split-BAR firmware)
  uint16_t command = ntb::pci::kCommandMemory | ntb::pci::kCommandMaster;
  uint16_t lnksta_up = 0;            // LNKSTS when up; 0: gen3 8 GT/s x16, gen4 16 GT/s x16
  unsigned train_polls = 2;          // link-status reads between "both enabled" and "up"
};

class IntelNtbModel final : public ntb::MmioModel, public ntb::ConfigSpace {
 public:
  explicit IntelNtbModel(const IntelNtbModelSpec& spec = {});
  ~IntelNtbModel() override;
  IntelNtbModel(const IntelNtbModel&) = delete;
  IntelNtbModel& operator=(const IntelNtbModel&) = delete;

  // Attach parameters for this model (config space, BAR0 model, BAR sizes).
  ntb::intel::IntelNtb::AttachParams attach_params(std::string name);

  // ntb::MmioModel
  uint64_t mmio_read(std::size_t off, unsigned width) override;
  void mmio_write(std::size_t off, unsigned width, uint64_t value) override;
  // ntb::ConfigSpace
  Result<uint32_t> cfg_read(uint32_t off, unsigned width) override;
  Result<void> cfg_write(uint32_t off, unsigned width, uint32_t value) override;

  // ---- test controls -----------------------------------------------------------------------
  // Bits in `mask` of the BAR0 register at `off` read as the same bits of `value`, whatever is
  // written (a stuck bit, a register that ignores writes).
  void stick(std::size_t off, uint64_t mask, uint64_t value);
  // PPD0.LINKTRN ignores writes (training cannot start).
  void set_linktrn_latches(bool latches) noexcept { linktrn_latches_ = latches; }
  // Config reads at `off` fail (as a failed VFIO pread would).
  void fail_cfg_reads_at(uint32_t off) { cfg_fail_.push_back(off); }
  // A hardware-side change of a register (no side effects, no checks).
  void poke(std::size_t off, unsigned width, uint64_t value);

  // ---- inspection (no side effects) ---------------------------------------------------------
  uint64_t peek(std::size_t off, unsigned width) const;
  const ntb::intel::PartInfo& part() const noexcept { return *part_; }
  bool link_enabled() const;  // this side asked for the link
  bool link_up() const;
  // Accesses to unknown registers, with a wrong width, or writes to read-only registers.
  const std::vector<std::string>& violations() const noexcept { return violations_; }
  // Doorbell rings and scratchpad writes to the peer dropped because the link was down.
  std::size_t dropped_peer_writes() const noexcept { return dropped_; }
  uint64_t status() const { return peek(0x40, 8); }

  struct Translation {
    bool open = false;   // limit above the BAR base: peer writes are translated
    uint64_t xlat = 0;   // where they land
    uint64_t size = 0;   // how many bytes of the window are translated
  };
  // The inbound translation of window `widx` as the hardware would apply it.
  Translation translation(unsigned widx) const;

  friend void connect_b2b(IntelNtbModel& a, IntelNtbModel& b);

 private:
  enum class Kind : uint8_t { kRW, kRO, kW1C, kBell, kPeerSpad, kLinkStatus };
  struct RegDesc {
    std::size_t off;
    unsigned width;
    Kind kind;
    uint64_t wmask;  // writable bits (kRW)
    std::string name;
  };
  struct Cable;

  void add(std::size_t off, unsigned width, Kind kind, std::string name, uint64_t wmask = ~uint64_t{0});
  void build_gen3();
  void build_gen4();
  void build_config();
  uint64_t raw(std::size_t off, unsigned width) const;
  void set_raw(std::size_t off, unsigned width, uint64_t v);
  uint16_t lnksta();
  void update_link();
  void set_status_bits(uint64_t bits);

  IntelNtbModelSpec spec_;
  const ntb::intel::PartInfo* part_;
  std::vector<uint8_t> bar0_;
  std::array<uint8_t, 4096> cfg_{};
  std::map<std::size_t, RegDesc> regs_;
  std::map<std::size_t, std::pair<uint64_t, uint64_t>> stuck_;  // off -> (mask, value)
  std::vector<uint32_t> cfg_fail_;
  std::vector<std::string> violations_;
  std::size_t dropped_ = 0;
  bool linktrn_latches_ = true;
  std::shared_ptr<Cable> cable_;
  IntelNtbModel* peer_ = nullptr;
};

// Joins two models back to back (one cable).
void connect_b2b(IntelNtbModel& a, IntelNtbModel& b);

}  // namespace pbx::test
