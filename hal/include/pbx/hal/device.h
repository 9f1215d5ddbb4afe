// The HAL control plane: a node's view of its peers.
//
// Only control operations dispatch through this interface (virtual, cold path). The data
// path works on the OutboundWindow / InboundWindow objects it hands out: plain stores into
// mapped memory, no calls, no dispatch.
//
// A job has `node_count` nodes; nodes are numbered 0..node_count-1 and this process runs on
// node `self`. For every node p (including self, for traffic between processes of one node):
//   peer_mw(p)  -- outbound: p's memory that this node writes (window_size bytes),
//   local_mw(p) -- inbound: this node's memory that p's processes write (window_size bytes).
// What this node writes through peer_mw(p) appears in p's local_mw(this node).
//
// Scratchpads and doorbells exist per peer, as on a two-port NTB (ntb.h grammar): writing
// peer p's scratchpad i lands in p's local scratchpad i "from this node"; ringing p's doorbell
// bits sets them in p's doorbell register "from this node". Link state is per peer; its
// generation changes on every transition.
//
// Threading: a Device is used by one thread at a time; windows it hands out stay valid for
// the Device's lifetime and may be used from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pbx/base/error.h"
#include "pbx/hal/types.h"
#include "pbx/hal/window.h"

namespace pbx::hal {

// How this backend learns that a process of the job died (kill -9, a crash) without saying so.
enum class Liveness : uint8_t {
  kProcessTable,  // the processes share this host's process table: process_state() tells
  kNodeManager,   // a node manager (postboxd) watches its clients and marks the dead ones gone
  kHeartbeat,     // nothing else: processes bump a heartbeat in their presence lines
};
enum class ProcessState : uint8_t { kUnknown, kAlive, kDead };

struct DeviceInfo {
  std::string backend;          // "loopback", "ivshmem", "intel-gen3", ...
  std::string name;             // job name or PCI address, for messages
  NodeIdx self{0};
  uint16_t node_count = 0;
  uint16_t spad_count = 0;      // scratchpads per peer
  uint64_t db_valid_mask = 0;   // doorbell bits per peer
  size_t window_size = 0;       // bytes of each outbound / inbound window
  MemType outbound_mem_type = MemType::kWriteBack;
  Liveness liveness = Liveness::kHeartbeat;
};

// A range of a file that another process can map (a device's BAR through its VFIO fd, a memfd):
// byte b of the range is at offset + b in fd.
struct MappableFile {
  int fd = -1;                            // owned by whoever hands it out
  uint64_t offset = 0;                    // a multiple of the page size
  MemType mem_type = MemType::kUncached;  // how a mapping of fd is cached
};

// A window as another process maps it: mmap(nullptr, length, prot, MAP_SHARED, fd, offset).
// This is how a node manager (postboxd) hands windows to the node's processes: it sends the
// fds over a Unix socket (SCM_RIGHTS) and every process maps its windows itself.
struct WindowExport {
  int fd = -1;               // owned by the Device: valid while it lives (the receiver gets a dup)
  uint64_t offset = 0;       // of the window in that file; a multiple of the page size
  uint64_t length = 0;       // window_size
  MemType mem_type = MemType::kWriteBack;  // how a mapping of this fd is cached
  bool sparse = false;       // a sparse file: back a range with fallocate() before storing into it
};

// The windows of one node pair, as DeviceInfo describes them: the outbound window to node k
// (peer_mw(k)) and the inbound window from node k (local_mw(k)).
struct NodeWindowsExport {
  WindowExport outbound;
  WindowExport inbound;
};

class Device {
 public:
  virtual ~Device() = default;

  const DeviceInfo& info() const noexcept { return info_; }

  // ---- The interface: checking wrappers around the backend's ops, as Linux's ntb.h wraps its
  // ops table (ntb_peer_mw_*, ntb_spad_*, ntb_db_*). Every node index, scratchpad index,
  // doorbell mask and window range is checked here once, for every backend; the do_* ops
  // below see only arguments that passed.

  // Windows. The objects are views owned by the device.
  [[nodiscard]] Result<OutboundWindow> peer_mw(NodeIdx peer);
  [[nodiscard]] Result<InboundWindow> local_mw(NodeIdx peer);

