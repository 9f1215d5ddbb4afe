#include "pbx/ivshmem_server/server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "pbx/base/unique_fd.h"
#include "pbx/ivshmem_server/protocol.h"

namespace pbx::ivshmem_server {

namespace {

constexpr uint64_t kMinShmSize = 4096;
constexpr uint64_t kMaxShmSize = uint64_t{1} << 40;

bool is_power_of_two(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

std::string posix_shm_name(const std::string& name) { return name.front() == '/' ? name : "/" + name; }

// Whether a socket of this network namespace listens on `path` (/proc/net/unix: flag
// __SO_ACCEPTCON, 0x10000, marks a listening socket; the last field is the bound path).
Result<bool> listening_on(const std::string& path) {
  std::error_code ec;
  const std::string absolute = std::filesystem::absolute(path, ec).lexically_normal().string();
  std::ifstream in("/proc/net/unix");
  if (!in)
    return fail(Errc::kBusy,
                "socket path %s exists and /proc/net/unix is unreadable, so whether a server listens on it is "
                "unknown: remove it if no server uses it",
                path.c_str());
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string num, refs, proto, flags, type, state, inode, bound;
    if (!(fields >> num >> refs >> proto >> flags >> type >> state >> inode) ||
        !std::getline(fields >> std::ws, bound))
      continue;
    if ((std::strtoul(flags.c_str(), nullptr, 16) & 0x10000u) == 0) continue;
    if (bound == path || bound == absolute) return true;
  }
  return false;
}

}  // namespace

Result<uint64_t> parse_size(std::string_view text) {
  uint64_t value = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [p, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || p == first)
    return fail(Errc::kInvalidArgument, "bad size '%.*s': expected a number with an optional K, M, G or T suffix",
                static_cast<int>(text.size()), text.data());
  std::string_view suffix(p, static_cast<size_t>(last - p));
  unsigned shift = 0;
  if (!suffix.empty()) {
    switch (suffix.front()) {
      case 'k': case 'K': shift = 10; break;
      case 'm': case 'M': shift = 20; break;
      case 'g': case 'G': shift = 30; break;
      case 't': case 'T': shift = 40; break;
      default: shift = 64;
    }
    suffix.remove_prefix(1);
    if (suffix != "" && suffix != "B" && suffix != "iB") shift = 64;
  }
  if (shift == 64)
    return fail(Errc::kInvalidArgument, "bad size '%.*s': unknown suffix (use K, M, G or T)",
                static_cast<int>(text.size()), text.data());
  if (shift != 0 && value > (~uint64_t{0} >> shift))
    return fail(Errc::kInvalidArgument, "bad size '%.*s': too large", static_cast<int>(text.size()), text.data());
  return value << shift;
}

Result<void> ServerOptions::validate() const {
  if (socket_path.empty()) return fail(Errc::kInvalidArgument, "no socket path given (-S PATH)");
  if (socket_path.size() >= sizeof(sockaddr_un{}.sun_path))
    return fail(Errc::kInvalidArgument, "socket path '%s' is too long (%zu bytes, at most %zu): use a shorter path",
                socket_path.c_str(), socket_path.size(), sizeof(sockaddr_un{}.sun_path) - 1);
  if (shm_path.empty()) {
    const std::string_view n = shm_name.front() == '/' ? std::string_view(shm_name).substr(1) : shm_name;
    if (n.empty() || n.size() > 200 || n.find('/') != std::string_view::npos)
      return fail(Errc::kInvalidArgument,
                  "bad shared-memory name '%s': one name without '/' (it becomes /dev/shm/NAME); "
                  "use --shm-path for a file elsewhere",
                  shm_name.c_str());
  }
  if (!is_power_of_two(shm_size) || shm_size < kMinShmSize || shm_size > kMaxShmSize)
    return fail(Errc::kInvalidArgument,
                "bad size %llu: the shared memory becomes a PCI BAR, so it must be a power of two from 4K to 1T "
                "(e.g. 4M)",
                static_cast<unsigned long long>(shm_size));
  if (vectors < 1 || vectors > kMaxVectors)
    return fail(Errc::kInvalidArgument, "bad vector count %u: use 1..%u, the same as QEMU's vectors=N", vectors,
                kMaxVectors);
  return {};
}

std::string ServerOptions::shm_description() const {
  return shm_path.empty() ? "/dev/shm" + posix_shm_name(shm_name) : shm_path;
}

// ------------------------------------------------------------------------------------------

struct Server::Impl {
  struct Peer {
    uint16_t id = 0;
    UniqueFd sock;
    std::vector<UniqueFd> vectors;  // eventfds: writing one interrupts this peer on that vector
    bool dead = false;              // a send failed or it hung up: dropped by reap()
  };

