// pbx-ivshmem-server's engine over real Unix sockets, real shared memory and real eventfds:
// peer ids, the shared-memory fd, interrupt eventfds in both directions, connect and disconnect
// announcements, and its errors.
#include "pbx/ivshmem_server/server.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "pbx/ivshmem_server/client.h"
#include "pbx/ivshmem_server/protocol.h"
#include "test_env.h"

namespace pbx::ivshmem_server {
namespace {

using test::kTimeoutNs;
using test::TempDir;

// A server running in its own thread for the duration of a test.
class RunningServer {
 public:
  explicit RunningServer(ServerOptions opts) : stop_(::eventfd(0, EFD_CLOEXEC)) {
    auto s = Server::start(std::move(opts));
    EXPECT_TRUE(s) << (s ? "" : s.error().message());
    if (!s) return;
    server_.emplace(std::move(*s));
    thread_ = std::thread([this] {
      auto r = server_->run(stop_.get());
      EXPECT_TRUE(r) << (r ? "" : r.error().message());
    });
  }
  ~RunningServer() { stop(); }
  void stop() {
    if (thread_.joinable()) {
      const uint64_t one = 1;
      EXPECT_EQ(::write(stop_.get(), &one, sizeof one), 8);
      thread_.join();
    }
    server_.reset();
  }
  bool ok() const { return server_.has_value(); }

 private:
  UniqueFd stop_;
  std::optional<Server> server_;
  std::thread thread_;
};

class IvshmemServerTest : public ::testing::Test {
 protected:
  ServerOptions options(uint32_t vectors = 2) const {
    ServerOptions o;
    o.socket_path = dir_.file("ivs.sock");
    o.shm_name = shm_;
    o.shm_size = 1u << 20;
    o.vectors = vectors;
    return o;
  }
  Client connect(uint32_t vectors = 2) {
    auto c = Client::connect(dir_.file("ivs.sock"), vectors, kTimeoutNs);
    EXPECT_TRUE(c) << (c ? "" : c.error().message());
    return std::move(*c);
  }
  void TearDown() override { ::shm_unlink(("/" + shm_).c_str()); }

  TempDir dir_;
  std::string shm_ = test::unique_shm_name();
};

TEST_F(IvshmemServerTest, PeersGetIdsInConnectionOrderAndLearnEachOthersVectors) {
  RunningServer server(options(3));
  ASSERT_TRUE(server.ok());
  Client a = connect(3);
  EXPECT_EQ(a.id(), 0);  // the spec: the first client receives id 0
  EXPECT_TRUE(a.peers().empty());
  Client b = connect(3);
  EXPECT_EQ(b.id(), 1);
  // b learned a during its handshake (step 4), one eventfd per vector.
  ASSERT_EQ(b.peers(), std::vector<uint16_t>{0});
  EXPECT_EQ(b.peer_vectors(0), 3u);
  // a learns b from the connect announcement.
  ASSERT_TRUE(a.wait_peer_up(1, kTimeoutNs));
  EXPECT_EQ(a.peers(), std::vector<uint16_t>{1});
  EXPECT_EQ(a.peer_vectors(1), 3u);
  Client c = connect(3);
  EXPECT_EQ(c.id(), 2);
  EXPECT_EQ(c.peers(), (std::vector<uint16_t>{0, 1}));
  ASSERT_TRUE(a.wait_peer_up(2, kTimeoutNs));
  ASSERT_TRUE(b.wait_peer_up(2, kTimeoutNs));
}

TEST_F(IvshmemServerTest, BothPeersMapTheSameSharedMemory) {
  RunningServer server(options());
  Client a = connect();
  Client b = connect();
  auto ma = a.map_shm();
  auto mb = b.map_shm();
  ASSERT_TRUE(ma && mb);
  ASSERT_EQ(ma->size(), 1u << 20);
  ASSERT_EQ(mb->size(), 1u << 20);
  EXPECT_NE(ma->data(), mb->data());  // two mappings, one memory
  for (size_t i = 0; i < ma->size(); i += 4096) ma->data()[i] = std::byte(i / 4096 + 1);
  std::memcpy(mb->data() + 100, "from b", 7);
  for (size_t i = 0; i < mb->size(); i += 4096) ASSERT_EQ(mb->data()[i], std::byte(i / 4096 + 1)) << i;
  EXPECT_STREQ(reinterpret_cast<const char*>(ma->data() + 100), "from b");
  // It is the POSIX object the server was told to use.
  EXPECT_TRUE(test::shm_exists(shm_));
}

TEST_F(IvshmemServerTest, InterruptsReachThePeerOnTheVectorRung) {
  RunningServer server(options(2));
  Client a = connect();
  Client b = connect();
  ASSERT_TRUE(a.wait_peer_up(1, kTimeoutNs));
  // a rings b's vector 1 twice; b sees both on vector 1 and nothing on vector 0.
  ASSERT_TRUE(a.notify(1, 1));
  ASSERT_TRUE(a.notify(1, 1));
  auto got = b.wait_interrupt(1, kTimeoutNs);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, 2u);
  uint64_t count = 0;
  EXPECT_EQ(::read(b.interrupt_fd(0), &count, sizeof count), -1);  // non-blocking eventfd: nothing
  EXPECT_EQ(errno, EAGAIN);
  // And back: b rings a's vector 0.
  ASSERT_TRUE(b.notify(0, 0));
  got = a.wait_interrupt(0, kTimeoutNs);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, 1u);
  // A vector the peer does not have is an error, not a silent drop.
  auto bad = a.notify(1, 2);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::kPeerNotUp);
}

