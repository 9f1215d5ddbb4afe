// libFuzzer target: the client half of the ivshmem protocol (tools/ivshmem-server: recv_message
// and Client), the only side that parses what a peer sends: the server reads nothing from its
// clients (any byte or hang-up means the client left). The fuzz input is a server's stream
// (inputs.h: IvshmemInput): bytes cut anywhere, each write with 0..3 descriptors. It is written
// into one end of a socketpair, that end is closed, and the real Client reads the other end:
// the handshake, then peers coming and going until the stream ends.
//
// Checked: no crash; the client stops at the end of the stream with kPeerGone or refuses with
// kProtocolError, never waits (a time-out would be a wait for bytes that cannot come); what it
// accepted is what its users rely on; and no descriptor is left open once it is gone.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "inputs.h"
#include "pbx/ivshmem_server/client.h"
#include "pbx/ivshmem_server/protocol.h"
#include "support.h"

namespace {

using namespace pbx;
using namespace pbx::ivshmem_server;

constexpr uint64_t kTimeoutNs = 10'000'000'000;  // never reached: the stream always ends

// The lowest free descriptor number: it comes back to the same value when every descriptor an
// input opened has been closed again.
int lowest_free_fd() {
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  PBX_FUZZ_CHECK(fd >= 0);
  ::close(fd);
  return fd;
}

// Writes one record without blocking; false when the socket buffer is full (the rest of the
// input is then dropped: the stream ends there).
bool send_record(int sock, const fuzz::IvshmemRecord& rec, int some_fd) {
  iovec iov{const_cast<uint8_t*>(rec.data.data()), rec.data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(3 * sizeof(int))] = {};
  if (rec.fds != 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(rec.fds * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(rec.fds * sizeof(int));
    for (unsigned i = 0; i < rec.fds; ++i) std::memcpy(CMSG_DATA(c) + i * sizeof(int), &some_fd, sizeof some_fd);
  }
  const ssize_t n = ::sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) {
    PBX_FUZZ_CHECK(errno == EAGAIN || errno == ETOOMANYREFS);
    return false;
  }
  PBX_FUZZ_CHECK(static_cast<size_t>(n) == rec.data.size());
  return true;
}

// The ways a client may stop reading a finite stream.
void check_end(const Error& e) {
  PBX_FUZZ_CHECK(e.code() == Errc::kPeerGone || e.code() == Errc::kProtocolError);
  PBX_FUZZ_CHECK(!e.message().empty());
}

void check_client(const Client& c, uint32_t vectors) {
  PBX_FUZZ_CHECK(c.shm_fd() >= 0);
  for (uint32_t v = 0; v < vectors; ++v) PBX_FUZZ_CHECK(c.interrupt_fd(v) >= 0);
  PBX_FUZZ_CHECK(c.interrupt_fd(vectors) == -1);
  for (uint16_t p : c.peers()) {
    PBX_FUZZ_CHECK(p != c.id());  // our own id's messages are our own vectors
    // As QEMU's ivshmem device: at most `vectors` eventfds per peer, extras are closed.
    PBX_FUZZ_CHECK(c.peer_vectors(p) >= 1 && c.peer_vectors(p) <= vectors);
  }
}

void run(const uint8_t* data, size_t size, int some_fd) {
  fuzz::ByteReader r(data, size);
  const uint32_t vectors = fuzz::IvshmemInput::vectors(r);
  int sv[2];
  PBX_FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  UniqueFd server(sv[0]), client_end(sv[1]);
  while (!r.empty())
    if (!send_record(server.get(), fuzz::IvshmemInput::record(r), some_fd)) break;
  server.reset();  // end of stream

  auto c = Client::handshake(std::move(client_end), vectors, kTimeoutNs);
  if (!c) {
    check_end(c.error());
    return;
  }
  check_client(*c, vectors);
  // Read the rest of the stream: wait for peers 0, 1, 2, ... to be up in turn (a peer that is
  // up returns at once, one that is not reads messages), until the stream ends.
  for (uint32_t peer = 0;; ++peer) {
    PBX_FUZZ_CHECK(peer <= kMaxPeerId);  // each peer that is up took at least one message
    auto up = c->wait_peer_up(static_cast<uint16_t>(peer), kTimeoutNs);
    check_client(*c, vectors);
    if (!up) {
      check_end(up.error());
      return;
    }
    PBX_FUZZ_CHECK(c->peer_vectors(static_cast<uint16_t>(peer)) == vectors || peer == c->id());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The descriptor every record passes (each SCM_RIGHTS copy arrives as a new one).
  static const int some_fd = ::eventfd(0, EFD_CLOEXEC);
  PBX_FUZZ_CHECK(some_fd >= 0);
  const int free_before = lowest_free_fd();
  run(data, size, some_fd);
  PBX_FUZZ_CHECK(lowest_free_fd() == free_before);  // nothing leaked
  return 0;
}
