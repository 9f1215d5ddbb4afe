#include "pbx/hal/postboxd/seqpacket.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "pbx/hal/postboxd/protocol.h"

namespace pbx::hal::postboxd {

Result<void> send_message(int sock, std::span<const std::byte> msg, std::span<const int> fds) {
  if (fds.size() > kMaxFds) return fail(Errc::kInvalidArgument, "send_message: %zu fds (at most %zu)", fds.size(), kMaxFds);
  iovec iov{const_cast<std::byte*>(msg.data()), msg.size()};  // NOLINT: sendmsg does not write it
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  std::vector<std::byte> ctl;
  if (!fds.empty()) {
    ctl.resize(CMSG_SPACE(sizeof(int) * fds.size()));
    mh.msg_control = ctl.data();
    mh.msg_controllen = ctl.size();
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    if (c == nullptr) return fail(Errc::kIoError, "sendmsg: no room for %zu file descriptors", fds.size());
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    const ssize_t n = ::sendmsg(sock, &mh, MSG_NOSIGNAL);
    if (n >= 0) return {};
    if (errno != EINTR) return fail_errno(errno, "sendmsg on the postboxd socket");
  }
}

Result<Received> recv_message(int sock, size_t max_bytes) {
  Received r;
  r.bytes.resize(max_bytes);
  std::vector<std::byte> ctl(CMSG_SPACE(sizeof(int) * kMaxFds));
  iovec iov{r.bytes.data(), r.bytes.size()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl.data();
  mh.msg_controllen = ctl.size();
  ssize_t n;
  do {
    n = ::recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail_errno(errno, "recvmsg on the postboxd socket");
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      r.fds.emplace_back(fd);  // owned now, whatever happens next
    }
  }
  if ((mh.msg_flags & MSG_TRUNC) != 0)
    return fail(Errc::kProtocolError, "a message on the postboxd socket was longer than %zu bytes", max_bytes);
  if ((mh.msg_flags & MSG_CTRUNC) != 0)
    return fail(Errc::kNoMemory,
                "file descriptors sent by postboxd were cut off: raise this process's open-file limit (ulimit -n)");
  r.bytes.resize(static_cast<size_t>(n));
  return r;
}

}  // namespace pbx::hal::postboxd