  ServerOptions opts;
  LogSink log_sink;
  UniqueFd shm_fd;
  std::string shm_created;  // what to remove on exit; empty: it existed before us
  bool shm_is_posix = false;
  UniqueFd listen_fd;
  dev_t sock_dev = 0;  // identity of the socket file we bound: we only ever remove our own
  ino_t sock_ino = 0;
  uint32_t next_id = 0;
  std::vector<Peer> peers;

  ~Impl() {
    peers.clear();
    struct stat st {};
    if (listen_fd && ::lstat(opts.socket_path.c_str(), &st) == 0 && st.st_dev == sock_dev && st.st_ino == sock_ino)
      ::unlink(opts.socket_path.c_str());
    if (!shm_created.empty()) {
      if (shm_is_posix)
        ::shm_unlink(shm_created.c_str());
      else
        ::unlink(shm_created.c_str());
    }
  }

  void log(const std::string& line) const {
    if (log_sink) log_sink(line);
  }

  Result<void> open_shm() {
    shm_is_posix = opts.shm_path.empty();
    const std::string name = shm_is_posix ? posix_shm_name(opts.shm_name) : opts.shm_path;
    auto open_it = [&](int flags) {
      return shm_is_posix ? ::shm_open(name.c_str(), flags | O_RDWR | O_CLOEXEC, 0600)
                          : ::open(name.c_str(), flags | O_RDWR | O_CLOEXEC, 0600);
    };
    bool created = true;
    shm_fd.reset(open_it(O_CREAT | O_EXCL));
    if (!shm_fd && errno == EEXIST) {
      created = false;
      shm_fd.reset(open_it(0));
    }
    if (!shm_fd) return fail_errno(errno, "open shared memory %s", opts.shm_description().c_str());
    if (created) shm_created = name;
    struct stat st {};
    if (::fstat(shm_fd.get(), &st) != 0) return fail_errno(errno, "fstat %s", opts.shm_description().c_str());
    if (st.st_size == 0) {
      if (::ftruncate(shm_fd.get(), static_cast<off_t>(opts.shm_size)) != 0)
        return fail_errno(errno, "set the size of %s to %llu bytes", opts.shm_description().c_str(),
                          static_cast<unsigned long long>(opts.shm_size));
    } else if (static_cast<uint64_t>(st.st_size) != opts.shm_size) {
      return fail(Errc::kConfigMismatch,
                  "shared memory %s already exists with %lld bytes, not %llu: pass --size %lld, or remove it "
                  "(rm %s) if no VM uses it",
                  opts.shm_description().c_str(), static_cast<long long>(st.st_size),
                  static_cast<unsigned long long>(opts.shm_size), static_cast<long long>(st.st_size),
                  opts.shm_description().c_str());
    }
    return {};
  }

