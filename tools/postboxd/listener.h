// The daemon's socket: one postboxd per socket path (a lock file held for the daemon's life),
// a stale socket left by a daemon that died is replaced, anything else at the path is refused.
#pragma once

#include <string>
#include <utility>

#include "pbx/base/error.h"
#include "pbx/base/unique_fd.h"

namespace pbx::postboxd {

class Listener {
 public:
  // Takes PATH.lock (flock; released by the kernel when this process dies, however it dies).
  // Fails with Errc::kBusy, naming its pid, while another postboxd holds it. Creates the
  // socket's directory if it is missing.
  [[nodiscard]] static Result<Listener> lock(const std::string& path);

  Listener(Listener&& o) noexcept
      : path_(std::move(o.path_)), lock_(std::move(o.lock_)), sock_(std::move(o.sock_)),
        created_(std::exchange(o.created_, false)) {}
  Listener& operator=(Listener&&) = delete;
  ~Listener();  // removes the socket it created (the lock file stays: removing it would race)

  // Binds and listens (non-blocking). A socket file nobody listens on is replaced (`replaced`
  // says so); a live listener that holds no lock, or a file that is not a socket, is refused.
  [[nodiscard]] Result<void> listen(bool* replaced);
  // Writes this process's pid into the lock file (after detaching: the pid that serves).
  [[nodiscard]] Result<void> record_pid();

  int fd() const noexcept { return sock_.get(); }
  const std::string& path() const noexcept { return path_; }

 private:
  Listener() = default;
  std::string path_;
  UniqueFd lock_;
  UniqueFd sock_;
  bool created_ = false;
};

}  // namespace pbx::postboxd
