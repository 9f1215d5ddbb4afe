// Ivshmem: QEMU's inter-VM shared-memory device (1af4:1110) driven through VFIO, an NTB-like
// device: a shared window (BAR2) that every VM on the same ivshmem server maps, peer IDs, and
// doorbells that raise an MSI-X vector in another VM.
//
//   auto found = pbx::ivshmem::find_devices();         // or Bdf::parse("0000:00:04.0")
//   auto dev = pbx::ivshmem::Ivshmem::open(found->at(0).bdf);  // BAR0 + BAR2, MSI-X as eventfds
//   if (!dev) { log(dev.error().message()); return; }
//   uint16_t me = dev->peer_id();                      // IVPosition
//   std::span<std::byte> ctl = dev->shared_memory();   // BAR2 uncached: control words, atomics
//   auto data = dev->shared_memory_data();             // BAR2 again, write-combining where possible
//   dev->ring(/*peer_id=*/1, /*vector=*/0);            // interrupt vector 0 of peer 1
//   auto fired = dev->wait(0, 1'000'000'000);          // wait up to 1 s for our vector 0
//
// ivshmem-plain (no server) has no MSI-X: vector_count() is 0, peer_id() is 0, and ring() is
// ignored by the device. Bus mastering is enabled at open (MSI-X needs it).
// Threading: one thread at a time, except that waits on distinct vectors may run concurrently
// with each other and with ring().
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "pbx/base/error.h"
#include "pbx/ivshmem/regs.h"
#include "pbx/vfio/device.h"
#include "pbx/vfio/pci_scan.h"

namespace pbx::ivshmem {

struct Options {
  vfio::Options vfio;             // tests pass a mock SysApi here
  bool write_combining = true;    // also map BAR2 through resource2_wc where possible (root)
  uint32_t vectors = 0;           // MSI-X vectors to enable; 0: all the device has
};

// Every ivshmem device of this machine (in a VM: usually one), in address order.
[[nodiscard]] inline Result<std::vector<vfio::PciDeviceEntry>> find_devices(
    vfio::SysApi& sys = vfio::system_sys_api()) {
  return vfio::find_pci_devices(kVendorId, kDeviceId, sys);
}

class Ivshmem {
 public:
  [[nodiscard]] static Result<Ivshmem> open(const vfio::Bdf& bdf, const Options& opts = {});

  Ivshmem(Ivshmem&&) noexcept = default;
  Ivshmem& operator=(Ivshmem&&) = delete;

  const vfio::Bdf& bdf() const noexcept { return dev_.bdf(); }
  uint16_t peer_id() const noexcept { return peer_id_; }
  uint8_t revision() const noexcept { return revision_; }

  // BAR2 mapped uncached. Atomic read-modify-write (lock-prefixed on x86) is defined here,
  // not on a write-combining mapping: keep control words that need it in this view.
  std::span<std::byte> shared_memory() const noexcept { return shm_.mem; }
  // BAR2 mapped for bulk data: write-combining where the platform offers it (Options), else
  // the same uncached mapping. Its note says why it is not write-combining, if asked for.
  const vfio::BarView& shared_memory_data() const noexcept { return shm_data_; }

  uint32_t vector_count() const noexcept;
  // Interrupts `vector` of peer `peer_id` (one posted MMIO write). Orders nothing by itself:
  // callers that publish data first put their barrier before it.
  void ring(uint16_t peer_id, uint16_t vector) noexcept { regs_.write(Regs::doorbell, doorbell_value(peer_id, vector)); }
  // Waits until our `vector` fires or `timeout_ns` passes (negative: forever); true if it
  // fired. Pending interrupts are consumed.
  [[nodiscard]] Result<bool> wait(uint16_t vector, int64_t timeout_ns);
  // The eventfd of our `vector` (to poll/epoll it with other descriptors), or -1.
  int vector_fd(uint16_t vector) noexcept;

  vfio::VfioDevice& vfio() noexcept { return dev_; }

 private:
  explicit Ivshmem(vfio::VfioDevice dev) noexcept : dev_(std::move(dev)) {}

  vfio::VfioDevice dev_;
  mmio::RegWindow<Regs> regs_;
  vfio::BarView shm_;
  vfio::BarView shm_data_;
  uint16_t peer_id_ = 0;
  uint8_t revision_ = 0;
};

}  // namespace pbx::ivshmem
