#include "pbx/ivshmem_server/client.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pbx/base/barrier.h"
#include "pbx/ivshmem_server/protocol.h"

namespace pbx::ivshmem_server {

Result<Client> Client::connect(const std::string& socket_path, uint32_t vectors, uint64_t timeout_ns) {
  const uint64_t deadline = now_ns() + timeout_ns;
  sockaddr_un addr{};
  if (socket_path.size() >= sizeof addr.sun_path)
    return fail(Errc::kInvalidArgument, "socket path %s is too long", socket_path.c_str());
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock) return fail_errno(errno, "socket");
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return fail_errno(errno, "connect to ivshmem server %s (is pbx-ivshmem-server running?)", socket_path.c_str());
  return handshake_until(std::move(sock), vectors, deadline);
}

Result<Client> Client::handshake(UniqueFd sock, uint32_t vectors, uint64_t timeout_ns) {
  return handshake_until(std::move(sock), vectors, now_ns() + timeout_ns);
}

Result<Client> Client::handshake_until(UniqueFd sock, uint32_t vectors, uint64_t deadline) {
  Client c;
  c.vectors_ = vectors;
  c.sock_ = std::move(sock);

  auto version = recv_message(c.sock_.get(), deadline);
  if (!version) return tl::unexpected(with_context(version.error(), "ivshmem handshake: version"));
  if (version->value != kProtocolVersion || version->fd)
    return fail(Errc::kProtocolError, "ivshmem server speaks protocol version %lld, not %lld",
                static_cast<long long>(version->value), static_cast<long long>(kProtocolVersion));
  auto id = recv_message(c.sock_.get(), deadline);
  if (!id) return tl::unexpected(with_context(id.error(), "ivshmem handshake: peer id"));
  if (id->value < 0 || id->value > kMaxPeerId || id->fd)
    return fail(Errc::kProtocolError, "ivshmem server sent a bad peer id %lld", static_cast<long long>(id->value));
  c.id_ = static_cast<uint16_t>(id->value);
  auto shm = recv_message(c.sock_.get(), deadline);
  if (!shm) return tl::unexpected(with_context(shm.error(), "ivshmem handshake: shared memory"));
  if (shm->value != kShmMessage || !shm->fd)
    return fail(Errc::kProtocolError, "ivshmem server sent %lld%s where the shared memory fd belongs",
                static_cast<long long>(shm->value), shm->fd ? " with an fd" : "");
  c.shm_fd_ = std::move(shm->fd);
  while (c.own_.size() < vectors) {
    if (auto r = c.handle_next(deadline); !r)
      return tl::unexpected(with_context(r.error(), "ivshmem handshake: interrupt vectors"));
  }
  return c;
}

Result<void> Client::handle_next(uint64_t deadline_ns) {
  auto m = recv_message(sock_.get(), deadline_ns);
  if (!m) return tl::unexpected(m.error());
  if (m->value < 0 || m->value > kMaxPeerId)
    return fail(Errc::kProtocolError, "ivshmem server sent a bad peer id %lld", static_cast<long long>(m->value));
  const auto peer = static_cast<uint16_t>(m->value);
  if (!m->fd) {
    peers_.erase(peer);  // disconnect notification
  } else if (peer == id_) {
    if (own_.size() < vectors_) own_.push_back(std::move(m->fd));  // extra vectors: closed
  } else {
    std::vector<UniqueFd>& fds = peers_[peer];
    if (fds.size() < vectors_) fds.push_back(std::move(m->fd));  // extra vectors: closed (QEMU refuses them)
  }
  return {};
}

Result<MmapRegion> Client::map_shm() const {
  struct stat st {};
  if (::fstat(shm_fd_.get(), &st) != 0) return fail_errno(errno, "fstat ivshmem shared memory");
  const auto len = static_cast<size_t>(st.st_size);
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd_.get(), 0);
  if (p == MAP_FAILED) return fail_errno(errno, "mmap ivshmem shared memory (%zu bytes)", len);
  return MmapRegion(p, len);
}

std::vector<uint16_t> Client::peers() const {
  std::vector<uint16_t> ids;
  for (const auto& [id, fds] : peers_) ids.push_back(id);
  return ids;
}

size_t Client::peer_vectors(uint16_t peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? 0 : it->second.size();
}

Result<void> Client::wait_peer_up(uint16_t peer, uint64_t timeout_ns) {
  const uint64_t deadline = now_ns() + timeout_ns;
  while (peer_vectors(peer) < vectors_) {
    if (auto r = handle_next(deadline); !r)
      return tl::unexpected(with_context(r.error(), "wait for ivshmem peer " + std::to_string(peer)));
  }
  return {};
}

Result<void> Client::wait_peer_gone(uint16_t peer, uint64_t timeout_ns) {
  const uint64_t deadline = now_ns() + timeout_ns;
  while (peers_.count(peer) != 0) {
    if (auto r = handle_next(deadline); !r)
      return tl::unexpected(with_context(r.error(), "wait for ivshmem peer " + std::to_string(peer) + " to leave"));
  }
  return {};
}

Result<void> Client::notify(uint16_t peer, uint32_t vector) {
  auto it = peers_.find(peer);
  if (it == peers_.end() || vector >= it->second.size())
    return fail(Errc::kPeerNotUp, "ivshmem peer %u has no vector %u connected", peer, vector);
  const uint64_t one = 1;
  if (::write(it->second[vector].get(), &one, sizeof one) != static_cast<ssize_t>(sizeof one))
    return fail_errno(errno, "interrupt ivshmem peer %u vector %u", peer, vector);
  return {};
}

int Client::interrupt_fd(uint32_t vector) const noexcept {
  return vector < own_.size() ? own_[vector].get() : -1;
}

Result<uint64_t> Client::wait_interrupt(uint32_t vector, uint64_t timeout_ns) {
  if (vector >= own_.size()) return fail(Errc::kInvalidArgument, "no interrupt vector %u", vector);
  auto ready = wait_readable(own_[vector].get(), now_ns() + timeout_ns);
  if (!ready) return tl::unexpected(ready.error());
  if (!*ready) return fail(Errc::kTimedOut, "no interrupt on vector %u in time", vector);
  uint64_t count = 0;
  if (::read(own_[vector].get(), &count, sizeof count) != static_cast<ssize_t>(sizeof count))
    return fail_errno(errno, "read interrupt eventfd of vector %u", vector);
  return count;
}

}  // namespace pbx::ivshmem_server
