// The AMD (and Hygon) NTB HAL backend: two hosts back to back (node 0 = the primary side, node 1
// = the secondary side), driven through VFIO with driver/ntb/amd.
//
//   auto bdf = pbx::vfio::Bdf::parse("0000:41:00.1");          // pbx-probe lists candidates
//   auto dev = pbx::hal::AmdNtbDevice::open(*bdf);              // Result<std::unique_ptr<...>>
//   if (!dev) { log(dev.error().message()); return; }
//   pbx::hal::Device& hal = **dev;
//   NodeIdx peer(1 - hal.info().self.v);
//   while (!hal.link_status(peer).up) serve_other_work();      // never blocks: a state machine
//
// Windows: outbound = the part's first window BAR (BAR2 on most parts, BAR1 on 145B), mapped
// write-combining where the platform allows, else uncached. Inbound = window_size bytes of local
// memory (hugepages where available), DMA-mapped above 4 GiB and programmed into the peer's
// XLAT/LMT registers of that window (through the peer view, with read-back), so that what the
// peer writes into its window lands there. Windows to self are local memory. window_size is
// the BAR size unless set smaller; both hosts must use the same.
//
// Link: up once the driver's bring-up (AmdLinkBringUp: SIDEINFO.READY on both sides, with the
// dirty-shutdown rule: a READY left set by a crash is cleared, the peer is rung and the backend
// waits dirty_wait_ns before announcing again) says the peer's driver is loaded, and the
// scratchpad handshake says the peer's inbound window is programmed and that it has seen ours:
// each side writes into the other's scratchpads 4..7 (spad 4 "PBXA" = announced or "GONE" =
// closed, window size in pages, an epoch new at every open, and the peer epoch it has seen) and
// rings doorbell 14; the link is up once the peer's scratchpads acknowledge our epoch. Whenever
// the driver's link goes down, what the peer wrote is forgotten (a host that crashed leaves its
// last announcement behind); a side that sees a new peer epoch, or none of its own acknowledged,
// writes its scratchpads again. link_status() advances both by one step per call; it never
// blocks. Closing the device tells the peer ("GONE"), closes the translation, unmaps the DMA,
// clears READY and rings the goodbye doorbell.
//
// Scratchpads 0..3 and doorbells 0..13 are the users' (AMD has 8 scratchpads per side and 15
// doorbells besides the goodbye bit). Doorbells are polled (no MSI-X yet).
// Threading: as hal::Device (one thread at a time; windows usable from any thread).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "pbx/base/clock.h"
#include "pbx/hal/detail/attach_backend.h"
#include "pbx/hal/detail/local_memory.h"
#include "pbx/hal/detail/ntb_pair_device.h"
#include "pbx/hal/device.h"
#include "pbx/ntb/amd/amd_ntb.h"
#include "pbx/ntb/amd/link_bringup.h"
#include "pbx/vfio/bdf.h"
#include "pbx/vfio/device.h"

namespace pbx::hal {

namespace amd_handshake {
inline constexpr unsigned kUserSpads = 4;
inline constexpr unsigned kSpadMagic = 4;        // kMagic: announced; kGone: closed; 0: nothing yet
inline constexpr unsigned kSpadWindowPages = 5;
inline constexpr unsigned kSpadEpoch = 6;
inline constexpr unsigned kSpadAck = 7;          // the peer's epoch the writer has seen
inline constexpr uint32_t kMagic = 0x41584250;   // "PBXA"
inline constexpr uint32_t kGone = 0x454e4f47;    // "GONE"
inline constexpr unsigned kDbBit = 14;
inline constexpr uint64_t kDbMask = uint64_t{1} << kDbBit;
inline constexpr uint64_t kUserDbMask = kDbMask - 1;  // doorbells 0..13
}  // namespace amd_handshake

// What the backend needs from the platform: the NTB's BAR0 and config space (and that of the
// device reporting its link), its first window BAR mapped for stores, DMA mapping.
class AmdNtbPort {
 public:
  virtual ~AmdNtbPort() = default;

