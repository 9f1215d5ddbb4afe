// postboxd with real processes: a daemon per node of a loopback job (the built binary), client
// processes that map their windows from the fds it passes and exchange libpostbox messages.
#include <signal.h>
#include <stdlib.h>

#include <array>
#include <future>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/hal/postboxd/client.h"
#include "endpoint_impl.h"
#include "pbx/postbox.hpp"
#include "support/loopback_job.h"
#include "support/postboxd.h"

namespace pbx {
namespace {

using test::Daemon;
using test::TempDir;
using ::testing::HasSubstr;

// A loopback job with one postboxd per node.
struct Fabric {
  Fabric(const JobShape& s, const std::vector<std::string>& extra = {}) : shape(s), job(test::make_job(s)) {
    for (uint16_t k = 0; k < s.nodes; ++k) {
      std::vector<std::string> args = {"--device", "loopback:" + job.spec().name + ":" + std::to_string(k), "--socket",
                                       socket(k), "--group", test::own_group()};
      args.insert(args.end(), extra.begin(), extra.end());
      daemons.push_back(std::make_unique<Daemon>(args));
      EXPECT_TRUE(daemons.back()->ready()) << daemons.back()->log();
    }
  }
  std::string socket(uint16_t k) const { return dir.file("node" + std::to_string(k) + ".sock"); }

