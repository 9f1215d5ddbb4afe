// The Intel Xeon NTB HAL backend: two hosts back to back (node 0 = the USD side, node 1 = the
// DSD side), driven through VFIO with driver/ntb/intel.
//
//   auto bdf = pbx::vfio::Bdf::parse("0000:af:00.0");          // pbx-probe lists candidates
//   auto dev = pbx::hal::IntelNtbDevice::open(*bdf);            // Result<std::unique_ptr<...>>
//   if (!dev) { log(dev.error().message()); return; }          // BIOS, BAR, IOMMU, hugepage hints
//   pbx::hal::Device& hal = **dev;
//   NodeIdx peer(1 - hal.info().self.v);
//   while (!hal.link_status(peer).up) serve_other_work();      // never blocks: a state machine
//   auto out = hal.peer_mw(peer);                               // BAR2, write-combining if possible
//   out->write(0, msg, n); out->flush(); out->store64(...);     // lands in the peer's inbound memory
//   auto in = hal.local_mw(peer);                               // hugepages, DMA-mapped, translated
//
// Windows: outbound = BAR2 (memory window 0), mapped write-combining where the platform allows
// (sysfs resource2_wc, root), else uncached. Inbound = window_size bytes of local memory in a
// memfd (hugepages where available), DMA-mapped at an IOVA aligned to the window size and
// programmed into the translation registers, so that what the peer writes into its BAR2 lands
// there. BAR4 is not used. Windows to self (traffic between processes of one node) are local
// memory. window_size is the BAR2 size unless set smaller; both hosts must use the same.
//
// Link: up once the NTB link is up and the scratchpad handshake says the peer's inbound window is
// programmed (pbx/hal/detail/intel_ntb_handshake.h). link_status() advances the bring-up state
// machine by one step per call (deadlines from the injected clock); it never blocks. Closing the
// device tells the peer (handshake "gone"), closes the translation, unmaps the DMA and disables
// the link. A peer process that dies without closing is seen only when its host resets the link.
//
// Scratchpads 0..11 and doorbells 0..30 are the users'; 12..15 and 31 belong to the handshake.
// Threading: as hal::Device (one thread at a time; windows usable from any thread).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pbx/base/clock.h"
#include "pbx/hal/detail/attach_backend.h"
#include "pbx/hal/detail/local_memory.h"
#include "pbx/hal/detail/ntb_pair_device.h"
#include "pbx/hal/device.h"
#include "pbx/ntb/intel/intel_ntb.h"
#include "pbx/ntb/intel/link_bringup.h"
#include "pbx/vfio/bdf.h"
#include "pbx/vfio/device.h"

namespace pbx::hal {

// What the backend needs from the platform: the NTB's registers and config space, its BAR2
// mapped for stores, DMA mapping of local memory, and (optionally) interrupts.
class IntelNtbPort {
 public:
  virtual ~IntelNtbPort() = default;

