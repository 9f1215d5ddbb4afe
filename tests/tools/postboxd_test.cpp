// postboxd as a command-line tool: one daemon per socket, stale sockets, who may connect,
// and clear errors for every failure.
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <optional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/hal/postboxd/client.h"
#include "pbx/hal/loopback.h"
#include "support/job_name.h"
#include "support/postboxd.h"
#include "support/run_command.h"

namespace pbx {
namespace {

using test::Daemon;
using test::run_command;
using test::TempDir;
using ::testing::HasSubstr;

struct Job {
  Job() {
    auto j = hal::LoopbackJob::create({test::unique_job_name("pbxd"), 2, 2u << 20, {}});
    EXPECT_TRUE(j) << j.error().message();
    job.emplace(std::move(*j));
  }
  std::string device(int node) const { return "loopback:" + job->spec().name + ":" + std::to_string(node); }
  std::optional<hal::LoopbackJob> job;
};

TEST(PostboxdTool, ASecondDaemonOnTheSameSocketIsRefusedWhileTheFirstLives) {
  Job j;
  TempDir dir;
  const std::string sock = dir.file("d.sock");
  Daemon first({"-d", j.device(0), "-s", sock, "-g", test::own_group()});
  ASSERT_TRUE(first.ready()) << first.log();
  auto second = run_command({POSTBOXD, "-d", j.device(0), "-s", sock, "-g", test::own_group(), "-f"});
  EXPECT_EQ(second.status, 1);
  EXPECT_THAT(second.err, HasSubstr(sock + " is in use by a running postboxd (pid " + std::to_string(first.pid()) + ")"));
  // The first one is unharmed and still serves.
  auto c = hal::PostboxdClientDevice::open(sock);
  EXPECT_TRUE(c) << c.error().message();
  EXPECT_EQ(first.stop(SIGTERM), 0);
  // Once it is gone, a new one starts on the same socket.
  Daemon third({"-d", j.device(0), "-s", sock, "-g", test::own_group()});
  EXPECT_TRUE(third.ready()) << third.log();
}

TEST(PostboxdTool, AStaleSocketIsReplaced) {
  Job j;
  TempDir dir;
  const std::string sock = dir.file("stale.sock");
  {  // a socket file nobody listens on, as a daemon killed by SIGKILL leaves it
    const int s = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, sock.c_str());
    ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::close(s);
  }
  auto before = hal::PostboxdClientDevice::open(sock);
  ASSERT_FALSE(before);
  EXPECT_THAT(before.error().message(), HasSubstr("nothing listens on " + sock));
  Daemon d({"-d", j.device(1), "-s", sock, "-g", test::own_group()});
  ASSERT_TRUE(d.ready()) << d.log();
  EXPECT_THAT(d.log(), HasSubstr("replaced the stale socket " + sock));
  auto c = hal::PostboxdClientDevice::open(sock);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ((*c)->info().self, hal::NodeIdx(1));
}

TEST(PostboxdTool, ADaemonKilledHardLeavesASocketTheNextOneReplaces) {
  Job j;
  TempDir dir;
  const std::string sock = dir.file("k.sock");
  {
    Daemon d({"-d", j.device(0), "-s", sock, "-g", test::own_group()});
    ASSERT_TRUE(d.ready()) << d.log();
    EXPECT_EQ(d.stop(SIGKILL), 128 + SIGKILL);
  }
  Daemon again({"-d", j.device(0), "-s", sock, "-g", test::own_group()});
  ASSERT_TRUE(again.ready()) << again.log();
  EXPECT_THAT(again.log(), HasSubstr("replaced the stale socket"));
}

TEST(PostboxdTool, SomethingElseAtTheSocketPathIsRefused) {
  Job j;
  TempDir dir;
  const std::string path = dir.file("file");
  std::ofstream(path) << "not a socket";
  auto r = run_command({POSTBOXD, "-d", j.device(0), "-s", path, "-g", test::own_group(), "-f"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr(path + " exists and is not a socket"));
}

// Runs `body` in a child that has dropped to uid/gid 65534 (nobody / nogroup) with no
// supplementary groups; returns what it wrote and its exit status.
std::pair<int, std::string> as_nobody(const std::function<std::string()>& body) {
  int p[2];
  EXPECT_EQ(::pipe(p), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(3);
    const std::string out = body();
    (void)!::write(p[1], out.data(), out.size());
    _exit(0);
  }
  ::close(p[1]);
  std::string out;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), out};
}

std::string open_result(const std::string& sock) {
  auto c = hal::PostboxdClientDevice::open(sock);
  if (!c) return std::string("refused: ") + errc_name(c.error().code()) + ": " + c.error().message();
  // A member maps the windows from the fds alone: the job's files are root's, mode 0600.
  auto w = (*c)->peer_mw(hal::NodeIdx(1));
  if (!w || !(*c)->commit_peer_memory(hal::NodeIdx(1), 0, 4096)) return "accepted, but no window";
  w->store64(0, 7, hal::StoreKind::kControl);
  return "accepted";
}

TEST(PostboxdTool, AClientOutsideTheGroupIsRefusedWithTheGroupToJoin) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client as another user";
  Job j;
  TempDir dir;
  const std::string sock = dir.file("g.sock");
  Daemon d({"-d", j.device(0), "-s", sock, "-g", "root"});
  ASSERT_TRUE(d.ready()) << d.log();
  auto [status, out] = as_nobody([&] { return open_result(sock); });
  ASSERT_EQ(status, 0);
  EXPECT_THAT(out, HasSubstr("refused: permission_denied"));
  EXPECT_THAT(out, HasSubstr("is not root and not in group 'root'"));
  EXPECT_THAT(out, HasSubstr("usermod -aG root nobody"));
  EXPECT_TRUE(d.wait_for_log("refused pid"));
}

