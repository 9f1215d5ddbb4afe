// Loopback backend: N simulated nodes on one host, any number of processes per node.
//
// Each node's inbound memory is one shared-memory file, <dir>/pbx.<job>.node<k>, holding one
// window of `window_size` bytes per source node: processes of node j map window j of node k's
// file as their outbound window to k; processes of node k map the whole file read-only as their
// inbound windows. The files are sparse: memory is spent only where something was written
// (segments are created on first use). A control file, <dir>/pbx.<job>.ctl, emulates what an
// NTB device has in registers: scratchpads, doorbells (with futex wake-up) and link state.
//
// Link down/up can be forced (tests, `pbxrun` fault injection). Like posted writes into a BAR
// whose link is down, stores through an outbound window are dropped once this process has
// observed the link down (link_status()), until it observes the link up again.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pbx/base/unique_fd.h"
#include "pbx/hal/device.h"

namespace pbx::hal {

struct LoopbackJobSpec {
  std::string name;                 // [A-Za-z0-9_.-], at most 64 characters
  uint16_t nodes = 2;               // 1..kMaxNodes
  size_t window_size = 64u << 20;   // per (node, source node) window; multiple of 2 MiB
  std::string dir;                  // empty: $PBX_SHM_DIR, else /dev/shm
};

class LoopbackJob {
 public:
  static constexpr uint16_t kMaxNodes = 64;
  static constexpr uint16_t kSpadCount = 16;

  // Creates the job's files; fails if they exist (a crashed earlier job: the message says how
  // to remove it). The files are removed when the returned object is destroyed.
  [[nodiscard]] static Result<LoopbackJob> create(const LoopbackJobSpec& spec);
  // Removes the files of a job by name (used by `pbxrun --cleanup`). Missing files are fine.
  [[nodiscard]] static Result<void> remove(const std::string& name, const std::string& dir = {});
  // Forces the link between nodes a and b down or up (both directions).
  [[nodiscard]] static Result<void> set_link(const std::string& name, NodeIdx a, NodeIdx b, bool up,
                                             const std::string& dir = {});
  // The directory used when spec.dir is empty.
  static std::string default_dir();

  LoopbackJob(LoopbackJob&&) noexcept;
  LoopbackJob& operator=(LoopbackJob&&) noexcept;
  ~LoopbackJob();

  const LoopbackJobSpec& spec() const noexcept { return spec_; }
  // Keep the files after destruction (a launcher handing them to its children).
  void release() noexcept { owned_ = false; }

 private:
  explicit LoopbackJob(LoopbackJobSpec spec) : spec_(std::move(spec)) {}
  LoopbackJobSpec spec_;
  bool owned_ = true;
};

class LoopbackDevice final : public Device {
 public:
  // Attaches this process to node `self` of an existing job.
  [[nodiscard]] static Result<std::unique_ptr<LoopbackDevice>> open(const std::string& job, NodeIdx self,
                                                                    const std::string& dir = {});
  ~LoopbackDevice() override;

  // Makes this device tell deaths the way NTB and ivshmem backends do (Liveness::kHeartbeat:
  // process_state() answers kUnknown), so that the heartbeat path runs on one host too.
  void use_heartbeats() noexcept { info_.liveness = Liveness::kHeartbeat; }

  // Forces the link to `peer` down or up (the same as LoopbackJob::set_link).
  [[nodiscard]] Result<void> force_link(NodeIdx peer, bool up);

 private:
  struct Ctl;
  LoopbackDevice() = default;
  Result<OutboundWindow> do_peer_mw(NodeIdx peer) override;
  Result<InboundWindow> do_local_mw(NodeIdx peer) override;
  Result<void> do_commit_peer_memory(NodeIdx peer, size_t off, size_t len) override;
  LinkStatus do_link_status(NodeIdx peer) noexcept override;
  Result<uint32_t> do_spad_read(NodeIdx peer, SpadIdx idx) override;
  Result<void> do_peer_spad_write(NodeIdx peer, SpadIdx idx, uint32_t v) override;
  Result<void> do_peer_db_set(NodeIdx peer, uint64_t bits) override;
  Result<uint64_t> do_db_read(NodeIdx peer) override;
  Result<void> do_db_clear(NodeIdx peer, uint64_t bits) override;
  // Doorbell waits sleep on a futex: the ring's sequence number is the token.
  uint64_t db_arm(NodeIdx peer) noexcept override;
  Result<void> db_sleep(NodeIdx peer, uint64_t token, uint64_t ns) override;
  // The node files: outbound to k = node k's file at window_size * self (read-write), inbound
  // from k = this node's file at window_size * k. Sparse: commit ranges with fallocate().
  Result<std::vector<NodeWindowsExport>> do_export_windows() override;
  // Every process of a loopback job runs on this host: a pidfd per peer process tells when it
  // exits (a pid that is reused later is not mistaken for it).
  ProcessState do_process_state(NodeIdx node, uint64_t pid) noexcept override;
  Result<void> map_outbound(NodeIdx peer, bool link_up);
  Result<int> peer_file(NodeIdx peer);

  std::string dir_;
  MmapRegion ctl_map_;
  std::unique_ptr<Ctl> ctl_;
  MmapRegion inbound_;                    // this node's file, read-only
  std::vector<UniqueFd> peer_files_;      // opened on first peer_mw()
  std::vector<MmapRegion> outbound_;      // one per peer
  std::vector<uint8_t> outbound_up_;      // what the current mapping of each window is
  std::vector<uint32_t> seen_generation_;
  struct Watched {
    uint64_t pid;
    UniqueFd pidfd;  // invalid: the process had already gone when first asked about
  };
  std::vector<Watched> watched_;
};

}  // namespace pbx::hal
