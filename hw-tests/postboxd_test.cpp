// Many processes on one node: postboxd owns the device (through VFIO) and two client processes
// per node map their windows from the fds it passes, then talk to every process of the job —
// the other local one and the two on the other node — with libpostbox. Two-sided: both nodes
// run it at the same time.
//
//   pbx_hw_postboxd_test [POSTBOXD]     (default: the postboxd built next to this test)
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/test_device.h"
#include "pbx/base/barrier.h"
#include "pbx/hal/postboxd/client.h"
#include "pbx/postbox.hpp"

namespace pbx::hwtest {
namespace {

std::string g_postboxd =
#ifdef PBX_POSTBOXD_HOST_PATH
    PBX_POSTBOXD_HOST_PATH;
#else
    "/opt/pbx/bin/postboxd";
#endif

constexpr const char* kSocketDir = "/tmp/pbx-hw-postboxd";
constexpr const char* kSocket = "/tmp/pbx-hw-postboxd/postboxd.sock";

std::byte payload_byte(uint32_t from, uint32_t to, uint32_t i, size_t k) {
  const uint64_t x =
      ((uint64_t{run_nonce()} << 32) | (from << 24) | (to << 16) | i) * 0x9e3779b97f4a7c15ull + k * 0xbf58476d1ce4e5b9ull;
  return static_cast<std::byte>(x >> 56);
}

size_t size_of(uint32_t i) {
  static const size_t sizes[] = {0, 8, 49, 50, 1000, 4096, 20000, 70000};  // 70000 > CTS: pieces
  return sizes[i % std::size(sizes)];
}

// One client process: every rank of the 2 x 2 job gets `count` messages from it; it checks
// what it gets from each. Returns 0 when everything arrived intact and in order.
int run_client(uint32_t count) {
  auto ep = Endpoint::from_env();
  if (!ep) {
    std::fprintf(stderr, "client: %s\n", ep.error().message().c_str());
    return 2;
  }
  const uint32_t me = ep->rank(), n = ep->shape().size();
  std::vector<uint32_t> next_to(n, 0), next_from(n, 0);
  std::vector<std::byte> out, in(1u << 20);
  bool sending = false;
  SendHandle h{};
  uint32_t done_sending = 0, done_receiving = 0, to = 0;
  const uint64_t deadline = now_ns() + peer_timeout_ns();
  while (done_sending < n || done_receiving < n || sending) {
    if (sending) {
      auto t = ep->test(h);
      if (!t) {
        std::fprintf(stderr, "client %u: send: %s\n", me, t.error().message().c_str());
        return 3;
      }
      sending = !*t;
    }
    if (!sending && done_sending < n) {
      while (next_to[to] == count) to = (to + 1) % n;
      const uint32_t i = next_to[to]++;
      out.resize(size_of(i));
      for (size_t k = 0; k < out.size(); ++k) out[k] = payload_byte(me, to, i, k);
      auto hh = ep->isend(ep->shape().rank_of(to), out, i);
      if (!hh) {
        std::fprintf(stderr, "client %u: isend: %s\n", me, hh.error().message().c_str());
        return 4;
      }
      h = *hh;
      sending = true;
      if (next_to[to] == count) ++done_sending;
      to = (to + 1) % n;
    }
    auto g = ep->try_recv(in);
    if (g) {
      const uint32_t from = ep->shape().flat(g->source);
      const uint32_t i = next_from[from]++;
      bool ok = g->tag == i && g->size == size_of(i);
      for (size_t k = 0; ok && k < g->size; ++k) ok = in[k] == payload_byte(from, me, i, k);
      if (!ok) {
        std::fprintf(stderr, "client %u: message %u from rank %u is wrong (tag %u, size %zu)\n", me, i, from, g->tag,
                     g->size);
        return 5;
      }
      if (next_from[from] == count) ++done_receiving;
    } else if (g.error().code() != Errc::kWouldBlock) {
      std::fprintf(stderr, "client %u: recv: %s\n", me, g.error().message().c_str());
      return 6;
    }
    if (now_ns() > deadline) {
      std::fprintf(stderr, "client %u: out of time (sent to %u of %u ranks, heard all from %u)\n", me, done_sending, n,
                   done_receiving);
      return 7;
    }
  }
  if (auto c = ep->close(); !c) {
    std::fprintf(stderr, "client %u: close: %s\n", me, c.error().message().c_str());
    return 8;
  }
  return 0;
}

class PostboxdTest : public DeviceTest {
 protected:
  PostboxdTest() : DeviceTest({DeviceKind::kIvshmem}) {}
};

TEST_F(PostboxdTest, TwoClientProcessesPerNodeTalkThroughTheNodeManagers) {
  ASSERT_EQ(access(g_postboxd.c_str(), X_OK), 0) << g_postboxd << " is not an executable postboxd";
  mkdir(kSocketDir, 0755);
  // The node manager: it owns the device and detaches once it is ready (exit 0), or fails.
  const std::string device = "ivshmem:" + dev_.bdf + ",nodes=2";
  const pid_t daemon_start = fork();
  if (daemon_start == 0) {
    execl(g_postboxd.c_str(), "postboxd", "--device", device.c_str(), "--socket", kSocket, "--group", "root",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  int st = 0;
  ASSERT_EQ(waitpid(daemon_start, &st, 0), daemon_start);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "postboxd did not start (see its messages above)";
  // This node's index, from the node manager.
  auto probe = hal::PostboxdClientDevice::open(kSocket);
  ASSERT_TRUE(probe) << probe.error().message();
  const uint16_t node = (*probe)->info().self.v;
  probe->reset();

  setenv("PBX_BACKEND", "postboxd", 1);
  setenv("PBX_POSTBOXD_SOCKET", kSocket, 1);
  setenv("PBX_NODES", "2", 1);
  setenv("PBX_PROCS_PER_NODE", "2", 1);
  setenv("PBX_NODE", std::to_string(node).c_str(), 1);
  setenv("PBX_POOL_SIZE", "256K", 1);  // ~1 MiB windows on a 4 MiB ivshmem
  setenv("PBX_CTS", "64K", 1);
  setenv("PBX_POSTBOX_SLOTS", "32", 1);
  setenv("PBX_TIMEOUT_MS", std::to_string(peer_timeout_ns() / 1'000'000).c_str(), 1);
  std::vector<pid_t> clients;
  for (int local = 0; local < 2; ++local) {
    const pid_t pid = fork();
    if (pid == 0) {
      setenv("PBX_LOCAL", std::to_string(local).c_str(), 1);
      std::fflush(nullptr);
      _exit(run_client(24));
    }
    clients.push_back(pid);
  }
  std::vector<int> status;
  for (pid_t pid : clients) {
    waitpid(pid, &st, 0);
    status.push_back(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  }
  // Stop the node manager (its pid is in the lock file next to the socket).
  FILE* lock = std::fopen((std::string(kSocket) + ".lock").c_str(), "r");
  ASSERT_NE(lock, nullptr);
  int daemon_pid = 0;
  ASSERT_EQ(std::fscanf(lock, "%d", &daemon_pid), 1);
  std::fclose(lock);
  ASSERT_GT(daemon_pid, 1);
  EXPECT_EQ(kill(daemon_pid, SIGTERM), 0);
  for (size_t i = 0; i < status.size(); ++i) EXPECT_EQ(status[i], 0) << "client " << i << " of node " << node;
}

}  // namespace
}  // namespace pbx::hwtest

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc > 1) pbx::hwtest::g_postboxd = argv[1];
  return RUN_ALL_TESTS();
}
