// The Microchip Switchtec HAL backend: N hosts through one switch, one NT partition each, driven
// through VFIO with driver/ntb/switchtec. Every host of the job is a node; the nodes are the
// job's partitions in partition order (node 0 = the lowest partition).
//
//   auto bdf = pbx::vfio::Bdf::parse("0000:03:00.1");          // the NT endpoint (pbx-probe lists it)
//   auto dev = pbx::hal::SwitchtecNtbDevice::open(*bdf);        // Result<std::unique_ptr<...>>
//   if (!dev) { log(dev.error().message()); return; }          // switch configuration, IOMMU, ...
//   pbx::hal::Device& hal = **dev;                              // info().node_count = partitions
//   while (!hal.link_status(NodeIdx(2)).up) serve_other_work(); // never blocks: a state machine
//   hal.peer_mw(NodeIdx(2))->store64(...);                       // lands in node 2's local_mw(self)
//
// The job: this partition and its NT target partitions. Every partition of the job must target
// all the others (a full mesh, as the switch configuration lists them), so that every host
// numbers the nodes alike; anything else is refused with the partition and the fix named.
//
// Windows (one per peer, through LUT windows; see pbx/hal/detail/switchtec_page.h for the
// page each window starts with):
//   * the LUT entries of each partition's control block are shared among its peers in equal
//     ranges (driver topology.h). Every host programs the ranges of its *own* block (only it
//     ever locks its block, so hosts starting together never contend for a lock) so that its
//     range for peer q leads to the memory q keeps for it: IOVA kIovaBase + node(self) * B in
//     q's IOMMU space, where B, the bytes of one peer's window, is the smallest range any
//     partition of the job has (all hosts compute the same B from the switch's registers);
//   * inbound: one DMA-mapped buffer of node_count * B bytes at kIovaBase; slot k (B bytes at
//     k * B) is what node k writes (slot self is the window to self, local memory);
//   * the first 4 KiB of every slot is the control page; the window postbox uses is what
//     follows: peer_mw(k) / local_mw(k) start 4 KiB into the range, window_size = B - 4 KiB
//     (or less, the `window_size` option; every host must use the same);
//   * direct windows (one partition per BAR) are not used.
//
// Link to node k: up while k's page in our memory shows the switch driver's magic, link_sta 1,
// k's partition, our window size and an acknowledgement of our current epoch (k has seen our
// page: our stores reach it), and k's partition link to the switch is active. A new epoch
// (k restarted), link_sta 0 (k closed) or k's partition link going down takes it down; every
// change is a new generation. link_status() never blocks: it reads k's page in local memory and,
// every `link_check_ns`, the partitions' link state and the message registers (a message
// means "look at my page"; only four peers have a message slot, so pages decide, not messages).
//
// Scratchpads 0..15 and doorbells 0..31 per peer are emulated in the pages (the switch's
// doorbells are shared by all partitions and cannot tell who rang): peer_db_set counts each
// bit in the page and rings the hardware doorbell only to wake the peer.
// Threading: as hal::Device (one thread at a time; windows usable from any thread).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pbx/base/clock.h"
#include "pbx/hal/detail/attach_backend.h"
#include "pbx/hal/detail/local_memory.h"
#include "pbx/hal/device.h"
#include "pbx/ntb/pacer.h"
#include "pbx/ntb/switchtec/switchtec_ntb.h"
#include "pbx/vfio/bdf.h"
#include "pbx/vfio/device.h"

namespace pbx::hal {

// What the backend needs from the platform: the NT endpoint's GAS (BAR0) and config space, the
// BAR holding the LUT windows mapped for stores, DMA mapping of local memory, and (optionally)
// interrupts.
class SwitchtecNtbPort {
 public:
  virtual ~SwitchtecNtbPort() = default;

