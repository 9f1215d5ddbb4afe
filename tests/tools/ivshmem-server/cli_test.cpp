// The pbx-ivshmem-server program: help, usage errors, readiness line, serving clients, daemon
// mode with a pidfile, and the clean-up on SIGTERM.
#include <signal.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "pbx/ivshmem_server/client.h"
#include "test_env.h"

namespace pbx::ivshmem_server {
namespace {

using test::Child;
using test::kTimeoutNs;
using test::TempDir;

constexpr const char* kBin = PBX_IVSHMEM_SERVER_BIN;
constexpr const char* kReady = "pbx-ivshmem-server: listening on";

class IvshmemServerCli : public ::testing::Test {
 protected:
  std::vector<std::string> args(std::vector<std::string> extra = {}) const {
    std::vector<std::string> a{kBin, "-S", sock(), "-m", shm_, "-l", "64K", "-n", "2"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  std::string sock() const { return dir_.file("ivs.sock"); }
  void TearDown() override { ::shm_unlink(("/" + shm_).c_str()); }

  TempDir dir_;
  std::string shm_ = test::unique_shm_name();
};

TEST_F(IvshmemServerCli, HelpGoesToStdoutAndExitsZero) {
  Child c({kBin, "--help"});
  EXPECT_EQ(c.wait(), 0);
  EXPECT_NE(c.out().find("usage: pbx-ivshmem-server -S PATH"), std::string::npos) << c.out();
  EXPECT_NE(c.out().find("--vectors"), std::string::npos);
  EXPECT_TRUE(c.err().empty()) << c.err();
}

TEST_F(IvshmemServerCli, UsageErrorsExitTwoAndNameTheProblem) {
  struct Case {
    std::vector<std::string> argv;
    const char* needle;
  };
  const std::vector<Case> cases = {
      {{kBin}, "no socket path given"},
      {{kBin, "-S", sock(), "-l", "3M"}, "must be a power of two"},
      {{kBin, "-S", sock(), "-l", "lots"}, "bad size 'lots'"},
      {{kBin, "-S", sock(), "-n", "0"}, "bad vector count"},
      {{kBin, "-S", sock(), "-n", "two"}, "bad vector count 'two'"},
      {{kBin, "-S", sock(), "-m", "a", "-M", "/tmp/b"}, "not both"},
      {{kBin, "-S", sock(), "--bogus"}, "unknown option --bogus"},
      {{kBin, "-S"}, "needs a value"},
      {{kBin, "-S", sock(), "extra"}, "unexpected argument 'extra'"},
  };
  for (const auto& k : cases) {
    Child c(k.argv);
    EXPECT_EQ(c.wait(), 2) << k.needle;
    EXPECT_NE(c.err().find(k.needle), std::string::npos) << "want '" << k.needle << "' in: " << c.err();
    EXPECT_NE(c.err().find("Try 'pbx-ivshmem-server --help'"), std::string::npos);
  }
}

TEST_F(IvshmemServerCli, ServesTwoClientsThenCleansUpOnSigterm) {
  Child server(args());
  ASSERT_TRUE(server.wait_for_line(kReady)) << server.out();
  auto a = Client::connect(sock(), 2, kTimeoutNs);
  ASSERT_TRUE(a) << a.error().message();
  auto b = Client::connect(sock(), 2, kTimeoutNs);
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(a->id(), 0);
  EXPECT_EQ(b->id(), 1);
  ASSERT_TRUE(a->wait_peer_up(1, kTimeoutNs));
  auto ma = a->map_shm();
  auto mb = b->map_shm();
  ASSERT_TRUE(ma && mb);
  EXPECT_EQ(ma->size(), 64u << 10);
  ma->data()[4095] = std::byte{0x5a};
  EXPECT_EQ(mb->data()[4095], std::byte{0x5a});
  ASSERT_TRUE(b->notify(0, 1));
  auto irq = a->wait_interrupt(1, kTimeoutNs);
  ASSERT_TRUE(irq) << irq.error().message();
  EXPECT_EQ(*irq, 1u);
  b = tl::unexpected(Error(Errc::kCancelled));  // disconnects b
  ASSERT_TRUE(a->wait_peer_gone(1, kTimeoutNs));
  ASSERT_TRUE(server.wait_for_line("peer 1 disconnected")) << server.out();

  ASSERT_EQ(::kill(server.pid(), SIGTERM), 0);
  EXPECT_EQ(server.wait(), 0) << server.err();
  EXPECT_NE(server.out().find("peer 0 connected"), std::string::npos) << server.out();
  EXPECT_FALSE(std::filesystem::exists(sock()));
  EXPECT_FALSE(test::shm_exists(shm_));
}

TEST_F(IvshmemServerCli, SecondServerOnTheSameSocketFailsClearly) {
  Child first(args());
  ASSERT_TRUE(first.wait_for_line(kReady)) << first.out();
  Child second(args());
  EXPECT_EQ(second.wait(), 1);
  EXPECT_NE(second.err().find("is in use"), std::string::npos) << second.err();
  // The first is unharmed: its socket is still there and serves.
  auto a = Client::connect(sock(), 2, kTimeoutNs);
  ASSERT_TRUE(a) << a.error().message();
}

TEST_F(IvshmemServerCli, DaemonReturnsOnceListeningAndWritesItsPid) {
  const std::string pidfile = dir_.file("server.pid");
  Child launcher(args({"--daemon", "--pidfile", pidfile}));
  ASSERT_EQ(launcher.wait(), 0) << launcher.err();
  pid_t pid = 0;
  std::ifstream(pidfile) >> pid;
  ASSERT_GT(pid, 0);
  // The command has returned: the socket must serve now, without any retry.
  auto a = Client::connect(sock(), 2, kTimeoutNs);
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  // The daemon is not our child: its exit shows as the connection closing.
  auto r = a->wait_peer_up(9, kTimeoutNs);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kPeerGone) << r.error().message();
}

}  // namespace
}  // namespace pbx::ivshmem_server
