#include "pbx/ivshmem_server/protocol.h"

#include <endian.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "pbx/base/barrier.h"

namespace pbx::ivshmem_server {

Result<void> send_message(int sock, int64_t value, int fd) {
  const uint64_t wire = htole64(static_cast<uint64_t>(value));
  iovec iov{const_cast<uint64_t*>(&wire), sizeof wire};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  ssize_t n;
  do {
    n = ::sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail_errno(errno, "send ivshmem message %lld", static_cast<long long>(value));
  // A stream socket takes all 8 bytes or none when it has room for them: a short send would
  // mean a socket buffer under 8 bytes.
  if (n != static_cast<ssize_t>(sizeof wire))
    return fail(Errc::kIoError, "send ivshmem message %lld: short send (%zd bytes)", static_cast<long long>(value), n);
  return {};
}

Result<bool> wait_readable(int fd, uint64_t deadline_ns) {
  for (;;) {
    const uint64_t now = now_ns();
    if (now >= deadline_ns) return false;
    const uint64_t left_ms = (deadline_ns - now + 999'999) / 1'000'000;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left_ms > 60'000 ? 60'000 : left_ms));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return fail_errno(errno, "poll");
  }
}

Result<Message> recv_message(int sock, uint64_t deadline_ns) {
  uint64_t wire = 0;
  size_t got = 0;
  Message m;
  while (got < sizeof wire) {
    auto ready = wait_readable(sock, deadline_ns);
    if (!ready) return tl::unexpected(ready.error());
    if (!*ready) return fail(Errc::kTimedOut, "no message from the ivshmem server in time");
    iovec iov{reinterpret_cast<char*>(&wire) + got, sizeof wire - got};
    alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return fail_errno(errno, "receive ivshmem message");
    }
    if (n == 0) return fail(Errc::kPeerGone, "the ivshmem server closed the connection");
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < nfds; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (m.fd) {
          ::close(fd);
          return fail(Errc::kProtocolError, "ivshmem message carries more than one file descriptor");
        }
        m.fd.reset(fd);
      }
    }
    if ((msg.msg_flags & MSG_CTRUNC) != 0)
      return fail(Errc::kProtocolError, "ivshmem message carries more file descriptors than the protocol allows");
    got += static_cast<size_t>(n);
  }
  m.value = static_cast<int64_t>(le64toh(wire));
  return m;
}

}  // namespace pbx::ivshmem_server
