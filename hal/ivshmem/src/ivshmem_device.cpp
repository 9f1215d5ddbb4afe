// The ivshmem HAL backend over an IvshmemPort: control area (header, node epochs, scratchpads,
// doorbell bits) and windows in one shared memory; doorbells ring the peer's interrupt vector.
#include <time.h>

#include <atomic>
#include <cinttypes>
#include <cstring>

#include "pbx/base/barrier.h"
#include "pbx/hal/detail/ivshmem_layout.h"
#include "pbx/hal/ivshmem.h"

namespace pbx::hal {

namespace L = ivshmem_layout;

namespace {

template <class T>
std::atomic_ref<T> word(std::byte* base, size_t off) {
  return std::atomic_ref<T>(*reinterpret_cast<T*>(base + off));  // NOLINT: shared control memory
}

bool present(uint64_t epoch) { return (epoch & 1) != 0; }

void nap_100us() {
  const timespec ts{0, 100'000};
  ::nanosleep(&ts, nullptr);
}

}  // namespace

Result<void> IvshmemOptions::validate() const {
  if (node_count < 1 || node_count > L::kMaxNodes)
    return fail(Errc::kInvalidArgument, "ivshmem: node_count = %u is out of range 1..%u", node_count, L::kMaxNodes);
  if (window_size % L::kWindowAlign != 0)
    return fail(Errc::kInvalidArgument, "ivshmem: window_size = %zu is not a multiple of %zu (or 0 for the largest)",
                window_size, L::kWindowAlign);
  if (self && *self >= node_count)
    return fail(Errc::kInvalidArgument, "ivshmem: self = %u is not below node_count = %u", *self, node_count);
  return {};
}

Result<MappableFile> IvshmemPort::shared_memory_file() {
  return fail(Errc::kNotSupported, "%s: this ivshmem port cannot hand its shared memory to other processes",
              name().c_str());
}

IvshmemDevice::IvshmemDevice(std::unique_ptr<IvshmemPort> port) : port_(std::move(port)) {}

Result<std::unique_ptr<IvshmemDevice>> IvshmemDevice::attach(std::unique_ptr<IvshmemPort> port,
                                                             const IvshmemOptions& opts) {
  if (auto ok = opts.validate(); !ok) return tl::unexpected(ok.error());
  std::unique_ptr<IvshmemDevice> dev(new IvshmemDevice(std::move(port)));
  if (auto ok = dev->join(opts); !ok) return tl::unexpected(ok.error());
  return dev;
}

Result<void> IvshmemDevice::join(const IvshmemOptions& opts) {
  const std::string name = port_->name();
  const auto ctl = port_->control_memory();
  const auto data = port_->data_memory();
  if (ctl.size() != data.size() || ctl.empty())
    return fail(Errc::kInvalidArgument, "%s: ivshmem port: control (%zu bytes) and data (%zu bytes) views differ",
                name.c_str(), ctl.size(), data.size());
  ctl_ = ctl.data();
  data_ = data.data();
  shm_size_ = ctl.size();
  nodes_ = opts.node_count;
  my_vectors_ = port_->vector_count();

  // Which node this is.
  const uint16_t ivpos = port_->peer_id();
  uint16_t self = ivpos;
  if (opts.self) {
    if (my_vectors_ > 0 && *opts.self != ivpos)
      return fail(Errc::kInvalidArgument,
                  "%s: self = %u but the device's IVPosition is %u: peers ring doorbells by IVPosition, so "
                  "leave self unset (it defaults to IVPosition)",
                  name.c_str(), *opts.self, ivpos);
    self = *opts.self;
  } else if (my_vectors_ == 0 && nodes_ > 1) {
    return fail(Errc::kInvalidArgument,
                "%s: the device has no interrupts (ivshmem-plain), so every VM reads IVPosition 0: set "
                "IvshmemOptions::self to this VM's node index, or use ivshmem-doorbell with an ivshmem server",
                name.c_str());
  }
  if (self >= nodes_)
    return fail(Errc::kInvalidArgument,
                "%s: this VM's ivshmem peer ID (IVPosition) is %u, not below node_count = %u: the ivshmem "
                "server numbers VMs from 0 in connection order; set node_count to the number of VMs, or restart "
                "the server and the VMs",
                name.c_str(), self, nodes_);

  auto window_size = init_or_check_header(opts);
  if (!window_size) return tl::unexpected(window_size.error());

  const L::Layout lay(nodes_);
  // Our inbound windows start empty: what an earlier run left in the shared memory must not
  // read as this run's segments, indicators or presence lines. Peers write into them only once
  // the link to us is up, which the epoch below announces.
  for (uint16_t src = 0; src < nodes_; ++src) std::memset(data_ + lay.window(self, src, *window_size), 0, *window_size);
  wc_flush();  // the zeroes land before the epoch that lets peers write (pairs with their acquire of it)

  // Announce: publish our vector count, then make our epoch odd (a stale odd epoch, left by a
  // run that crashed, moves by 2 so that peers see a new generation).
  // Relaxed: published by the release CAS of the epoch just below.
  word<uint16_t>(ctl_, lay.node(self) + offsetof(L::NodeState, vectors)).store(my_vectors_, std::memory_order_relaxed);
  auto epoch = word<uint64_t>(ctl_, lay.node(self) + offsetof(L::NodeState, epoch));
  uint64_t cur = epoch.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    next = present(cur) ? cur + 2 : cur + 1;
    // Release: pairs with the acquire of this epoch in the peers' link_status(); they then see
    // our vector count and a header that is complete.
  } while (!epoch.compare_exchange_weak(cur, next, std::memory_order_release, std::memory_order_relaxed));
  my_epoch_ = next;