  virtual std::string name() const = 0;
  // Memory decoding and bus mastering on.
  [[nodiscard]] virtual Result<void> enable_device() = 0;
  // GAS, config space, BAR sizes and kernel release for the register-level driver (the backend
  // fills in clock, pacer and timing).
  virtual ntb::switchtec::SwitchtecNtb::AttachParams attach_params() = 0;
  // BAR `bar` mapped for stores (write-combining where the port can), and how it is cached.
  [[nodiscard]] virtual Result<std::span<std::byte>> map_window_bar(unsigned bar) = 0;
  virtual MemType window_mem_type() const noexcept = 0;
  // Makes `mem` visible to the device at `iova` (IOMMU), and undoes it.
  [[nodiscard]] virtual Result<void> map_dma(std::span<std::byte> mem, uint64_t iova) = 0;
  virtual void unmap_dma(uint64_t iova) noexcept = 0;
  // Enables MSI-X vectors 0..count-1; returns how many it enabled (0: none, doorbells are
  // polled). Default: none.
  [[nodiscard]] virtual Result<uint16_t> enable_vectors(uint16_t count);
  // Waits until `vector` fires or `timeout_ns` passes; true if it fired.
  [[nodiscard]] virtual Result<bool> wait(uint16_t vector, uint64_t timeout_ns);
  // The BAR map_window_bar() mapped, as a mappable file (export_windows()); default: not supported.
  [[nodiscard]] virtual Result<MappableFile> window_file(unsigned bar);
};

struct SwitchtecNtbOptions {
  size_t window_size = 0;              // 0: the most every window holds; else a multiple of 4 KiB up to that
  bool write_combining = true;         // map the window BAR write-combining where possible
  PagePolicy pages = PagePolicy::kHugeIfAvailable;  // inbound memory
  uint64_t link_check_ns = 10'000'000;     // partition links and message registers are read this often
  uint64_t reannounce_ns = 100'000'000;    // our page is written again this often to a peer that is not up
  const Clock* clock = nullptr;        // nullptr: CLOCK_MONOTONIC
  ntb::Pacer* pacer = nullptr;         // between polls of a partition lock; nullptr: sleeps
  ntb::switchtec::TxnTiming timing{};  // lock/configure deadlines
  vfio::Options vfio;                  // unit tests: a fake SysApi

  [[nodiscard]] Result<void> validate() const;
};

class SwitchtecNtbDevice final : public Device {
 public:
  // Where every host's inbound buffer starts in its IOMMU space (above the 32-bit MSI / legacy
  // DMA range); the same on every host, as the peers' LUT entries point there.
  static constexpr uint64_t kIovaBase = uint64_t{1} << 32;
  static constexpr size_t kPageBytes = 4096;  // the control page at the start of every window

  // Opens the NT endpoint at `bdf` through VFIO (bound to vfio-pci: `pbx-probe bind`), or takes
  // a VFIO device already open (the factory identifies a device before choosing its backend).
  [[nodiscard]] static Result<std::unique_ptr<SwitchtecNtbDevice>> open(const vfio::Bdf& bdf,
                                                                        const SwitchtecNtbOptions& opts = {});
  [[nodiscard]] static Result<std::unique_ptr<SwitchtecNtbDevice>> open(vfio::VfioDevice dev,
                                                                        const SwitchtecNtbOptions& opts = {});
  // Runs the backend over `port` (the real device, or a switch model in unit tests).
  [[nodiscard]] static Result<std::unique_ptr<SwitchtecNtbDevice>> attach(std::unique_ptr<SwitchtecNtbPort> port,
                                                                          const SwitchtecNtbOptions& opts = {});
  // Tells every peer (link_sta 0, a message, a doorbell), turns our windows off, unmaps the DMA.
  ~SwitchtecNtbDevice() override;

  // The partition of each node (index = node).
  const std::vector<uint8_t>& partitions() const noexcept { return partitions_; }
  // Why the link to `peer` is not up, when it is not: no page yet, a mismatch, the peer's
  // partition link down. Empty when up. For tools and logs.
  std::string link_diagnostic(NodeIdx peer) const;
  // The bytes of one slot (control page + window), the same on every host.
  size_t slot_size() const noexcept { return slot_; }
  ntb::switchtec::SwitchtecNtb& ntb() noexcept { return *sw_; }