  // The device's PCI address, for messages.
  virtual std::string name() const = 0;
  // Memory decoding and bus mastering on (the NTB writes the peer's data into our memory).
  [[nodiscard]] virtual Result<void> enable_device() = 0;
  // How the register-level driver reaches BAR0 and config space, and the window BAR sizes.
  virtual ntb::intel::IntelNtb::AttachParams attach_params() = 0;
  // BAR2 mapped for stores (the outbound window), and how it is cached.
  [[nodiscard]] virtual Result<std::span<std::byte>> map_outbound() = 0;
  virtual MemType outbound_mem_type() const noexcept = 0;
  // Makes `mem` visible to the device at `iova` (IOMMU), and undoes it.
  [[nodiscard]] virtual Result<void> map_dma(std::span<std::byte> mem, uint64_t iova) = 0;
  virtual void unmap_dma(uint64_t iova) noexcept = 0;
  // MSI-X vectors the backend can wait on (2 used); 0: none, doorbells are polled.
  virtual uint16_t vector_count() const noexcept = 0;
  // Waits until `vector` fires or `timeout_ns` passes; true if it fired.
  [[nodiscard]] virtual Result<bool> wait(uint16_t vector, uint64_t timeout_ns) = 0;
  // BAR2 as map_outbound() mapped it, as a mappable file: byte b of BAR2 is at offset + b in fd
  // (the real device: the VFIO device fd at BAR2's region offset, uncached, or the sysfs
  // resource2_wc file at 0 where the port mapped BAR2 write-combining). For export_windows();
  // default: not supported.
  [[nodiscard]] virtual Result<MappableFile> outbound_file();
};

struct IntelNtbOptions {
  size_t window_size = 0;                      // 0: the BAR2 size; else a power of two <= BAR2, >= 4 KiB
  bool write_combining = true;                 // map BAR2 write-combining where possible
  PagePolicy pages = PagePolicy::kHugeIfAvailable;  // inbound memory
  uint64_t link_timeout_ns = 30'000'000'000;   // per bring-up attempt; then a diagnostic and a new attempt
  const Clock* clock = nullptr;           // nullptr: CLOCK_MONOTONIC
  vfio::Options vfio;                          // unit tests: a fake SysApi

  [[nodiscard]] Result<void> validate() const;
};

extern template class NtbPairDevice<ntb::intel::IntelNtb, IntelNtbPort>;

// Windows, scratchpads and doorbells as every two-host NTB (detail/ntb_pair_device.h); the
// Intel bring-up, handshake and interrupts here.
class IntelNtbDevice final : public NtbPairDevice<ntb::intel::IntelNtb, IntelNtbPort> {
 public:
  // Opens the NTB at `bdf` through VFIO (bound to vfio-pci: `pbx-probe bind`).
  [[nodiscard]] static Result<std::unique_ptr<IntelNtbDevice>> open(const vfio::Bdf& bdf,
                                                                    const IntelNtbOptions& opts = {});
  // The same over a VFIO device already open (the factory identifies a device first).
  [[nodiscard]] static Result<std::unique_ptr<IntelNtbDevice>> open(vfio::VfioDevice dev,
                                                                    const IntelNtbOptions& opts = {});
  // Runs the backend over `port` (the real device, or a register model in unit tests).
  [[nodiscard]] static Result<std::unique_ptr<IntelNtbDevice>> attach(std::unique_ptr<IntelNtbPort> port,
                                                                      const IntelNtbOptions& opts = {});
  ~IntelNtbDevice() override;

  // (link_diagnostic(), inbound_iova() and ntb(): NtbPairDevice.)
  size_t inbound_page_size() const noexcept { return inbound_memory().page_size(); }

 private:
  enum class Phase : uint8_t { kTraining, kHandshake, kUp };

  template <class D, class P, class O>
  friend Result<std::unique_ptr<D>> detail::attach_backend(std::unique_ptr<P>, const O&);
  explicit IntelNtbDevice(std::unique_ptr<IntelNtbPort> port, const IntelNtbOptions& opts);
  Result<void> init();
  LinkStatus do_link_status(NodeIdx peer) noexcept override;
  // Doorbell waits block on the user vector's eventfd where the device has two vectors.
  Result<void> db_sleep(NodeIdx peer, uint64_t token, uint64_t ns) override;
  // For a node manager (postboxd): the outbound window is the port's BAR2 file.
  Result<std::vector<NodeWindowsExport>> do_export_windows() override;
  void advance() noexcept;
  void restart_training() noexcept;
  void announce() noexcept;
  void go_down() noexcept;

  IntelNtbOptions opts_;
  std::optional<ntb::intel::LinkBringUp> bringup_;
  Phase phase_ = Phase::kTraining;
  uint32_t generation_ = 0;
  uint32_t epoch_ = 0;       // ours
  uint32_t peer_epoch_ = 0;  // the peer's, while up
  ntb::PcieLink link_{};
};

}  // namespace pbx::hal
