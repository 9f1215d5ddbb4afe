// libpostbox between the two nodes of the test device, through the real device path (VFIO
// underneath the HAL): messages of every size class (inline, pool, pieces above the CTS) in
// both directions at once, each checked for contents, tag and order. Two-sided: both nodes run
// it at the same time; creating the endpoint waits for the other node's process.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "common/test_device.h"
#include "pbx/base/barrier.h"
#include "pbx/hal/ivshmem.h"
#include "pbx/postbox.hpp"

namespace pbx::hwtest {
namespace {

// Payload byte k of message i from node `from` in this run (the run's nonce keeps bytes left in
// shared memory by an earlier run from passing for this run's).
std::byte payload_byte(uint32_t from, uint32_t i, size_t k) {
  uint64_t x = (uint64_t{run_nonce()} << 32 | (from << 20) | i) * 0x9e3779b97f4a7c15ull + k * 0xbf58476d1ce4e5b9ull;
  return static_cast<std::byte>(x >> 56);
}

std::vector<std::byte> payload(uint32_t from, uint32_t i, size_t size) {
  std::vector<std::byte> v(size);
  for (size_t k = 0; k < size; ++k) v[k] = payload_byte(from, i, k);
  return v;
}

class PostboxTest : public DeviceTest {
 protected:
  PostboxTest() : DeviceTest({DeviceKind::kIvshmem}) {}

  // The endpoint of this node's process in a job of 2 nodes x 1 process.
  Result<Endpoint> open_endpoint(const Config& cfg) {
    auto bdf = vfio::Bdf::parse(dev_.bdf);
    if (!bdf) return tl::unexpected(bdf.error());
    hal::IvshmemOptions opts;
    opts.node_count = 2;
    auto dev = hal::IvshmemDevice::open(*bdf, opts);
    if (!dev) return tl::unexpected(dev.error());
    const Rank self{(*dev)->info().self.v, 0};
    return Endpoint::create(std::move(*dev), JobShape{2, 1}, self, cfg);
  }

