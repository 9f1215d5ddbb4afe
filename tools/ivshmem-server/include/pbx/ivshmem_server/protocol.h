// QEMU's ivshmem client-server protocol (QEMU docs/specs/ivshmem-spec.rst), both halves.
//
// The connection is one-way, server to client. Every message is one 8-byte little-endian
// signed number, optionally with one file descriptor (SCM_RIGHTS). On connect the server sends:
//   1. the protocol version (0),
//   2. the client's peer id (0..65535),
//   3. -1 with the shared-memory fd,
//   4. for every other connected peer: its id, N times, each with one eventfd (vector 0..N-1)
//      that interrupts that peer,
//   5. the client's own id, N times, each with the eventfd it receives vector 0..N-1 on.
// Afterwards: a peer id with an fd announces (one vector of) a new peer; a peer id without an
// fd announces that the peer disconnected.
#pragma once

#include <cstdint>

#include "pbx/base/error.h"
#include "pbx/base/unique_fd.h"

namespace pbx::ivshmem_server {

inline constexpr int64_t kProtocolVersion = 0;
inline constexpr int64_t kShmMessage = -1;         // the value that carries the shared-memory fd
inline constexpr uint32_t kMaxPeerId = 65535;      // the Doorbell register has 16 bits for it
inline constexpr uint32_t kMaxVectors = 64;        // as QEMU's own server

struct Message {
  int64_t value = 0;
  UniqueFd fd;  // invalid when the message carries none
};

// Sends one message without blocking (MSG_DONTWAIT, MSG_NOSIGNAL): a client that does not read
// its socket fails with kWouldBlock rather than stalling the server. `fd` < 0: no descriptor.
[[nodiscard]] Result<void> send_message(int sock, int64_t value, int fd = -1);

// Receives one message, waiting until `deadline_ns` (pbx::now_ns() clock). Errors: kTimedOut,
// kPeerGone when the server closed the connection, kProtocolError for more than one fd.
[[nodiscard]] Result<Message> recv_message(int sock, uint64_t deadline_ns);

// Waits until `fd` is readable or `deadline_ns` passes; returns false on time-out.
[[nodiscard]] Result<bool> wait_readable(int fd, uint64_t deadline_ns);

}  // namespace pbx::ivshmem_server