 private:
  // What this host knows about one node of the job.
  struct Peer {
    int pidx = -1;                       // the driver's peer index; -1 for self
    uint8_t partition = 0;
    std::byte* out_page = nullptr;       // the page we write at it (in the window BAR)
    const std::byte* in_page = nullptr;  // the page it writes at us (our memory)
    bool up = false;
    uint32_t generation = 0;
    uint32_t peer_epoch = 0;             // its epoch we acknowledged (0: none yet)
    bool page_written = false;           // our first announcement since open went out
    bool hw_active = true;               // its partition link, at the last check
    ntb::PcieLink link{};
    uint64_t last_announce_ns = 0;
    std::array<uint32_t, 32> db_out{};   // rings of each bit we made (since our open)
    std::array<uint32_t, 32> db_seen{};  // its counters as of our last db_clear
    std::string why;                     // why it is not up
  };

  template <class D, class P, class O>
  friend Result<std::unique_ptr<D>> detail::attach_backend(std::unique_ptr<P>, const O&);
  SwitchtecNtbDevice(std::unique_ptr<SwitchtecNtbPort> port, const SwitchtecNtbOptions& opts);
  Result<void> init();
  Result<void> plan_job();
  Result<void> setup_windows();
  void setup_interrupts() noexcept;
  Result<OutboundWindow> do_peer_mw(NodeIdx peer) override;
  Result<InboundWindow> do_local_mw(NodeIdx peer) override;
  LinkStatus do_link_status(NodeIdx peer) noexcept override;
  Result<uint32_t> do_spad_read(NodeIdx peer, SpadIdx idx) override;
  Result<void> do_peer_spad_write(NodeIdx peer, SpadIdx idx, uint32_t v) override;
  Result<void> do_peer_db_set(NodeIdx peer, uint64_t bits) override;
  Result<uint64_t> do_db_read(NodeIdx peer) override;
  Result<void> do_db_clear(NodeIdx peer, uint64_t bits) override;
  // Doorbell waits block on the doorbell vector's eventfd where the port has interrupts: the
  // hardware bit is cleared before each look, so the next ring interrupts again.
  uint64_t db_arm(NodeIdx peer) noexcept override;
  Result<void> db_sleep(NodeIdx peer, uint64_t token, uint64_t ns) override;
  // Outbound to node k = the window BAR's file at k's range + 4 KiB; inbound from k = the
  // inbound memfd at slot k + 4 KiB; to and from self = slot self.
  Result<std::vector<NodeWindowsExport>> do_export_windows() override;

  // The link state machine (switchtec_link.cpp).
  void announce(Peer& p) noexcept;
  void poll_page(Peer& p) noexcept;
  void check_hardware() noexcept;
  void set_up(Peer& p, bool up) noexcept;
  void leave() noexcept;

  std::unique_ptr<SwitchtecNtbPort> port_;
  SwitchtecNtbOptions opts_;
  MonotonicClock default_clock_;
  ntb::SleepPacer default_pacer_;
  const Clock* clock_;
  ntb::Pacer* pacer_;
  std::optional<ntb::switchtec::SwitchtecNtb> sw_;
  std::vector<uint8_t> partitions_;  // node -> partition
  std::vector<Peer> peers_;          // node -> peer state (self's entry unused)
  size_t slot_ = 0;                  // B: bytes of one window slot
  std::span<std::byte> bar_;         // the window BAR as mapped
  LocalMemory inbound_;              // node_count slots, DMA-mapped at kIovaBase
  bool dma_mapped_ = false;
  bool windows_set_ = false;
  uint32_t epoch_ = 0;               // ours, new at every open
  uint64_t next_check_ns_ = 0;       // of the partition links and messages
  uint16_t db_vector_ = 0;
  bool interrupts_ = false;
  uint32_t self_spads_[16] = {};
  uint64_t self_db_ = 0;
};

}  // namespace pbx::hal