  // Sends `sizes` (message i has size sizes[i % n]) to the other node while receiving its
  // messages, non-blocking throughout; checks every message received.
  void exchange(Endpoint& ep, const std::vector<size_t>& sizes, uint32_t count, uint32_t first = 0) {
    const Rank peer{static_cast<uint16_t>(1 - ep.self().node), 0};
    const uint32_t me = ep.self().node;
    std::vector<std::byte> out_buf, in_buf(1u << 20);
    uint32_t sent = 0, received = 0;
    bool sending = false;
    SendHandle h{};
    const uint64_t deadline = now_ns() + peer_timeout_ns();
    while (sent < count || received < count || sending) {
      if (sending) {
        auto t = ep.test(h);
        ASSERT_TRUE(t) << "message " << sent - 1 << " to node " << peer.node << ": " << t.error().message();
        if (*t) sending = false;
      }
      if (!sending && sent < count) {
        out_buf = payload(me, first + sent, sizes[sent % sizes.size()]);
        auto hh = ep.isend(peer, out_buf, first + sent);
        ASSERT_TRUE(hh) << hh.error().message();
        h = *hh;
        sending = true;
        ++sent;
      }
      auto g = ep.try_recv(in_buf);
      if (g) {
        const size_t want_size = sizes[received % sizes.size()];
        ASSERT_EQ(g->source, peer);
        ASSERT_EQ(g->tag, first + received) << "messages out of order";
        ASSERT_EQ(g->size, want_size) << "message " << received;
        for (size_t k = 0; k < want_size; ++k)
          ASSERT_EQ(in_buf[k], payload_byte(peer.node, first + received, k)) << "message " << received << " byte " << k;
        ++received;
      } else {
        ASSERT_EQ(g.error().code(), Errc::kWouldBlock) << g.error().message();
      }
      ASSERT_LT(now_ns(), deadline) << "node " << me << ": sent " << sent << "/" << count << ", received " << received
                                    << "/" << count << " (is the other node running this test?)";
    }
  }
};

// One endpoint for the whole exchange: a node that closed and reopened its device while the
// other is still finishing would be a different test (see hal_test's reopen case).
TEST_F(PostboxTest, MessagesOfEverySizeClassCrossBothWaysInOrder) {
  Config cfg;
  cfg.pool_size = 256u << 10;
  cfg.cts = 64u << 10;      // messages above 16 KiB go in pieces of 16 KiB
  cfg.cts_slices = 4;
  cfg.postbox_slots = 32;   // the postboxes wrap many times: acknowledgements cross both ways
  cfg.timeout_ms = static_cast<uint32_t>(peer_timeout_ns() / 1'000'000);
  auto ep = open_endpoint(cfg);
  ASSERT_TRUE(ep) << ep.error().message();
  // Every size class, a few times each.
  // Inline (up to inline_max), payload ring (up to ring_max), pool (up to a slice), pieces.
  const std::vector<size_t> sizes{0, 1, 8, 49, 50, 100, 1000, 4096, 4097, 10000, 16384, 20000, 65536, 65537, 300000};
  exchange(*ep, sizes, 4 * static_cast<uint32_t>(sizes.size()));
  const Stats& s = ep->stats();
  EXPECT_GT(s.tx_inline, 0u);
  EXPECT_GT(s.tx_ring, 0u);
  EXPECT_GT(s.tx_pool, 0u);
  EXPECT_GT(s.tx_pieces, 0u);
  // Then many small messages: slots and blocks are reclaimed over and over.
  exchange(*ep, {8, 64, 49, 700}, 2000, /*first=*/1000);
  EXPECT_GT(s.slots_reclaimed, 1000u);
  EXPECT_GT(s.acks_written, 0u);
  EXPECT_EQ(s.bad_indicators, 0u);
  EXPECT_EQ(s.bad_acks, 0u);
  auto c = ep->close();
  EXPECT_TRUE(c) << c.error().message();
}


// The process of one node is killed (SIGKILL) and started again, then the other node's: the
// field's most common failure (one side of an NTB link reboots), in both orders. Each time the
// survivor names the dead process peer_gone (its heartbeat stops), then talks with the new
// incarnation, which gets nothing meant for the dead one. Every endpoint lives in a child
// process, so that the test can kill it; the VFIO device is free again once the child is gone.
TEST_F(PostboxTest, AProcessKilledOnEitherNodeRejoinsAsANewIncarnation) {
  Config cfg;
  cfg.pool_size = 256u << 10;
  cfg.cts = 64u << 10;
  cfg.postbox_slots = 32;
  cfg.timeout_ms = static_cast<uint32_t>(peer_timeout_ns() / 1'000'000);
  cfg.peer_timeout_ms = 2000;  // (TCG guests with one vCPU: heartbeats may be late)
  const std::vector<size_t> sizes{8, 49, 1000, 20000, 100000};
  constexpr uint32_t kCount = 20;
  uint16_t me = 0;
  {  // which node this VM is (the device is closed again for the children)
    auto bdf = vfio::Bdf::parse(dev_.bdf);
    ASSERT_TRUE(bdf) << bdf.error().message();
    hal::IvshmemOptions opts;
    opts.node_count = 2;
    auto d = hal::IvshmemDevice::open(*bdf, opts);
    ASSERT_TRUE(d) << d.error().message();
    me = (*d)->info().self.v;
  }
  const Rank peer{static_cast<uint16_t>(1 - me), 0};

  // A child with an endpoint: `body` runs in it; the exit status says how it went.
  auto spawn = [&](const std::function<int(Endpoint&)>& body) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      auto ep = open_endpoint(cfg);
      if (!ep) {
        std::fprintf(stderr, "node %u: %s\n", me, ep.error().message().c_str());
        _exit(2);
      }
      const int rc = body(*ep);
      (void)ep->close();
      _exit(rc);
    }
    return pid;
  };
  auto status_of = [](pid_t pid) {
    int st = 0;
    ::waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  };
  // gtest assertions inside a child: its exit status carries the verdict.
  auto checked_exchange = [&](Endpoint& ep, uint32_t first) {
    exchange(ep, sizes, kCount, first);
    return ::testing::Test::HasFatalFailure() || ::testing::Test::HasNonfatalFailure() ? 1 : 0;
  };
  // Right after a restart the ivshmem link itself goes down and up (the new process's device
  // open starts a new link generation): one message each way, sent again while the link
  // reports it lost. The initiator sends `tag`, the other answers `tag + 1`.
  auto recv_tag = [&](Endpoint& ep, uint32_t tag) {
    std::vector<std::byte> b(4096);
    const uint64_t deadline = now_ns() + peer_timeout_ns();
    while (now_ns() < deadline) {
      auto g = ep.recv(b, peer);
      if (g && g->tag == tag) return 0;
      if (g) {
        std::fprintf(stderr, "node %u: got tag %u from node %u, want %u\n", me, g->tag, peer.node, tag);
        return 9;
      }
      if (g.error().code() != Errc::kLinkDown && g.error().code() != Errc::kTimedOut) {
        std::fprintf(stderr, "node %u: waiting for tag %u: %s\n", me, tag, g.error().message().c_str());
        return 9;
      }
    }
    return 9;
  };
  auto send_tag = [&](Endpoint& ep, uint32_t tag) {
    const auto msg = payload(me, tag, 1000);
    const uint64_t deadline = now_ns() + peer_timeout_ns();
    while (now_ns() < deadline) {
      auto r = ep.send(peer, msg, tag);
      if (r) return 0;
      if (r.error().code() != Errc::kLinkDown) {
        std::fprintf(stderr, "node %u: sending tag %u: %s\n", me, tag, r.error().message().c_str());
        return 10;
      }
    }
    return 10;
  };
  auto pingpong = [&](Endpoint& ep, uint32_t tag, bool initiator) {
    if (initiator) {
      if (const int s = send_tag(ep, tag); s != 0) return s;
      return recv_tag(ep, tag + 1);
    }
    if (const int s = recv_tag(ep, tag); s != 0) return s;
    return send_tag(ep, tag + 1);
  };
  // The survivor: after the exchange, sends until the peer is named gone (or seen restarted:
  // its new incarnation may come up before the heartbeat of the dead one is missed), then until
  // its next incarnation takes messages again, then exchanges with it.
  auto survive = [&](Endpoint& ep, uint32_t round) {
    // (Round 2's survivor started just now: a ping-pong, which tolerates the link's restart.)
    if ((round == 1 ? checked_exchange(ep, 1000) : pingpong(ep, 2000, true)) != 0) return 3;
    const auto msg = payload(me, 0, 100);
    const uint64_t restarts = ep.stats().peer_restarts;
    int last = 0;
    for (uint32_t i = 0;; ++i) {
      if (ep.stats().peer_restarts != restarts) break;
      auto r = ep.send(peer, msg, 1000 * round + 500);
      if (!r && static_cast<int>(r.error().code()) != last) {  // (a trace of what the survivor sees, once per change)
        last = static_cast<int>(r.error().code());
        std::fprintf(stderr, "node %u: sending to node %u's dead process: %s\n", me, peer.node, r.error().message().c_str());
      }
      if (!r && r.error().code() == Errc::kPeerGone) break;
      if (!r && r.error().code() == Errc::kLinkDown) continue;  // (its device closed: the link dropped)
      if (!r) {
        std::fprintf(stderr, "node %u: waiting for node %u to be named gone: %s\n", me, peer.node,
                     r.error().message().c_str());
        return 4;
      }
      if (i > 1'000'000) return 5;
    }
    const uint64_t deadline = now_ns() + peer_timeout_ns();
    std::fprintf(stderr, "node %u: node %u's process is gone (%llu restarts seen); now its next one\n", me, peer.node,
                 static_cast<unsigned long long>(ep.stats().peer_restarts));
    for (;;) {  // its new incarnation: the first send that goes through
      auto r = ep.send(peer, msg, 1000 * round + 600);
      if (r) break;
      if (now_ns() > deadline) {
        std::fprintf(stderr, "node %u: node %u's new incarnation never came: %s\n", me, peer.node,
                     r.error().message().c_str());
        return 6;
      }
      if (r.error().code() != Errc::kPeerGone && r.error().code() != Errc::kLinkDown) {
        std::fprintf(stderr, "node %u: reaching node %u's new incarnation: %s\n", me, peer.node,
                     r.error().message().c_str());
        return 6;
      }
      ep.progress();
    }
    if (ep.stats().peers_gone < 1 || ep.stats().peer_restarts < 1) return 7;
    return pingpong(ep, 1000 * round + 700, true);
  };
  // The new incarnation: its first message from the survivor is the one sent after the death
  // (or, once, the one whose send noticed the restart: it went to the new incarnation), never
  // one sent to the dead incarnation.
  auto reborn = [&](Endpoint& ep, uint32_t round) {
    std::vector<std::byte> b(4096);
    auto next = [&] {
      auto m = ep.recv(b, peer);
      for (int i = 0; i < 100 && !m && m.error().code() == Errc::kLinkDown; ++i) m = ep.recv(b, peer);
      return m;
    };
    auto g = next();
    if (g && g->tag == 1000 * round + 500) g = next();
    if (!g || g->tag != 1000 * round + 600) {
      std::fprintf(stderr, "node %u, new incarnation: its first message from node %u is %s (want tag %u)\n", me,
                   peer.node, g ? ("tag " + std::to_string(g->tag)).c_str() : g.error().message().c_str(),
                   1000 * round + 600);
      return 8;
    }
    return pingpong(ep, 1000 * round + 700, false);
  };