  virtual std::string name() const = 0;
  [[nodiscard]] virtual Result<void> enable_device() = 0;
  virtual ntb::amd::AmdNtb::AttachParams attach_params() = 0;
  // Window BAR `bar` mapped for stores, and how it is cached.
  [[nodiscard]] virtual Result<std::span<std::byte>> map_window_bar(unsigned bar) = 0;
  virtual MemType window_mem_type() const noexcept = 0;
  [[nodiscard]] virtual Result<void> map_dma(std::span<std::byte> mem, uint64_t iova) = 0;
  virtual void unmap_dma(uint64_t iova) noexcept = 0;
  // The BAR map_window_bar() mapped, as a mappable file (export_windows()); default: not supported.
  [[nodiscard]] virtual Result<MappableFile> window_file(unsigned bar);
};

struct AmdNtbOptions {
  size_t window_size = 0;                      // 0: the window BAR's size; else a multiple of 4 KiB up to it
  bool write_combining = true;
  PagePolicy pages = PagePolicy::kHugeIfAvailable;
  uint64_t link_timeout_ns = 30'000'000'000;   // per bring-up attempt; then a diagnostic and a new attempt
  uint64_t dirty_wait_ns = ntb::amd::AmdLinkBringUp::kDirtyWaitNs;
  uint64_t reannounce_ns = 100'000'000;        // our scratchpads are written again this often while not up
  const Clock* clock = nullptr;                // nullptr: CLOCK_MONOTONIC
  vfio::Options vfio;

  [[nodiscard]] Result<void> validate() const;
};

extern template class NtbPairDevice<ntb::amd::AmdNtb, AmdNtbPort>;

// Windows, scratchpads and doorbells as every two-host NTB (detail/ntb_pair_device.h); the AMD
// bring-up and handshake here.
class AmdNtbDevice final : public NtbPairDevice<ntb::amd::AmdNtb, AmdNtbPort> {
 public:
  [[nodiscard]] static Result<std::unique_ptr<AmdNtbDevice>> open(const vfio::Bdf& bdf, const AmdNtbOptions& opts = {});
  [[nodiscard]] static Result<std::unique_ptr<AmdNtbDevice>> open(vfio::VfioDevice dev, const AmdNtbOptions& opts = {});
  [[nodiscard]] static Result<std::unique_ptr<AmdNtbDevice>> attach(std::unique_ptr<AmdNtbPort> port,
                                                                    const AmdNtbOptions& opts = {});
  ~AmdNtbDevice() override;

  // (link_diagnostic(), inbound_iova() and ntb(): NtbPairDevice.)
  const ntb::amd::AmdLinkBringUp& bringup() const noexcept { return *bringup_; }

 private:
  template <class D, class P, class O>
  friend Result<std::unique_ptr<D>> detail::attach_backend(std::unique_ptr<P>, const O&);
  AmdNtbDevice(std::unique_ptr<AmdNtbPort> port, const AmdNtbOptions& opts);
  Result<void> init();
  LinkStatus do_link_status(NodeIdx peer) noexcept override;
  // For a node manager (postboxd): the outbound window is the port's window BAR file.
  Result<std::vector<NodeWindowsExport>> do_export_windows() override;
  void advance() noexcept;
  void restart_bringup() noexcept;
  void announce() noexcept;
  void handshake() noexcept;
  void go_down() noexcept;

  enum class Phase : uint8_t { kBringUp, kHandshake, kUp };

  AmdNtbOptions opts_;
  std::optional<ntb::amd::AmdLinkBringUp> bringup_;
  Phase phase_ = Phase::kBringUp;
  uint32_t generation_ = 0;
  uint32_t bringup_generation_ = 0;
  uint32_t epoch_ = 0;
  uint32_t peer_epoch_ = 0;
  uint64_t last_announce_ns_ = 0;
};

}  // namespace pbx::hal