TEST_F(IvshmemServerTest, DisconnectIsAnnouncedAndIdsAreNotReusedAtOnce) {
  RunningServer server(options());
  Client a = connect();
  std::optional<Client> b(connect());
  ASSERT_TRUE(a.wait_peer_up(1, kTimeoutNs));
  b.reset();  // closes its socket
  ASSERT_TRUE(a.wait_peer_gone(1, kTimeoutNs));
  EXPECT_TRUE(a.peers().empty());
  auto stale = a.notify(1, 0);
  EXPECT_FALSE(stale);
  Client c = connect();
  EXPECT_EQ(c.id(), 2);
  EXPECT_EQ(c.peers(), std::vector<uint16_t>{0});
  ASSERT_TRUE(a.wait_peer_up(2, kTimeoutNs));
}

TEST_F(IvshmemServerTest, ClientsSeeTheConnectionCloseWhenTheServerStops) {
  RunningServer server(options());
  Client a = connect();
  server.stop();
  auto r = a.wait_peer_up(7, kTimeoutNs);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kPeerGone) << r.error().message();
}

TEST_F(IvshmemServerTest, RemovesItsSocketAndTheSharedMemoryItCreated) {
  {
    RunningServer server(options());
    ASSERT_TRUE(server.ok());
    EXPECT_TRUE(std::filesystem::exists(dir_.file("ivs.sock")));
    EXPECT_TRUE(test::shm_exists(shm_));
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.file("ivs.sock")));
  EXPECT_FALSE(test::shm_exists(shm_));
}

TEST_F(IvshmemServerTest, KeepsSharedMemoryThatExistedBeforeAndUsesItsContents) {
  {
    std::ofstream f("/dev/shm/" + shm_, std::ios::binary);
    std::string content(1u << 20, '\0');
    std::memcpy(content.data(), "kept", 5);
    f << content;
  }
  {
    RunningServer server(options());
    Client a = connect();
    auto m = a.map_shm();
    ASSERT_TRUE(m);
    EXPECT_STREQ(reinterpret_cast<const char*>(m->data()), "kept");
  }
  EXPECT_TRUE(test::shm_exists(shm_));
}