TEST(PostboxdTool, AMemberOfTheGroupIsServedAndMapsWindowsItCouldNotOpen) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client as another user";
  const group* g = ::getgrgid(65534);
  if (g == nullptr) GTEST_SKIP() << "no group 65534 on this machine";
  Job j;
  TempDir dir;
  const std::string sock = dir.file("m.sock");
  Daemon d({"-d", j.device(0), "-s", sock, "-g", g->gr_name});
  ASSERT_TRUE(d.ready()) << d.log();
  auto [status, out] = as_nobody([&] { return open_result(sock); });
  ASSERT_EQ(status, 0);
  EXPECT_EQ(out, "accepted");
  auto n1 = hal::LoopbackDevice::open(j.job->spec().name, hal::NodeIdx(1));
  ASSERT_TRUE(n1);
  EXPECT_EQ((*n1)->local_mw(hal::NodeIdx(0))->load64_acquire(0), 7u) << "the member's store landed";
}

TEST(PostboxdTool, FailuresAreClearErrors) {
  TempDir dir;
  auto r = run_command({POSTBOXD, "-d", "loopback:no-such-job:0", "-s", dir.file("x.sock"), "-g", test::own_group(), "-f"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("open device 'loopback:no-such-job:0'"));
  EXPECT_THAT(r.err, HasSubstr("does not exist"));
  EXPECT_NE(::access(dir.file("x.sock").c_str(), F_OK), 0) << "no socket left behind";

  r = run_command({POSTBOXD, "-d", "loopback:j:0", "-s", dir.file("y.sock"), "-g", "no-such-group-pbx", "-f"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("group 'no-such-group-pbx' does not exist: create it (groupadd --system"));

  r = run_command({POSTBOXD, "-d", "ivshmem:0000:ff:1f.7", "-s", dir.file("z.sock"), "-g", test::own_group(), "-f"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("open device 'ivshmem:0000:ff:1f.7'"));
  EXPECT_THAT(r.err, HasSubstr("0000:ff:1f.7"));

  // An Intel NTB that is not there: the failure names the spec and the address.
  r = run_command({POSTBOXD, "-d", "ntb:0000:ff:1f.6", "-s", dir.file("n.sock"), "-g", test::own_group(), "-f"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("open device 'ntb:0000:ff:1f.6'"));
  EXPECT_THAT(r.err, HasSubstr("0000:ff:1f.6"));
  EXPECT_NE(::access(dir.file("n.sock").c_str(), F_OK), 0) << "no socket left behind";
  // A malformed or unsupported one is a usage error naming it and the accepted forms.
  r = run_command({POSTBOXD, "-d", "ntb:0", "-s", dir.file("m.sock"), "-f"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("device spec 'ntb:0'"));
  EXPECT_THAT(r.err, HasSubstr("PCI address '0' is invalid"));
  EXPECT_THAT(r.err, HasSubstr("ntb:BDF[,window=BYTES]"));
  r = run_command({POSTBOXD, "-d", "ntb:0000:af:00.0,window=3000", "-f"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("not a multiple of 4 KiB"));
  r = run_command({POSTBOXD, "-d", "ntb:0000:af:00.0", "--handshake", "on", "-f"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("brings its link up itself"));

  r = run_command({POSTBOXD, "-s", dir.file("u.sock")});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("--device is required"));
  r = run_command({POSTBOXD, "-d", "pcie:0"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown device kind 'pcie'"));
  r = run_command({POSTBOXD, "--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.out, HasSubstr("usage: postboxd --device SPEC"));
}

TEST(PostboxdTool, ClientErrorsSayWhetherTheDaemonRuns) {
  TempDir dir;
  auto c = hal::PostboxdClientDevice::open(dir.file("none.sock"));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Errc::kNoDevice);
  EXPECT_THAT(c.error().message(), HasSubstr("no postboxd socket at " + dir.file("none.sock")));
  EXPECT_THAT(c.error().message(), HasSubstr("PBX_POSTBOXD_SOCKET"));
}

TEST(PostboxdTool, DetachesWhenNotInTheForegroundOnceReady) {
  Job j;
  TempDir dir;
  const std::string sock = dir.file("bg.sock");
  auto r = run_command({POSTBOXD, "-d", j.device(0), "-s", sock, "-g", test::own_group()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("ready:"));
  // It serves at once (the parent exited only after the child was ready), and names its pid.
  auto c = hal::PostboxdClientDevice::open(sock);
  ASSERT_TRUE(c) << c.error().message();
  std::ifstream lock(sock + ".lock");
  pid_t pid = 0;
  lock >> pid;
  ASSERT_GT(pid, 0);
  c->reset();
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  // It is not our child: wait for it through its socket lock, which it holds until it exits.
  const int fd = ::open((sock + ".lock").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::flock(fd, LOCK_EX), 0) << "the lock is released when the daemon exits";
  ::close(fd);
  EXPECT_NE(::access(sock.c_str(), F_OK), 0) << "socket removed on SIGTERM";
}

}  // namespace
}  // namespace pbx
