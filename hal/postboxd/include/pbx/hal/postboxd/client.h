// The postboxd client backend: this process uses the node's device through the node manager.
//
//   auto dev = pbx::hal::PostboxdClientDevice::open("/run/postbox/postboxd.sock");
//   if (!dev) { log(dev.error().message()); return; }   // says whether the daemon is running,
//                                                       // or which group to join
//   auto ep = pbx::Endpoint::create(std::move(*dev), shape, rank);   // or PBX_BACKEND=postboxd
//
// open() connects, receives the node's identity and the window files (SCM_RIGHTS) and maps
// every window itself: the data path is plain stores into those mappings, as with a device
// this process opened. Scratchpads and doorbells are requests to the daemon (one round trip
// each, control path only). link_status() reads the daemon's status page: no system call; the
// daemon's death, even by SIGKILL, shows as every link to another node down (a new generation),
// and later requests fail with Errc::kLinkDown saying the daemon has gone.
//
// Threading: as hal::Device (one thread at a time; windows usable from any thread).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pbx/base/unique_fd.h"
#include "pbx/hal/postboxd/protocol.h"
#include "pbx/hal/postboxd/status_page.h"
#include "pbx/hal/device.h"

namespace pbx::hal {

class PostboxdClientDevice final : public Device {
 public:
  // Connects to the postboxd listening on `socket_path`.
  [[nodiscard]] static Result<std::unique_ptr<PostboxdClientDevice>> open(
      const std::string& socket_path = postboxd::kDefaultSocket);
  ~PostboxdClientDevice() override;

  const std::string& socket_path() const noexcept { return path_; }
  // false once the daemon has gone.
  bool daemon_alive() noexcept { return status_.daemon_alive(); }

 private:
  PostboxdClientDevice() = default;
  Result<void> handshake();
  Result<void> map_windows(const postboxd::Identity& id, std::vector<UniqueFd> fds);
  Result<OutboundWindow> do_peer_mw(NodeIdx peer) override;
  Result<InboundWindow> do_local_mw(NodeIdx peer) override;
  Result<void> do_commit_peer_memory(NodeIdx peer, size_t off, size_t len) override;
  LinkStatus do_link_status(NodeIdx peer) noexcept override;
  Result<uint32_t> do_spad_read(NodeIdx peer, SpadIdx idx) override;
  Result<void> do_peer_spad_write(NodeIdx peer, SpadIdx idx, uint32_t v) override;
  Result<void> do_peer_db_set(NodeIdx peer, uint64_t bits) override;
  Result<uint64_t> do_db_read(NodeIdx peer) override;
  Result<void> do_db_clear(NodeIdx peer, uint64_t bits) override;
  // Doorbell waits nap between looks: the doorbell interrupts stay with the daemon.
  Result<void> db_sleep(NodeIdx peer, uint64_t token, uint64_t ns) override;
  Result<uint64_t> call(postboxd::Op op, NodeIdx peer, uint16_t idx, uint64_t value, const char* what);
  Result<void> gone(const Error& why, const char* what);

  std::string path_;
  UniqueFd sock_;
  postboxd::StatusPage status_;
  std::vector<UniqueFd> files_;            // the window files (commit_peer_memory uses them)
  std::vector<MmapRegion> outbound_, inbound_;
  std::vector<postboxd::WireWindow> out_desc_;
  bool disconnected_ = false;
};

}  // namespace pbx::hal