  Result<void> listen_socket() {
    const std::string& path = opts.socket_path;
    // Bound by its absolute name where it fits, so that /proc/net/unix shows one spelling.
    std::error_code ec;
    std::string bind_path = std::filesystem::absolute(path, ec).lexically_normal().string();
    if (ec || bind_path.size() >= sizeof(sockaddr_un{}.sun_path)) bind_path = path;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, bind_path.c_str(), bind_path.size() + 1);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode))
        return fail(Errc::kInvalidArgument, "socket path %s exists and is not a socket: choose another path",
                    path.c_str());
      // Not a connect() probe: every connection is a peer to a live server, and the VMs would
      // see a peer come and go.
      auto live = listening_on(path);
      if (!live) return tl::unexpected(live.error());
      if (*live)
        return fail(Errc::kBusy,
                    "socket path %s is in use: another ivshmem server is listening on it; stop it or choose "
                    "another path",
                    path.c_str());
      if (::unlink(path.c_str()) != 0) return fail_errno(errno, "remove stale socket %s", path.c_str());
      log("removed stale socket " + path);
    }
    listen_fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!listen_fd) return fail_errno(errno, "socket");
    if (::bind(listen_fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      const int err = errno;
      listen_fd.reset();
      if (err == EADDRINUSE)
        return fail(Errc::kBusy, "socket path %s is in use: another ivshmem server took it; choose another path",
                    path.c_str());
      return fail_errno(err, "bind %s", path.c_str());
    }
    if (::lstat(path.c_str(), &st) == 0) {
      sock_dev = st.st_dev;
      sock_ino = st.st_ino;
    }
    if (::listen(listen_fd.get(), 16) != 0) return fail_errno(errno, "listen on %s", path.c_str());
    return {};
  }

  Result<uint16_t> next_free_id() {
    // Ids are handed out in a cycle rather than lowest-free first, so that a reconnecting VM does
    // not take the id of a peer whose disconnect notification the others may not have read yet.
    for (uint32_t i = 0; i <= kMaxPeerId; ++i) {
      const uint16_t cand = static_cast<uint16_t>((next_id + i) & kMaxPeerId);
      if (std::none_of(peers.begin(), peers.end(), [&](const Peer& p) { return p.id == cand; })) {
        next_id = cand + 1u;
        return cand;
      }
    }
    return fail(Errc::kBusy, "all %u peer ids are in use", kMaxPeerId + 1);
  }

  // Sends every vector of `from` to `to`; marks `to` dead when that fails.
  static void announce(Peer& to, const Peer& from) {
    for (const UniqueFd& v : from.vectors) {
      if (to.dead) return;
      if (!send_message(to.sock.get(), from.id, v.get())) to.dead = true;
    }
  }

  Result<void> accept_peer() {
    UniqueFd sock(::accept4(listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!sock) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return {};
      return fail_errno(errno, "accept a connection on %s", opts.socket_path.c_str());
    }
    auto id = next_free_id();
    if (!id) return tl::unexpected(id.error());
    Peer peer;
    peer.id = *id;
    peer.sock = std::move(sock);
    for (uint32_t v = 0; v < opts.vectors; ++v) {
      UniqueFd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
      if (!efd) return fail_errno(errno, "eventfd for peer %u", peer.id);
      peer.vectors.push_back(std::move(efd));
    }
    // Steps 1-3: version, id, shared memory. Nobody knows this peer yet: on failure, just drop it.
    for (auto [value, fd] : {std::pair{kProtocolVersion, -1}, {int64_t{peer.id}, -1}, {kShmMessage, shm_fd.get()}}) {
      if (auto r = send_message(peer.sock.get(), value, fd); !r)
        return tl::unexpected(with_context(r.error(), "handshake with new peer " + std::to_string(peer.id)));
    }
    // The others learn how to interrupt the new peer; it learns how to interrupt them (step 4) and
    // then receives its own vectors (step 5).
    for (Peer& other : peers) announce(other, peer);
    for (const Peer& other : peers) announce(peer, other);
    for (const UniqueFd& v : peer.vectors)
      if (!peer.dead && !send_message(peer.sock.get(), peer.id, v.get())) peer.dead = true;
    log("peer " + std::to_string(peer.id) + " connected (" + std::to_string(peers.size() + 1) + " connected)");
    peers.push_back(std::move(peer));
    return {};
  }

  // Drops dead peers and announces each departure to the others; repeats while an announcement
  // finds another dead peer.
  void reap() {
    for (;;) {
      auto it = std::find_if(peers.begin(), peers.end(), [](const Peer& p) { return p.dead; });
      if (it == peers.end()) return;
      const uint16_t gone = it->id;
      peers.erase(it);
      for (Peer& other : peers)
        if (!other.dead && !send_message(other.sock.get(), gone, -1)) other.dead = true;
      log("peer " + std::to_string(gone) + " disconnected (" + std::to_string(peers.size()) + " connected)");
    }
  }

  Result<void> run(int stop_fd) {
    std::vector<pollfd> fds;
    for (;;) {
      fds.clear();
      fds.push_back({stop_fd, POLLIN, 0});
      fds.push_back({listen_fd.get(), POLLIN, 0});
      for (const Peer& p : peers) fds.push_back({p.sock.get(), POLLIN, 0});
      const int r = ::poll(fds.data(), fds.size(), -1);
      if (r < 0) {
        if (errno == EINTR) continue;
        return fail_errno(errno, "poll");
      }
      if (fds[0].revents != 0) return {};
      // Clients never send anything: data, a hang-up or an error all mean the peer is gone.
      for (size_t i = 2; i < fds.size(); ++i)
        if (fds[i].revents != 0) peers[i - 2].dead = true;
      if ((fds[1].revents & POLLIN) != 0) {
        if (auto a = accept_peer(); !a) log("refused a connection: " + a.error().message());
      }
      reap();
    }
  }
};

Server::Server(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Server::Server(Server&&) noexcept = default;
Server& Server::operator=(Server&&) noexcept = default;
Server::~Server() = default;

const ServerOptions& Server::options() const noexcept { return impl_->opts; }

Result<Server> Server::start(ServerOptions opts, LogSink log) {
  if (auto v = opts.validate(); !v) return tl::unexpected(v.error());
  auto impl = std::make_unique<Impl>();
  impl->opts = std::move(opts);
  impl->log_sink = std::move(log);
  if (auto r = impl->open_shm(); !r) return tl::unexpected(r.error());
  if (auto r = impl->listen_socket(); !r) return tl::unexpected(r.error());
  return Server(std::move(impl));
}

Result<void> Server::run(int stop_fd) { return impl_->run(stop_fd); }

}  // namespace pbx::ivshmem_server