  // Makes sure [off, off + len) of the outbound window to `peer` is backed by memory, so that
  // stores into it cannot fault later (segments are created on first use). Fails with
  // Errc::kNoMemory, saying where memory ran out, when it cannot be backed.
  [[nodiscard]] Result<void> commit_peer_memory(NodeIdx peer, size_t off, size_t len);

  // Link state to `peer`: self is always up, a node that does not exist always down. Cheap:
  // may be called from polling loops.
  LinkStatus link_status(NodeIdx peer) noexcept;

  // Scratchpads (bring-up handshakes): 0..info().spad_count - 1. Writing to a peer whose link
  // is down fails with Errc::kLinkDown.
  [[nodiscard]] Result<uint32_t> spad_read(NodeIdx peer, SpadIdx idx);
  [[nodiscard]] Result<void> peer_spad_write(NodeIdx peer, SpadIdx idx, uint32_t v);

  // Doorbells: ring bits (inside info().db_valid_mask) at `peer`; read / clear (write-1-to-
  // clear; bits outside the mask are ignored) the bits `peer` rang here.
  [[nodiscard]] Result<void> peer_db_set(NodeIdx peer, uint64_t bits);
  [[nodiscard]] Result<uint64_t> db_read(NodeIdx peer);
  [[nodiscard]] Result<void> db_clear(NodeIdx peer, uint64_t bits);

  // Waits until a doorbell bit from `peer` is set or `timeout_ns` passes; returns the bits
  // (0 on time-out). Sleeps in the backend's way between looks (db_sleep).
  [[nodiscard]] Result<uint64_t> db_wait(NodeIdx peer, uint64_t timeout_ns);

  // Whether process `pid` of node `node` still runs, where the backend can see it (Liveness::
  // kProcessTable); kUnknown elsewhere. Cold path: may make a system call.
  ProcessState process_state(NodeIdx node, uint64_t pid) noexcept;

  // The windows of every node (index = node), as files another process can map. The fds stay
  // owned by this device. Errc::kNotSupported where the backend cannot share them.
  [[nodiscard]] Result<std::vector<NodeWindowsExport>> export_windows() { return do_export_windows(); }

 protected:
  Device() = default;

  // What the backend is; set by its constructor or open().
  DeviceInfo info_;

  // ---- The ops a backend implements (peer < node_count, idx < spad_count, bits inside
  // db_valid_mask, [off, off + len) inside the window; peer != self for the link).
  virtual Result<OutboundWindow> do_peer_mw(NodeIdx peer) = 0;
  virtual Result<InboundWindow> do_local_mw(NodeIdx peer) = 0;
  // Default: the window is always backed (pinned hugepages behind a BAR): nothing to do.
  virtual Result<void> do_commit_peer_memory(NodeIdx peer, size_t off, size_t len);
  // A peer other than self.
  virtual LinkStatus do_link_status(NodeIdx peer) noexcept = 0;
  virtual Result<uint32_t> do_spad_read(NodeIdx peer, SpadIdx idx) = 0;
  // The link to a peer other than self was up when this was called.
  virtual Result<void> do_peer_spad_write(NodeIdx peer, SpadIdx idx, uint32_t v) = 0;
  virtual Result<void> do_peer_db_set(NodeIdx peer, uint64_t bits) = 0;
  virtual Result<uint64_t> do_db_read(NodeIdx peer) = 0;
  virtual Result<void> do_db_clear(NodeIdx peer, uint64_t bits) = 0;
  // db_wait's two steps: db_arm() before each look at the bits returns a token (a futex
  // sequence, say) that db_sleep() gets, so that a ring between the look and the sleep is
  // never slept through; db_sleep() returns after at most `ns`, or earlier when the peer may
  // have rung. Defaults: no token; a short spin (the caller looks at the bits again).
  virtual uint64_t db_arm(NodeIdx /*peer*/) noexcept { return 0; }
  virtual Result<void> db_sleep(NodeIdx peer, uint64_t token, uint64_t ns);
  virtual ProcessState do_process_state(NodeIdx /*node*/, uint64_t /*pid*/) noexcept { return ProcessState::kUnknown; }
  virtual Result<std::vector<NodeWindowsExport>> do_export_windows();

 private:
  Result<void> check_peer(NodeIdx peer, const char* op) const;
  Result<void> check_spad(NodeIdx peer, SpadIdx idx, const char* op) const;
  Result<void> check_link(NodeIdx peer, const char* op) noexcept;
};

}  // namespace pbx::hal
