#include "listener.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace pbx::postboxd {

namespace {

sockaddr_un address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), std::min(path.size(), sizeof a.sun_path - 1));
  return a;
}

std::string hint_for(int err) {
  if (err == EACCES || err == EPERM || err == EROFS)
    return " (run postboxd as root, or choose a --socket in a directory you can write)";
  return "";
}

}  // namespace

Result<Listener> Listener::lock(const std::string& path) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un{}.sun_path))
    return fail(Errc::kInvalidArgument, "socket path '%s' is empty or too long", path.c_str());
  Listener l;
  l.path_ = path;
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    const std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
      return fail_errno(errno, "create the socket directory %s%s", dir.c_str(), hint_for(errno).c_str());
  }
  const std::string lock_path = path + ".lock";
  l.lock_.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!l.lock_) return fail_errno(errno, "open %s%s", lock_path.c_str(), hint_for(errno).c_str());
  if (::flock(l.lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return fail_errno(errno, "flock %s", lock_path.c_str());
    char buf[32] = {};
    const ssize_t n = ::pread(l.lock_.get(), buf, sizeof buf - 1, 0);
    const long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
    return fail(Errc::kBusy,
                "%s is in use by a running postboxd (pid %ld): stop it first (systemctl stop postboxd, or kill %ld), "
                "or give this one another --socket",
                path.c_str(), pid, pid);
  }
  return l;
}

Result<void> Listener::record_pid() {
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_.get(), 0) != 0 || ::pwrite(lock_.get(), pid.data(), pid.size(), 0) < 0)
    return fail_errno(errno, "write the pid into %s.lock", path_.c_str());
  return {};
}

Result<void> Listener::listen(bool* replaced) {
  *replaced = false;
  const sockaddr_un addr = address(path_);
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return fail(Errc::kBusy, "%s exists and is not a socket: remove it, or give postboxd another --socket",
                  path_.c_str());
    // We hold the lock, so no postboxd serves it. Is anybody else listening there?
    UniqueFd probe(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (probe && ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0)  // NOLINT
      return fail(Errc::kBusy,
                  "%s is in use by another program (it accepts connections but holds no postboxd lock): stop it, or "
                  "give postboxd another --socket",
                  path_.c_str());
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT)
      return fail_errno(errno, "remove the stale socket %s%s", path_.c_str(), hint_for(errno).c_str());
    *replaced = true;
  }
  sock_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!sock_) return fail_errno(errno, "socket(AF_UNIX, SOCK_SEQPACKET)");
  if (::bind(sock_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)  // NOLINT: sockaddr API
    return fail_errno(errno, "bind %s%s", path_.c_str(), hint_for(errno).c_str());
  created_ = true;
  // Anyone may connect: postboxd itself checks who it serves (SO_PEERCRED), so that a refused
  // user is told which group to join instead of getting EACCES.
  if (::chmod(path_.c_str(), 0666) != 0) return fail_errno(errno, "chmod %s", path_.c_str());
  if (::listen(sock_.get(), 128) != 0) return fail_errno(errno, "listen on %s", path_.c_str());
  return {};
}

Listener::~Listener() {
  if (created_) ::unlink(path_.c_str());
}

}  // namespace pbx::postboxd
