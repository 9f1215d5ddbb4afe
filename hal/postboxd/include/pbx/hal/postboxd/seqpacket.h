// Messages with file descriptors over a SOCK_SEQPACKET Unix socket (postboxd and its clients).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "pbx/base/error.h"
#include "pbx/base/unique_fd.h"

namespace pbx::hal::postboxd {

struct Received {
  std::vector<std::byte> bytes;  // empty: the other side closed the connection
  std::vector<UniqueFd> fds;     // close-on-exec
};

// Sends one message, with `fds` attached (SCM_RIGHTS; the receiver gets duplicates). Never
// raises SIGPIPE: a closed peer is an error (EPIPE).
[[nodiscard]] Result<void> send_message(int sock, std::span<const std::byte> msg, std::span<const int> fds = {});
// Receives one message of at most `max_bytes`, and any fds that came with it. Fails on a
// truncated message or control data (what the kernel cut is not to be trusted).
[[nodiscard]] Result<Received> recv_message(int sock, size_t max_bytes);

}  // namespace pbx::hal::postboxd