  // Node 1: A1 is round 1's victim; A2, its new incarnation, survives round 2.
  // Node 0: B1 survives round 1 and is round 2's victim; B2 is its new incarnation.
  int up[2];
  ASSERT_EQ(::pipe(up), 0);
  const pid_t victim = spawn([&](Endpoint& ep) {
    const int s = me == 1 ? checked_exchange(ep, 1000) : survive(ep, 1);
    if (s != 0 || (me == 0 && pingpong(ep, 2000, false) != 0)) return s != 0 ? s : 3;
    (void)!::write(up[1], "x", 1);  // done: kill me
    ::pause();
    return 0;
  });
  char c = 0;
  ASSERT_EQ(::read(up[0], &c, 1), 1) << "node " << me << ": the first process failed: " << status_of(victim);
  ::kill(victim, SIGKILL);
  EXPECT_EQ(status_of(victim), 128 + SIGKILL);
  const pid_t reborn_pid = spawn([&](Endpoint& ep) {
    const int s = reborn(ep, me == 1 ? 1 : 2);
    return s != 0 || me == 0 ? s : survive(ep, 2);
  });
  EXPECT_EQ(status_of(reborn_pid), 0) << "node " << me << " (exit status: 3 exchange, 4-7 naming the dead peer or "
                                                        "reaching its new incarnation, 8 a stale first message, "
                                                        "9-10 the ping-pong after the restart)";
  ::close(up[0]);
  ::close(up[1]);
}

}  // namespace
}  // namespace pbx::hwtest
