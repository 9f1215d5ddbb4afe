// The client half of the ivshmem protocol against a scripted server: the test writes the
// server's messages into one end of a socketpair and hands the other end to
// Client::handshake(), so every byte and descriptor the client reads is chosen here.
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "pbx/ivshmem_server/client.h"
#include "pbx/ivshmem_server/protocol.h"
#include "test_env.h"

namespace pbx::ivshmem_server {
namespace {

using test::kTimeoutNs;

// A socketpair: `server` is the end the test writes, `client` the end the Client reads.
struct ScriptedServer {
  UniqueFd server, client;
  ScriptedServer() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    server.reset(sv[0]);
    client.reset(sv[1]);
  }
  // One message with a fresh eventfd (the client gets its own copy).
  void send_with_fd(int64_t value) {
    UniqueFd efd(::eventfd(0, EFD_CLOEXEC));
    ASSERT_TRUE(efd);
    ASSERT_TRUE(send_message(server.get(), value, efd.get()));
  }
  void send(int64_t value) { ASSERT_TRUE(send_message(server.get(), value)); }
  // The handshake for peer `id` with `vectors` own vectors, as the server sends it.
  void handshake(int64_t id, uint32_t vectors) {
    send(kProtocolVersion);
    send(id);
    send_with_fd(kShmMessage);
    for (uint32_t v = 0; v < vectors; ++v) send_with_fd(id);
  }
};

TEST(IvshmemClient, HandshakeOverAConnectedSocketTakesIdSharedMemoryAndOwnVectors) {
  ScriptedServer s;
  s.handshake(7, 2);
  auto c = Client::handshake(std::move(s.client), 2, kTimeoutNs);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->id(), 7);
  EXPECT_GE(c->shm_fd(), 0);
  EXPECT_GE(c->interrupt_fd(0), 0);
  EXPECT_GE(c->interrupt_fd(1), 0);
  EXPECT_EQ(c->interrupt_fd(2), -1);
  EXPECT_TRUE(c->peers().empty());
}

TEST(IvshmemClient, PeersComeWithTheirVectorsAndGoWithoutAnFd) {
  ScriptedServer s;
  s.handshake(1, 1);
  auto c = Client::handshake(std::move(s.client), 1, kTimeoutNs);
  ASSERT_TRUE(c) << c.error().message();
  s.send_with_fd(4);
  ASSERT_TRUE(c->wait_peer_up(4, kTimeoutNs));
  EXPECT_EQ(c->peer_vectors(4), 1u);
  s.send(4);
  ASSERT_TRUE(c->wait_peer_gone(4, kTimeoutNs));
  EXPECT_EQ(c->peer_vectors(4), 0u);
}

TEST(IvshmemClient, APeerHoldsAtMostTheClientsVectorCountOfDescriptors) {
  ScriptedServer s;
  s.handshake(1, 2);
  auto c = Client::handshake(std::move(s.client), 2, kTimeoutNs);
  ASSERT_TRUE(c) << c.error().message();
  for (int i = 0; i < 5; ++i) s.send_with_fd(4);  // a server announcing five vectors of peer 4
  s.server.reset();
  ASSERT_TRUE(c->wait_peer_up(4, kTimeoutNs));
  auto more = c->wait_peer_up(5, kTimeoutNs);  // reads the rest of the stream
  ASSERT_FALSE(more);
  EXPECT_EQ(more.error().code(), Errc::kPeerGone);
  EXPECT_EQ(c->peer_vectors(4), 2u) << "the three extra descriptors are closed, not kept";
}

TEST(IvshmemClient, AServerThatHangsUpMidHandshakeIsPeerGone) {
  ScriptedServer s;
  s.send(kProtocolVersion);
  s.send(3);
  s.server.reset();
  auto c = Client::handshake(std::move(s.client), 1, kTimeoutNs);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Errc::kPeerGone) << c.error().message();
}

TEST(IvshmemClient, APeerIdOutOfRangeIsAProtocolError) {
  ScriptedServer s;
  s.send(kProtocolVersion);
  s.send(int64_t{kMaxPeerId} + 1);
  auto c = Client::handshake(std::move(s.client), 1, kTimeoutNs);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Errc::kProtocolError) << c.error().message();
}

}  // namespace
}  // namespace pbx::ivshmem_server