TEST_F(IvshmemServerTest, ExistingSharedMemoryOfAnotherSizeIsAnError) {
  { std::ofstream("/dev/shm/" + shm_, std::ios::binary) << std::string(8192, 'x'); }
  auto s = Server::start(options());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Errc::kConfigMismatch);
  EXPECT_NE(s.error().message().find("already exists with 8192 bytes"), std::string::npos) << s.error().message();
  EXPECT_TRUE(test::shm_exists(shm_));  // not ours: left alone
}

TEST_F(IvshmemServerTest, SocketPathInUseByALiveServerIsAnError) {
  RunningServer first(options());
  ASSERT_TRUE(first.ok());
  auto second = Server::start(options());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), Errc::kBusy);
  EXPECT_NE(second.error().message().find("is in use"), std::string::npos) << second.error().message();
  // The first one still serves.
  Client a = connect();
  EXPECT_EQ(a.id(), 0);
}

TEST_F(IvshmemServerTest, StaleSocketFileIsReplaced) {
  {
    UniqueFd s(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, dir_.file("ivs.sock").c_str());
    ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }  // closed without unlink: what a killed server leaves behind
  RunningServer server(options());
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(connect().id(), 0);
}

TEST_F(IvshmemServerTest, SocketPathThatIsNotASocketIsAnError) {
  { std::ofstream(dir_.file("ivs.sock")) << "x"; }
  auto s = Server::start(options());
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("is not a socket"), std::string::npos) << s.error().message();
}

TEST_F(IvshmemServerTest, ClientRejectsAnotherProtocolVersion) {
  // A fake server that speaks version 1.
  UniqueFd l(::socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, dir_.file("fake.sock").c_str());
  ASSERT_EQ(::bind(l.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(l.get(), 1), 0);
  std::thread t([&] {
    UniqueFd c(::accept(l.get(), nullptr, nullptr));
    EXPECT_TRUE(send_message(c.get(), 1));
    char b;
    EXPECT_EQ(::read(c.get(), &b, 1), 0);  // the client hangs up
  });
  auto c = Client::connect(dir_.file("fake.sock"), 1, kTimeoutNs);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Errc::kProtocolError);
  EXPECT_NE(c.error().message().find("version 1"), std::string::npos) << c.error().message();
  t.join();
}

TEST(IvshmemServerOptions, ValidationNamesTheProblem) {
  ServerOptions o;
  o.socket_path = "/tmp/x.sock";
  EXPECT_TRUE(o.validate());
  auto expect_error = [](ServerOptions bad, const char* needle) {
    auto r = bad.validate();
    ASSERT_FALSE(r) << needle;
    EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
    EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().message();
  };
  ServerOptions b = o;
  b.shm_size = 3u << 20;
  expect_error(b, "power of two");
  b.shm_size = 2048;
  expect_error(b, "power of two");
  b = o;
  b.vectors = 0;
  expect_error(b, "vector count");
  b.vectors = 65;
  expect_error(b, "vector count");
  b = o;
  b.socket_path = "/tmp/" + std::string(120, 's');
  expect_error(b, "too long");
  b = o;
  b.socket_path.clear();
  expect_error(b, "no socket path");
  b = o;
  b.shm_name = "a/b";
  expect_error(b, "shared-memory name");
}

TEST(IvshmemServerOptions, ParseSizeTakesBinarySuffixes) {
  EXPECT_EQ(parse_size("4096").value(), 4096u);
  EXPECT_EQ(parse_size("64K").value(), 64u << 10);
  EXPECT_EQ(parse_size("4M").value(), 4u << 20);
  EXPECT_EQ(parse_size("4MiB").value(), 4u << 20);
  EXPECT_EQ(parse_size("1g").value(), 1u << 30);
  EXPECT_FALSE(parse_size(""));
  EXPECT_FALSE(parse_size("M"));
  EXPECT_FALSE(parse_size("4X"));
  EXPECT_FALSE(parse_size("4MB7"));
  EXPECT_FALSE(parse_size("99999999999999999999T"));
}

}  // namespace
}  // namespace pbx::ivshmem_server