  JobShape shape;
  TempDir dir;
  hal::LoopbackJob job;
  std::vector<std::unique_ptr<Daemon>> daemons;
};

// Waits until every link of `dev` is up (the daemons' handshake), as an event: each look is a
// read of the status page. Bounded only to turn a hang into a failure.
bool wait_links_up(hal::Device& dev) {
  const uint64_t give_up = now_ns() + 60'000'000'000ull;
  for (;;) {
    bool all = true;
    for (uint16_t k = 0; k < dev.info().node_count; ++k) all = all && dev.link_status(hal::NodeIdx(k)).up;
    if (all) return true;
    if (now_ns() > give_up) return false;
    cpu_pause();
  }
}

Result<Endpoint> endpoint_via(const std::string& socket, const JobShape& shape, Rank self, const Config& cfg = {}) {
  auto dev = hal::PostboxdClientDevice::open(socket);
  if (!dev) return tl::unexpected(dev.error());
  if (!wait_links_up(**dev)) return fail(Errc::kLinkDown, "links never came up");
  return Endpoint::create(std::move(*dev), shape, self, cfg);
}

#define CHILD_CHECK(cond, ...)            \
  do {                                    \
    if (!(cond)) {                        \
      std::fprintf(stderr, __VA_ARGS__);  \
      std::fprintf(stderr, "\n");         \
      return 1;                           \
    }                                     \
  } while (0)

// Sizes of every class with the default Config: empty, inline (<= 49), pool, the CTS, and
// pieces (above the CTS).
constexpr std::array<size_t, 9> kSizes = {0, 1, 49, 50, 1024, 65536, 256u << 10, (256u << 10) + 1, 700'000};

int exchange(Endpoint& ep) {
  const JobShape shape = ep.shape();
  const uint32_t me = ep.rank();
  // Pool and inline messages fit the receivers' pools: plain sends. Messages in pieces need
  // their receivers to take pieces out, so they go as isends completed while we receive.
  std::vector<std::vector<std::byte>> big;
  std::vector<SendHandle> handles;
  for (uint32_t r = 0; r < shape.size(); ++r) {
    if (r == me) continue;
    for (size_t i = 0; i < kSizes.size(); ++i) {
      if (kSizes[i] > (256u << 10)) continue;
      auto ok = ep.send(shape.rank_of(r), test::bytes(test::pattern(kSizes[i], me, i)), static_cast<uint32_t>(i));
      CHILD_CHECK(ok, "rank %u: send %zu bytes to %u: %s", me, kSizes[i], r, ok.error().message().c_str());
    }
  }
  for (uint32_t r = 0; r < shape.size(); ++r) {
    if (r == me) continue;
    for (size_t i = 0; i < kSizes.size(); ++i) {
      if (kSizes[i] <= (256u << 10)) continue;
      big.push_back(test::pattern(kSizes[i], me, i));
      auto h = ep.isend(shape.rank_of(r), test::bytes(big.back()), static_cast<uint32_t>(i));
      CHILD_CHECK(h, "rank %u: isend %zu bytes to %u: %s", me, kSizes[i], r, h.error().message().c_str());
      handles.push_back(*h);
    }
  }
  std::vector<std::byte> buf(1 << 20);
  for (uint32_t r = 0; r < shape.size(); ++r) {
    if (r == me) continue;
    for (size_t i = 0; i < kSizes.size(); ++i) {
      auto info = ep.recv(buf, shape.rank_of(r));
      CHILD_CHECK(info, "rank %u: recv #%zu from %u: %s", me, i, r, info.error().message().c_str());
      // Per pair, messages arrive in the order sent: small ones first, then pieces.
      const size_t want = kSizes[i];
      CHILD_CHECK(info->size == want && info->tag == i, "rank %u: from %u got %zu bytes tag %u, want %zu tag %zu", me,
                  r, info->size, info->tag, want, i);
      CHILD_CHECK(std::equal(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(want), test::pattern(want, r, i).begin()),
                  "rank %u: message %zu from %u is corrupt", me, i, r);
    }
  }
  for (SendHandle h : handles) {
    auto ok = ep.wait(h);
    CHILD_CHECK(ok, "rank %u: isend: %s", me, ok.error().message().c_str());
  }
  return 0;
}

TEST(Postboxd, ClientProcessesExchangeEverySizeClassAcrossNodesThroughTheDaemons) {
  const JobShape shape{2, 2};
  Fabric f(shape, {"--handshake", "on"});  // the daemons' scratchpad handshake, for real
  const auto status = test::run_processes(shape.size(), [&](uint32_t r) {
    const Rank self = shape.rank_of(r);
    // The product path: Endpoint::from_env with PBX_BACKEND=postboxd (it waits until the
    // daemons' handshake brought the links up).
    ::setenv("PBX_BACKEND", "postboxd", 1);
    ::setenv("PBX_POSTBOXD_SOCKET", f.socket(self.node).c_str(), 1);
    ::setenv("PBX_NODES", "2", 1);
    ::setenv("PBX_PROCS_PER_NODE", "2", 1);
    ::setenv("PBX_NODE", std::to_string(self.node).c_str(), 1);
    ::setenv("PBX_LOCAL", std::to_string(self.local).c_str(), 1);
    ::unsetenv("PBX_JOB");
    auto ep = Endpoint::from_env();
    CHILD_CHECK(ep, "rank %u: from_env: %s", r, ep.error().message().c_str());
    CHILD_CHECK(ep->shape().nodes == 2 && ep->rank() == r, "rank %u: wrong identity", r);
    if (const int rc = exchange(*ep); rc != 0) return rc;
    auto closed = ep->close();
    CHILD_CHECK(closed, "rank %u: close: %s", r, closed.error().message().c_str());
    return 0;
  });
  EXPECT_THAT(status, ::testing::Each(0));
  for (auto& d : f.daemons) {
    EXPECT_THAT(d->log(), HasSubstr("link to node")) << "the handshake brought the link up";
    EXPECT_EQ(d->stop(SIGTERM), 0) << d->log();
  }
}

TEST(Postboxd, ClientsMapTheirWindowsFromTheFilesThePeersDaemonServes) {
  Fabric f({2, 1});
  auto a = hal::PostboxdClientDevice::open(f.socket(0));
  auto b = hal::PostboxdClientDevice::open(f.socket(1));
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ((*a)->info().self, hal::NodeIdx(0));
  EXPECT_EQ((*b)->info().self, hal::NodeIdx(1));
  EXPECT_EQ((*a)->info().node_count, 2u);
  EXPECT_EQ((*a)->info().backend, "postboxd/loopback");
  EXPECT_EQ((*a)->info().window_size, f.job.spec().window_size);
  ASSERT_TRUE((*a)->commit_peer_memory(hal::NodeIdx(1), 0, 4096));
  (*a)->peer_mw(hal::NodeIdx(1))->store64_release(64, 0xfeed, hal::StoreKind::kControl);
  EXPECT_EQ((*b)->local_mw(hal::NodeIdx(0))->load64_acquire(64), 0xfeedu);
  // And the same memory as a process that opened the loopback device itself.
  auto direct = hal::LoopbackDevice::open(f.job.spec().name, hal::NodeIdx(1));
  ASSERT_TRUE(direct);
  EXPECT_EQ((*direct)->local_mw(hal::NodeIdx(0))->load64_acquire(64), 0xfeedu);
  // Control operations go through the daemon to the device.
  ASSERT_TRUE((*a)->peer_spad_write(hal::NodeIdx(1), hal::SpadIdx(9), 1234));
  EXPECT_EQ(*(*b)->spad_read(hal::NodeIdx(0), hal::SpadIdx(9)), 1234u);
  ASSERT_TRUE((*a)->peer_db_set(hal::NodeIdx(1), 0x6));
  EXPECT_EQ(*(*b)->db_wait(hal::NodeIdx(0), 10'000'000'000ull), 0x6u);
  ASSERT_TRUE((*b)->db_clear(hal::NodeIdx(0), 0x2));
  EXPECT_EQ(*(*b)->db_read(hal::NodeIdx(0)), 0x4u);
  // Device errors come back with their message.
  auto bad = (*a)->spad_read(hal::NodeIdx(1), hal::SpadIdx(99));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::kInvalidArgument);
  EXPECT_THAT(bad.error().message(), HasSubstr("scratchpad 99 does not exist"));
}

TEST(Postboxd, LinkStateFollowsTheDeviceThroughTheStatusPage) {
  Fabric f({2, 1});
  auto a = hal::PostboxdClientDevice::open(f.socket(0));
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(wait_links_up(**a));
  const uint32_t gen = (*a)->link_status(hal::NodeIdx(1)).generation;
  ASSERT_TRUE(hal::LoopbackJob::set_link(f.job.spec().name, hal::NodeIdx(0), hal::NodeIdx(1), false));
  ASSERT_TRUE(f.daemons[0]->wait_for_log("link to node 1 down"));
  const hal::LinkStatus down = (*a)->link_status(hal::NodeIdx(1));
  EXPECT_FALSE(down.up);
  EXPECT_NE(down.generation, gen);
  ASSERT_TRUE(hal::LoopbackJob::set_link(f.job.spec().name, hal::NodeIdx(0), hal::NodeIdx(1), true));
  ASSERT_TRUE(wait_links_up(**a));
  EXPECT_NE((*a)->link_status(hal::NodeIdx(1)).generation, down.generation);
}

TEST(Postboxd, TheDaemonsDeathIsReportedToClientsNotAHang) {
  const JobShape shape{2, 1};
  Fabric f(shape);
  auto f0 = std::async(std::launch::async, [&] { return endpoint_via(f.socket(0), shape, {0, 0}); });
  auto f1 = std::async(std::launch::async, [&] { return endpoint_via(f.socket(1), shape, {1, 0}); });
  auto e0 = f0.get();
  auto e1 = f1.get();
  ASSERT_TRUE(e0) << e0.error().message();
  ASSERT_TRUE(e1) << e1.error().message();
  const std::string hello = "before";
  ASSERT_TRUE(e1->send({0, 0}, test::bytes(hello)));
  std::array<std::byte, 64> buf{};
  ASSERT_TRUE(e0->recv(buf, {1, 0}));

  // Node 0's daemon dies without a word.
  EXPECT_EQ(f.daemons[0]->stop(SIGKILL), 128 + SIGKILL);
  hal::Device& dev = detail::impl_of(*e0).device();
  EXPECT_FALSE(dev.link_status(hal::NodeIdx(1)).up) << "seen at once, without a system call";
  EXPECT_TRUE(dev.link_status(hal::NodeIdx(0)).up) << "this node's own memory needs no daemon";
  auto r = e0->recv(buf, {1, 0});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kLinkDown) << r.error().message();
  auto spad = dev.spad_read(hal::NodeIdx(1), hal::SpadIdx(8));
  ASSERT_FALSE(spad);
  EXPECT_EQ(spad.error().code(), Errc::kLinkDown);
  EXPECT_THAT(spad.error().message(), HasSubstr("postboxd at " + f.socket(0) + " has gone"));
  (void)e0->close();
  (void)e1->close();
}

TEST(Postboxd, ACleanStopTakesTheLinksDownAndRemovesTheSocket) {
  Fabric f({2, 1});
  auto a = hal::PostboxdClientDevice::open(f.socket(0));
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(wait_links_up(**a));
  const uint32_t gen = (*a)->link_status(hal::NodeIdx(1)).generation;
  EXPECT_EQ(f.daemons[0]->stop(SIGTERM), 0);
  EXPECT_THAT(f.daemons[0]->log(), HasSubstr("stopping on"));
  const hal::LinkStatus ls = (*a)->link_status(hal::NodeIdx(1));
  EXPECT_FALSE(ls.up);
  EXPECT_EQ(ls.generation, gen + 1) << "one transition: the daemon published it before leaving";
  EXPECT_NE(::access(f.socket(0).c_str(), F_OK), 0) << "socket removed";
  auto again = hal::PostboxdClientDevice::open(f.socket(0));
  ASSERT_FALSE(again);
  EXPECT_THAT(again.error().message(), HasSubstr("no postboxd socket at"));
}

TEST(Postboxd, FromEnvRefusesANodeIndexThatIsNotTheDaemons) {
  Fabric f({2, 1});
  ::setenv("PBX_BACKEND", "postboxd", 1);
  ::setenv("PBX_POSTBOXD_SOCKET", f.socket(0).c_str(), 1);
  ::setenv("PBX_NODES", "2", 1);
  ::setenv("PBX_PROCS_PER_NODE", "1", 1);
  ::setenv("PBX_NODE", "1", 1);
  ::setenv("PBX_LOCAL", "0", 1);
  auto ep = Endpoint::from_env();
  for (const char* v : {"PBX_BACKEND", "PBX_POSTBOXD_SOCKET", "PBX_NODES", "PBX_PROCS_PER_NODE", "PBX_NODE", "PBX_LOCAL"})
    ::unsetenv(v);
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error().code(), Errc::kInvalidArgument);
  EXPECT_THAT(ep.error().message(), HasSubstr("PBX_NODE = 1 but postboxd at " + f.socket(0) + " serves node 0"));
}

TEST(Postboxd, FromEnvNamesTheNodeWhoseDaemonNeverAnswered) {
  const JobShape shape{2, 1};
  hal::LoopbackJob job = test::make_job(shape);
  TempDir dir;
  Daemon d0({"-d", "loopback:" + job.spec().name + ":0", "-s", dir.file("n0.sock"), "-g", test::own_group(),
             "--handshake", "on"});  // no daemon on node 1
  ASSERT_TRUE(d0.ready()) << d0.log();
  ::setenv("PBX_BACKEND", "postboxd", 1);
  ::setenv("PBX_POSTBOXD_SOCKET", dir.file("n0.sock").c_str(), 1);
  ::setenv("PBX_NODES", "2", 1);
  ::setenv("PBX_PROCS_PER_NODE", "1", 1);
  ::setenv("PBX_NODE", "0", 1);
  ::setenv("PBX_LOCAL", "0", 1);
  ::setenv("PBX_TIMEOUT_MS", "50", 1);
  auto ep = Endpoint::from_env();
  for (const char* v :
       {"PBX_BACKEND", "PBX_POSTBOXD_SOCKET", "PBX_NODES", "PBX_PROCS_PER_NODE", "PBX_NODE", "PBX_LOCAL", "PBX_TIMEOUT_MS"})
    ::unsetenv(v);
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error().code(), Errc::kLinkDown);
  EXPECT_THAT(ep.error().message(), HasSubstr("the link to node 1 is still down"));
  EXPECT_THAT(ep.error().message(), HasSubstr("is postboxd running there?"));
}

}  // namespace
}  // namespace pbx
