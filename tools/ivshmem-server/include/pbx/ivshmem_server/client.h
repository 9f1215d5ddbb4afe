// The client half of the ivshmem protocol (protocol.h): what QEMU's ivshmem-doorbell device
// does with the server's messages, for host programs and tests. It keeps, for every peer, the
// eventfds that interrupt it, and its own eventfds that peers interrupt it through.
//
// Threading: one thread at a time. Server messages are read only inside the calls that wait
// for them (connect, wait_peer_up, wait_peer_gone, poll_messages).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pbx/base/error.h"
#include "pbx/base/unique_fd.h"

namespace pbx::ivshmem_server {

class Client {
 public:
  // Connects and reads the handshake: version, id, shared memory, the peers already connected,
  // then this client's own `vectors` eventfds (so `vectors` must match the server's).
  [[nodiscard]] static Result<Client> connect(const std::string& socket_path, uint32_t vectors,
                                              uint64_t timeout_ns);
  // The same handshake over a socket already connected to a server (connect() opens one; tests
  // and tests/fuzz pass one end of a socketpair and play the server on the other).
  [[nodiscard]] static Result<Client> handshake(UniqueFd sock, uint32_t vectors, uint64_t timeout_ns);

  uint16_t id() const noexcept { return id_; }
  int shm_fd() const noexcept { return shm_fd_.get(); }
  // Maps the whole shared memory read-write (MAP_SHARED).
  [[nodiscard]] Result<MmapRegion> map_shm() const;

  // Peers known now, and how many of their vectors this client holds (at most `vectors`: a
  // server that sends more for one peer has the extra descriptors closed).
  std::vector<uint16_t> peers() const;
  size_t peer_vectors(uint16_t peer) const;

  // Reads server messages until `peer` is connected with all vectors / announced gone.
  [[nodiscard]] Result<void> wait_peer_up(uint16_t peer, uint64_t timeout_ns);
  [[nodiscard]] Result<void> wait_peer_gone(uint16_t peer, uint64_t timeout_ns);

  // Interrupts `peer` on `vector` (writes 1 to its eventfd, as the Doorbell register does).
  [[nodiscard]] Result<void> notify(uint16_t peer, uint32_t vector);
  // Waits for an interrupt on this client's own `vector`; returns how many arrived since the
  // last call (eventfd counter), or kTimedOut.
  [[nodiscard]] Result<uint64_t> wait_interrupt(uint32_t vector, uint64_t timeout_ns);
  // Eventfd this client is interrupted through on `vector`, to poll it with other fds.
  int interrupt_fd(uint32_t vector) const noexcept;

 private:
  Client() = default;
  static Result<Client> handshake_until(UniqueFd sock, uint32_t vectors, uint64_t deadline_ns);
  // Reads one server message (waiting until the deadline) and applies it.
  Result<void> handle_next(uint64_t deadline_ns);

  UniqueFd sock_;
  uint16_t id_ = 0;
  uint32_t vectors_ = 0;
  UniqueFd shm_fd_;
  std::vector<UniqueFd> own_;                      // our interrupt eventfds, by vector
  std::map<uint16_t, std::vector<UniqueFd>> peers_;  // peer id -> eventfds to interrupt it
};

}  // namespace pbx::ivshmem_server
