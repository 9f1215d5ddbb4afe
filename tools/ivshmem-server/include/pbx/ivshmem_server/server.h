// pbx-ivshmem-server's engine: hands QEMU ivshmem-doorbell devices (and Client) their peer id,
// the shared memory and every peer's interrupt eventfds, and announces peers coming and going
// (protocol.h). One thread; a poll() loop over the listening socket and one socket per peer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "pbx/base/error.h"

namespace pbx::ivshmem_server {

struct ServerOptions {
  std::string socket_path;          // Unix socket QEMU connects to (-chardev socket,path=...)
  std::string shm_name = "ivshmem"; // POSIX shared-memory object (/dev/shm/<name>), or:
  std::string shm_path;             // a file to share instead (hugetlbfs, tmpfs); wins over shm_name
  uint64_t shm_size = 4u << 20;     // a power of two, at least 4 KiB (it becomes BAR2)
  uint32_t vectors = 1;             // interrupt vectors per peer: QEMU's vectors=N, 1..kMaxVectors

  [[nodiscard]] Result<void> validate() const;
  // "/dev/shm/NAME" or the path, for messages.
  std::string shm_description() const;
};

// Receives one line per event (peer connected / disconnected), without a trailing newline.
using LogSink = std::function<void(std::string_view)>;

class Server {
 public:
  // Opens (creating if missing) the shared memory, then binds and listens on the socket. A live
  // server on the socket path is an error (kBusy); a stale socket file is replaced.
  [[nodiscard]] static Result<Server> start(ServerOptions opts, LogSink log = {});

  Server(Server&&) noexcept;
  Server& operator=(Server&&) noexcept;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Closes every connection, removes the socket file, and the shared memory if it created it.
  ~Server();

  // Serves clients until `stop_fd` becomes readable (an eventfd, a signalfd, a pipe).
  [[nodiscard]] Result<void> run(int stop_fd);

  const ServerOptions& options() const noexcept;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

// "4M", "64K", "1G", "4194304" -> bytes (binary suffixes; K/M/G/T, optional trailing "iB"/"B").
[[nodiscard]] Result<uint64_t> parse_size(std::string_view text);

}  // namespace pbx::ivshmem_server
