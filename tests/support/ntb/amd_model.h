// A software model of an AMD NTB's two sides for unit tests: each side's BAR0 registers (own
// file and the view of the peer's at +0x400), config space with a PCI Express capability, the
// scratchpad bank the sides share, doorbells, events and READY. A test tool, never the product.
//
//   AmdNtbPair pair;                              // primary + secondary, 148B by default
//   auto a = AmdNtb::attach(pair.primary().attach_params("0000:41:00.1"));
//   auto b = AmdNtb::attach(pair.secondary().attach_params("0000:42:00.1"));
//   pair.crash(Side::kSecondary);                 // the host dies: registers stay as they are
//
// Semantics (linux drivers/ntb/hw/amd/ntb_hw_amd.{c,h}):
//  * only the registers of amd/regs.h exist, each with its width; peer-view accesses
//    (0x800..0x8ff) reach the other side's 0x400..0x4ff;
//  * SIDEINFO: bit 0 (side) read-only, bit 1 (READY) read-write; READY keeps its value across a
//    crash of its host (the fact behind the dirty-shutdown rule);
//  * DBREQ sets bits in the peer's DBSTAT; DBSTAT and INTSTAT are write-1-to-clear;
//  * the scratchpads at 0x210 are one bank both sides see;
//  * a window: what side X stores through its window BAR at offset o < X's LMT lands at X's
//    XLAT + o in the peer's memory (the peer programs both through its peer view);
//  * physical link changes raise LINK_UP / LINK_DOWN in INTSTAT of the secondary always and of
//    the primary only when `primary_events` is on (the unreliable reporting TrueNAS saw).
// Threading: the BAR0 accesses of both sides take the pair's lock, so that the two hosts may run
// in threads of one test.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "pbx/ntb/amd/amd_ntb.h"
#include "pbx/ntb/config_space.h"
#include "pbx/ntb/mmio.h"

namespace pbx::test {

struct AmdNtbModelSpec {
  uint16_t vendor = ntb::amd::kVendorAmd;
  uint16_t device = 0x148b;
  uint16_t command = ntb::pci::kCommandMemory | ntb::pci::kCommandMaster;
  std::array<uint64_t, ntb::amd::kMaxMws> mw_size{1u << 20, 1u << 20, 0};
  uint16_t lnksta = 0x2000 | 4 | (8 << 4);  // 16 GT/s x8, link active
  bool primary_events = true;               // the primary side gets physical link events
};

class AmdNtbPair;

// A PCI function's config space with one PCI Express capability (at 0x40) whose Link
// Control/Status dword reads `lnksta` in its upper half.
class PcieConfigModel final : public ntb::ConfigSpace {
 public:
  PcieConfigModel(uint16_t vendor, uint16_t device, uint16_t command, uint16_t lnksta);
  Result<uint32_t> cfg_read(uint32_t off, unsigned width) override;
  Result<void> cfg_write(uint32_t off, unsigned width, uint32_t value) override;
  void set_lnksta(uint16_t v);
  void set_command(uint16_t v);

 private:
  std::array<uint8_t, 256> cfg_{};
};

class AmdNtbModel final : public ntb::MmioModel {
 public:
  AmdNtbModel(AmdNtbPair& pair, ntb::amd::Side side, const AmdNtbModelSpec& spec);

  // Attach parameters: BAR0 model, config space, link device (the secondary's upstream port).
  ntb::amd::AmdNtb::AttachParams attach_params(std::string name);

  uint64_t mmio_read(std::size_t off, unsigned width) override;
  void mmio_write(std::size_t off, unsigned width, uint64_t value) override;

  PcieConfigModel& config() noexcept { return cfg_; }
  PcieConfigModel& link_device() noexcept { return link_cfg_; }
  uint64_t peek(std::size_t off, unsigned width) const;  // own registers, no side effects
  void poke(std::size_t off, unsigned width, uint64_t v);
  bool ready() const { return (peek(0x408, 4) & ntb::amd::kSideReady) != 0; }
  const std::vector<std::string>& violations() const noexcept { return violations_; }
  // Memory this side's host DMA-mapped at `iova` (what the peer's windows lead to).
  void add_memory(uint64_t iova, std::span<std::byte> mem) { memory_.push_back({iova, mem}); }
  // A store through this side's window `widx` at offset `off`; true if it reached memory.
  bool write_through(unsigned widx, uint64_t off, const void* data, std::size_t len);

 private:
  friend class AmdNtbPair;
  struct Memory {
    uint64_t iova;
    std::span<std::byte> mem;
  };
  unsigned width_of(std::size_t own_off, bool peer_view) const;
  void store(std::size_t own_off, unsigned width, uint64_t v);
  AmdNtbModel& peer();

  AmdNtbPair* pair_;
  ntb::amd::Side side_;
  AmdNtbModelSpec spec_;
  std::array<uint8_t, 0x500> regs_{};
  PcieConfigModel cfg_;
  PcieConfigModel link_cfg_;
  std::vector<Memory> memory_;
  std::vector<std::string> violations_;
};

class AmdNtbPair {
 public:
  explicit AmdNtbPair(const AmdNtbModelSpec& spec = {});
  AmdNtbModel& primary() noexcept { return *primary_; }
  AmdNtbModel& secondary() noexcept { return *secondary_; }
  AmdNtbModel& side(ntb::amd::Side s) noexcept { return s == ntb::amd::Side::kPrimary ? primary() : secondary(); }

  // The physical link goes down or up (a host reboots, a cable is pulled).
  void physical_link(bool up);
  // The host of `s` dies without its driver running its shutdown: nothing in the registers
  // changes (READY stays set); the host's next driver attaches to the same model.
  void crash(ntb::amd::Side) {}

 private:
  friend class AmdNtbModel;
  AmdNtbModelSpec spec_;
  std::array<uint32_t, ntb::amd::kSpadCount> spads_{};
  std::unique_ptr<AmdNtbModel> primary_;
  std::unique_ptr<AmdNtbModel> secondary_;
  std::recursive_mutex mu_;
};

}  // namespace pbx::test
