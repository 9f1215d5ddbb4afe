// The ivshmem HAL backend: each VM is a node, linked to the others through QEMU's ivshmem
// device (one shared memory, doorbells as MSI-X interrupts), driven through VFIO.
//
//   auto bdf = pbx::vfio::Bdf::parse("0000:00:04.0");   // or pbx::ivshmem::find_devices()
//   auto dev = pbx::hal::IvshmemDevice::open(*bdf, {.node_count = 2});
//   if (!dev) { log(dev.error().message()); return; }           // Result<std::unique_ptr<...>>
//   pbx::hal::Device& hal = **dev;                               // node index = IVPosition
//   NodeIdx peer(1 - hal.info().self.v);
//   while (!hal.link_status(peer).up) { /* the other VM has not opened its device yet */ }
//   auto out = hal.peer_mw(peer);                                // write the peer's memory
//   out->store64(0, 42, pbx::hal::StoreKind::kControl);
//   hal.peer_db_set(peer, 1);                                    // bit + MSI-X interrupt
//   auto bits = hal.db_wait(peer, 1'000'000'000);                // blocks on our eventfd
//
// Scratchpads, doorbell bits and link state are emulated in a control area at the start of the
// shared memory (pbx/hal/detail/ivshmem_layout.h); windows follow it. Every node must be opened
// with the same node_count (and window_size, or 0 to take what the first node chose). Node
// indices are ivshmem peer IDs (IVPosition), which the ivshmem server hands out from 0 in
// connection order; a node with an ID >= node_count is refused.
//
// Link: up while both nodes have the device open. Destroying the device takes this node's links
// down. A VM that dies without closing stays "up" until it opens the device again, which peers
// see as a new generation (ivshmem has no link events and no heartbeat is kept here).
// Stores through an outbound window land in shared memory whatever the link state.
//
// attach() runs the same backend over any IvshmemPort: unit tests use one over a memfd and
// eventfds (tests/support); the product path is open(), over the real device.
// Threading: as hal::Device (one thread at a time; windows usable from any thread).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "pbx/hal/device.h"
#include "pbx/vfio/bdf.h"
#include "pbx/vfio/device.h"

namespace pbx::hal {

// What the backend needs from an ivshmem-like device: a shared-memory span, a doorbell ringer
// and an interrupt waiter.
class IvshmemPort {
 public:
  virtual ~IvshmemPort() = default;

  // Names the device in messages ("0000:00:04.0").
  virtual std::string name() const = 0;
  // The shared memory, mapped so that atomic read-modify-write is defined (uncached or
  // write-back, never write-combining).
  virtual std::span<std::byte> control_memory() const noexcept = 0;
  // The same bytes, mapped for bulk stores (may be the same mapping), and how it is cached.
  virtual std::span<std::byte> data_memory() const noexcept = 0;
  virtual MemType data_mem_type() const noexcept = 0;
  // This node's peer ID (ivshmem IVPosition).
  virtual uint16_t peer_id() const noexcept = 0;
  // Interrupt vectors this node can wait on; 0: none (doorbells are then polled).
  virtual uint16_t vector_count() const noexcept = 0;
  // Interrupts `vector` of peer `peer_id`: one posted write, lost if the peer is not there.
  virtual void ring(uint16_t peer_id, uint16_t vector) noexcept = 0;
  // Waits until our `vector` fires or `timeout_ns` passes; true if it fired (drained).
  [[nodiscard]] virtual Result<bool> wait(uint16_t vector, uint64_t timeout_ns) = 0;
  // The shared memory as a mappable file: byte b of it is at offset + b in fd (the real device:
  // the VFIO device fd at BAR2's region offset). For export_windows(); default: not supported.
  [[nodiscard]] virtual Result<MappableFile> shared_memory_file();
};

struct IvshmemOptions {
  uint16_t node_count = 2;            // nodes of the job, 1..64; the same on every node
  size_t window_size = 0;             // bytes per window, a multiple of 4 KiB; 0: the largest that fits
  std::optional<uint16_t> self;       // node index; default IVPosition. Needed on ivshmem-plain
  bool write_combining = true;        // outbound windows write-combining where possible (root)
  uint64_t init_timeout_ns = 10'000'000'000;  // wait this long for another node writing the header
  vfio::Options vfio;                 // unit tests: a mock SysApi

  [[nodiscard]] Result<void> validate() const;
};

class IvshmemDevice final : public Device {
 public:
  // Opens the ivshmem device at `bdf` through VFIO and joins the fabric on it.
  [[nodiscard]] static Result<std::unique_ptr<IvshmemDevice>> open(const vfio::Bdf& bdf,
                                                                   const IvshmemOptions& opts = {});
  // Joins the fabric through `port` (the real device, or a unit-test port).
  [[nodiscard]] static Result<std::unique_ptr<IvshmemDevice>> attach(std::unique_ptr<IvshmemPort> port,
                                                                     const IvshmemOptions& opts = {});
  // Leaves the fabric: peers see the link to this node go down.
  ~IvshmemDevice() override;

  IvshmemPort& port() noexcept { return *port_; }

 private:
  explicit IvshmemDevice(std::unique_ptr<IvshmemPort> port);
  Result<void> join(const IvshmemOptions& opts);
  Result<size_t> init_or_check_header(const IvshmemOptions& opts);
  Result<OutboundWindow> do_peer_mw(NodeIdx peer) override;
  Result<InboundWindow> do_local_mw(NodeIdx peer) override;
  LinkStatus do_link_status(NodeIdx peer) noexcept override;
  Result<uint32_t> do_spad_read(NodeIdx peer, SpadIdx idx) override;
  Result<void> do_peer_spad_write(NodeIdx peer, SpadIdx idx, uint32_t v) override;
  Result<void> do_peer_db_set(NodeIdx peer, uint64_t bits) override;
  Result<uint64_t> do_db_read(NodeIdx peer) override;
  Result<void> do_db_clear(NodeIdx peer, uint64_t bits) override;
  // Doorbell waits block on this node's interrupt (eventfd) for `peer`'s vector; they poll
  // only where the device has no interrupts (ivshmem-plain).
  Result<void> db_sleep(NodeIdx peer, uint64_t token, uint64_t ns) override;
  // The windows inside the port's shared-memory file (the VFIO device fd at BAR2's region
  // offset): a process that receives the fd maps them uncached, as vfio-pci maps BARs.
  Result<std::vector<NodeWindowsExport>> do_export_windows() override;
  uint16_t vector_for(uint16_t src, uint16_t dst_vectors) const noexcept;

  std::unique_ptr<IvshmemPort> port_;
  std::byte* ctl_ = nullptr;   // control view of the shared memory
  std::byte* data_ = nullptr;  // data view of the same memory
  size_t shm_size_ = 0;
  uint16_t nodes_ = 0;
  uint64_t my_epoch_ = 0;      // 0: not announced
  uint16_t my_vectors_ = 0;
};

}  // namespace pbx::hal