  info_.backend = "ivshmem";
  info_.name = name;
  info_.self = NodeIdx(self);
  info_.node_count = nodes_;
  info_.spad_count = L::kSpadCount;
  info_.db_valid_mask = ~uint64_t{0};
  info_.window_size = *window_size;
  info_.outbound_mem_type = port_->data_mem_type();
  return {};
}

// Writes the header if the memory is fresh (the first node to get there), else checks that it
// matches our options. Returns the window size all nodes use.
Result<size_t> IvshmemDevice::init_or_check_header(const IvshmemOptions& opts) {
  const std::string name = port_->name();
  const L::Layout lay(nodes_);
  const size_t max_window = lay.max_window(shm_size_);
  if (max_window == 0)
    return fail(Errc::kNoMemory,
                "%s: the shared memory has %zu bytes; %u nodes need at least %zu (control area) + %u x %zu "
                "(windows): give the ivshmem device more memory (QEMU memory-backend size=) or use fewer nodes",
                name.c_str(), shm_size_, nodes_, lay.ctl_size, unsigned{nodes_} * nodes_, L::kWindowAlign);
  if (opts.window_size > max_window)
    return fail(Errc::kNoMemory,
                "%s: %u x %u windows of %zu bytes do not fit in the shared memory (%zu bytes, %zu of them for "
                "control): the largest window is %zu bytes; use a smaller window_size (0 = largest) or more "
                "ivshmem memory",
                name.c_str(), nodes_, nodes_, opts.window_size, shm_size_, lay.ctl_size, max_window);

  auto magic = word<uint64_t>(ctl_, offsetof(L::Header, magic));
  uint64_t m = 0;
  // Acquire (success): pairs with nothing, we own the header now; (failure): pairs with the
  // release store of kMagic below, made by the node that initialised it.
  if (magic.compare_exchange_strong(m, L::kMagicInitialising, std::memory_order_acquire, std::memory_order_acquire)) {
    const size_t window_size = opts.window_size != 0 ? opts.window_size : max_window;
    // Fresh memory: clear the control area (node states, scratchpads, doorbells) before anyone uses it.
    std::memset(ctl_ + sizeof(L::Header), 0, lay.ctl_size - sizeof(L::Header));
    // Relaxed: published by the release store of kMagic below.
    word<uint32_t>(ctl_, offsetof(L::Header, version)).store(L::kVersion, std::memory_order_relaxed);
    word<uint16_t>(ctl_, offsetof(L::Header, node_count)).store(nodes_, std::memory_order_relaxed);
    word<uint16_t>(ctl_, offsetof(L::Header, spad_count)).store(L::kSpadCount, std::memory_order_relaxed);
    word<uint64_t>(ctl_, offsetof(L::Header, window_size)).store(window_size, std::memory_order_relaxed);
    word<uint64_t>(ctl_, offsetof(L::Header, windows_offset)).store(lay.ctl_size, std::memory_order_relaxed);
    word<uint64_t>(ctl_, offsetof(L::Header, total_size)).store(lay.total(window_size), std::memory_order_relaxed);
    // Release: publishes the header fields and the cleared control area; pairs with the acquire
    // loads of the magic by the other nodes (the CAS above and the wait below).
    magic.store(L::kMagic, std::memory_order_release);
    return window_size;
  }
  const uint64_t deadline = now_ns() + opts.init_timeout_ns;
  while (m == L::kMagicInitialising) {
    if (now_ns() >= deadline)
      return fail(Errc::kTimedOut,
                  "%s: another node began writing the ivshmem control area and did not finish within %" PRIu64
                  " ms (it may have died): stop every node and recreate the shared memory (restart the ivshmem "
                  "server, or remove its shared-memory file)",
                  name.c_str(), opts.init_timeout_ns / 1'000'000);
    nap_100us();  // another VM is writing a few words; there is no event to wait on
    // Acquire: pairs with the release store of kMagic by the initialising node.
    m = magic.load(std::memory_order_acquire);
  }
  if (m != L::kMagic)
    return fail(Errc::kProtocolError,
                "%s: the shared memory holds no postbox control area (magic 0x%016" PRIx64
                "): another program uses it, or it holds old data; recreate it (restart the ivshmem server, or "
                "remove its shared-memory file)",
                name.c_str(), m);

  // Relaxed: ordered after the acquire load of kMagic above, which published these fields.
  const auto version = word<uint32_t>(ctl_, offsetof(L::Header, version)).load(std::memory_order_relaxed);
  const auto nodes = word<uint16_t>(ctl_, offsetof(L::Header, node_count)).load(std::memory_order_relaxed);
  const auto spads = word<uint16_t>(ctl_, offsetof(L::Header, spad_count)).load(std::memory_order_relaxed);
  const auto window_size = word<uint64_t>(ctl_, offsetof(L::Header, window_size)).load(std::memory_order_relaxed);
  const auto windows_off = word<uint64_t>(ctl_, offsetof(L::Header, windows_offset)).load(std::memory_order_relaxed);
  if (version != L::kVersion || spads != L::kSpadCount)
    return fail(Errc::kConfigMismatch,
                "%s: the ivshmem control area is version %u with %u scratchpads; this build uses version %u with %u: "
                "run the same postbox build on every node (or recreate the shared memory)",
                name.c_str(), version, spads, L::kVersion, L::kSpadCount);
  if (nodes != nodes_)
    return fail(Errc::kConfigMismatch,
                "%s: node_count = %u here, but the ivshmem control area (written by the first node) says %u: "
                "start every node with the same node_count (or recreate the shared memory)",
                name.c_str(), nodes_, nodes);
  if (opts.window_size != 0 && window_size != opts.window_size)
    return fail(Errc::kConfigMismatch,
                "%s: window_size = %zu here, but the ivshmem control area says %" PRIu64
                ": start every node with the same window_size, or 0 to take the first node's",
                name.c_str(), opts.window_size, window_size);
  if (windows_off != lay.ctl_size || window_size == 0 || window_size % L::kWindowAlign != 0 ||
      window_size > max_window)
    return fail(Errc::kProtocolError,
                "%s: the ivshmem control area is inconsistent (windows at %" PRIu64 ", %" PRIu64
                "-byte windows, %zu bytes of shared memory): recreate the shared memory",
                name.c_str(), windows_off, window_size, shm_size_);
  return static_cast<size_t>(window_size);
}

IvshmemDevice::~IvshmemDevice() {
  if (my_epoch_ == 0) return;
  const L::Layout lay(nodes_);
  auto epoch = word<uint64_t>(ctl_, lay.node(info_.self.v) + offsetof(L::NodeState, epoch));
  uint64_t expected = my_epoch_;
  // Release: our last stores are visible to a peer that sees the link go down (acquire in its
  // link_status()). If another process took this node index over, its epoch stays.
  (void)epoch.compare_exchange_strong(expected, my_epoch_ + 1, std::memory_order_release, std::memory_order_relaxed);
}

Result<OutboundWindow> IvshmemDevice::do_peer_mw(NodeIdx peer) {
  const L::Layout lay(nodes_);
  return OutboundWindow(data_ + lay.window(peer.v, info_.self.v, info_.window_size), info_.window_size,
                        info_.outbound_mem_type);
}

Result<InboundWindow> IvshmemDevice::do_local_mw(NodeIdx peer) {
  const L::Layout lay(nodes_);
  // Through the control view: uncached loads are not reordered with each other, which the
  // acquire loads of a poller rely on (loads from write-combining memory may be).
  return InboundWindow(ctl_ + lay.window(info_.self.v, peer.v, info_.window_size), info_.window_size);
}

Result<std::vector<NodeWindowsExport>> IvshmemDevice::do_export_windows() {
  auto file = port_->shared_memory_file();
  if (!file) return tl::unexpected(file.error());
  const L::Layout lay(nodes_);
  const size_t ws = info_.window_size;
  std::vector<NodeWindowsExport> out(nodes_);
  for (uint16_t k = 0; k < nodes_; ++k) {
    out[k].outbound = {file->fd, file->offset + lay.window(k, info_.self.v, ws), ws, file->mem_type, false};
    out[k].inbound = {file->fd, file->offset + lay.window(info_.self.v, k, ws), ws, file->mem_type, false};
  }
  return out;
}

LinkStatus IvshmemDevice::do_link_status(NodeIdx peer) noexcept {
  const L::Layout lay(nodes_);
  // Acquire: pairs with the release of the epoch in the peer's join() / destructor; after it we
  // see the peer's vector count and its earlier stores.
  const uint64_t mine = word<uint64_t>(ctl_, lay.node(info_.self.v)).load(std::memory_order_acquire);
  const uint64_t theirs = word<uint64_t>(ctl_, lay.node(peer.v)).load(std::memory_order_acquire);
  // Down if another process has since announced itself as this node.
  const bool up = mine == my_epoch_ && present(theirs);
  return LinkStatus{up, static_cast<uint32_t>(mine + theirs), 0, 0};
}

Result<uint32_t> IvshmemDevice::do_spad_read(NodeIdx peer, SpadIdx idx) {
  const L::Layout lay(nodes_);
  // Acquire: pairs with the release in the peer's peer_spad_write().
  return word<uint32_t>(ctl_, lay.spad(info_.self.v, peer.v, idx.v)).load(std::memory_order_acquire);
}

Result<void> IvshmemDevice::do_peer_spad_write(NodeIdx peer, SpadIdx idx, uint32_t v) {
  const L::Layout lay(nodes_);
  // Release: pairs with the acquire in the peer's spad_read(); earlier stores are visible first.
  word<uint32_t>(ctl_, lay.spad(peer.v, info_.self.v, idx.v)).store(v, std::memory_order_release);
  return {};
}

uint16_t IvshmemDevice::vector_for(uint16_t src, uint16_t dst_vectors) const noexcept {
  return static_cast<uint16_t>(src % dst_vectors);
}

Result<void> IvshmemDevice::do_peer_db_set(NodeIdx peer, uint64_t bits) {
  const L::Layout lay(nodes_);
  // Drains write-combining buffers: window stores made before ringing land before the bits;
  // pairs with the acquire of the bits in the peer's db_read() / db_wait().
  wc_flush();
  // Release: same pairing, for the compiler and the memory model.
  word<uint64_t>(ctl_, lay.doorbell(peer.v, info_.self.v)).fetch_or(bits, std::memory_order_release);
  // Relaxed: ordered after the acquire of the peer's epoch in the link check before this op
  // (Device::peer_db_set).
  const uint16_t peer_vectors =
      word<uint16_t>(ctl_, lay.node(peer.v) + offsetof(L::NodeState, vectors)).load(std::memory_order_relaxed);
  if (peer_vectors == 0) return {};  // the peer polls its doorbell bits
  // Orders the store of the bits before the doorbell register store that interrupts the peer
  // (x86: the locked RMW already did; arm64: dmb st); pairs with the peer's load of the bits
  // after its eventfd fires in db_wait().
  wc_flush();
  port_->ring(peer.v, vector_for(info_.self.v, peer_vectors));
  return {};
}

Result<uint64_t> IvshmemDevice::do_db_read(NodeIdx peer) {
  const L::Layout lay(nodes_);
  // Acquire: pairs with the release fetch_or in the peer's peer_db_set().
  return word<uint64_t>(ctl_, lay.doorbell(info_.self.v, peer.v)).load(std::memory_order_acquire);
}

Result<void> IvshmemDevice::do_db_clear(NodeIdx peer, uint64_t bits) {
  const L::Layout lay(nodes_);
  // Write-1-to-clear; acq_rel keeps it atomic with a concurrent peer_db_set() by the peer.
  word<uint64_t>(ctl_, lay.doorbell(info_.self.v, peer.v)).fetch_and(~bits, std::memory_order_acq_rel);
  return {};
}

Result<void> IvshmemDevice::db_sleep(NodeIdx peer, uint64_t token, uint64_t ns) {
  if (my_vectors_ == 0) return Device::db_sleep(peer, token, ns);  // no interrupts: poll
  // A ring after db_wait()'s look at the bits is counted by the eventfd: the wait returns.
  auto fired = port_->wait(vector_for(peer.v, my_vectors_), ns);
  if (!fired) return tl::unexpected(fired.error());
  return {};
}

}  // namespace pbx::hal
