// Exactly once or an error, under faults: a link that flaps under messages in pieces, a peer
// killed with SIGKILL, a sender stopped in the middle of a large message, blocking sends of
// large messages in all-to-all rounds. Real processes (fork) where a process must die or stop.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <cstdio>
#include <thread>

#include <gtest/gtest.h>

#include "layout.h"
#include "pbx/hal/loopback.h"
#include "support/loopback_job.h"

namespace pbx {
namespace {

using test::bytes;
using test::make_endpoints;
using test::make_job;
using test::open_endpoint;
using test::pattern;

// A pipe that carries one byte: "I got this far" from a child to its parent.
struct Signal {
  int fd[2] = {-1, -1};
  Signal() { EXPECT_EQ(::pipe(fd), 0); }
  ~Signal() {
    ::close(fd[0]);
    ::close(fd[1]);
  }
  void post() const { EXPECT_EQ(::write(fd[1], "x", 1), 1); }
  bool wait() const {
    char c;
    return ::read(fd[0], &c, 1) == 1;
  }
};

// A child process that joins the job as `self`, tells the parent, then runs `then` (which may
// never return: the parent kills it).
pid_t spawn_rank(const hal::LoopbackJob& job, const JobShape& shape, Rank self, const Config& cfg, const Signal& up,
                 const std::function<int(Endpoint&)>& then) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto ep = open_endpoint(job, shape, self, cfg);
    if (!ep) {
      std::fprintf(stderr, "child: %s\n", ep.error().message().c_str());
      _exit(2);
    }
    up.post();
    const int rc = then(*ep);
    std::fflush(nullptr);
    _exit(rc);
  }
  return pid;
}

int exit_code(pid_t pid) {
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// ---- a link that flaps while messages above the CTS are in flight -----------------------

// 300 KB messages (above the 256 KiB CTS: pieces) from (0, 0) to (1, 0) while the link between
// the nodes goes down and up 15 times. Every message whose send succeeded either arrives once,
// in order and intact, or is reported lost to its sender: received + reported == sent.
TEST(Faults, LinkFlapsAboveTheCtsLoseNothingSilently) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.timeout_ms = 20000;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  constexpr uint32_t kMinMessages = 300;
  constexpr uint32_t kEnd = 0xffffffff;  // tag of the last message, sent once the link is stable
  constexpr size_t kSize = 300'000;
  std::atomic<bool> flaps_done{false};
  // Fault timing, not synchronisation: whatever the interleaving, the counts must add up.
  std::thread flapper([&] {
    for (int f = 0; f < 15; ++f) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      ASSERT_TRUE(hal::LoopbackJob::set_link(job.spec().name, hal::NodeIdx(0), hal::NodeIdx(1), false));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      ASSERT_TRUE(hal::LoopbackJob::set_link(job.spec().name, hal::NodeIdx(0), hal::NodeIdx(1), true));
    }
    flaps_done = true;
  });
  uint64_t sent_ok = 0;
  std::thread sender([&] {
    for (uint32_t i = 0; i < kMinMessages || !flaps_done.load(); ++i) {
      const auto msg = pattern(kSize, 0, i);
      auto r = eps[0].send(Rank{1, 0}, bytes(msg), i);
      if (r) ++sent_ok;
      if (!r) {
        EXPECT_EQ(r.error().code(), Errc::kLinkDown) << r.error().message();
      }
    }
    for (;;) {  // a send after an outage may report a loss instead of sending: send again
      auto r = eps[0].send(Rank{1, 0}, bytes(std::string("end")), kEnd);
      if (r) break;
      ASSERT_EQ(r.error().code(), Errc::kLinkDown) << r.error().message();
    }
  });
  std::vector<std::byte> buf(kSize);
  uint64_t received = 0;
  uint32_t last_tag = 0;
  for (bool first = true;;) {
    auto g = eps[1].recv(buf);
    if (!g) {  // the link is down, or a message in pieces was cut short (its sender got an error)
      ASSERT_TRUE(g.error().code() == Errc::kLinkDown || g.error().code() == Errc::kCancelled) << g.error().message();
      continue;
    }
    if (g->tag == kEnd) break;
    EXPECT_TRUE(first || g->tag > last_tag) << "tag " << g->tag << " after " << last_tag;
    const auto want = pattern(kSize, 0, g->tag);
    EXPECT_TRUE(g->size == kSize && std::equal(want.begin(), want.end(), buf.begin()))
        << "message " << g->tag << " corrupted";
    first = false;
    last_tag = g->tag;
    ++received;
  }
  sender.join();
  flapper.join();
  EXPECT_GE(eps[0].stats().link_down_events, 1u);  // the sender saw outages (flaps between two looks count once)
  EXPECT_EQ(received + eps[0].stats().lost_on_link_down, sent_ok)
      << "received " << received << ", reported lost " << eps[0].stats().lost_on_link_down << ", sent " << sent_ok;
}

// ---- a peer killed with SIGKILL ------------------------------------------------------------

// Rank (1, 0) is killed. Whatever the time-out (here 60 s), a blocking send to it, an isend to
// it and a receive from it fail with peer_gone naming it, once its death is noticed
// (Config::peer_timeout_ms).
TEST(Faults, AKilledPeerIsNamedPeerGoneNotTimedOut) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.timeout_ms = 60000;
  auto job = make_job(shape, cfg);
  Signal up;
  const pid_t child = spawn_rank(job, shape, Rank{1, 0}, cfg, up, [](Endpoint&) {
    ::pause();
    return 0;
  });
  auto ep = open_endpoint(job, shape, Rank{0, 0}, cfg);
  ASSERT_TRUE(ep) << ep.error().message();
  ASSERT_TRUE(up.wait());
  ::kill(child, SIGKILL);
  EXPECT_EQ(exit_code(child), 128 + SIGKILL);

  std::vector<std::byte> b(64);
  auto g = ep->recv(b, Rank{1, 0});
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code(), Errc::kPeerGone) << g.error().message();
  EXPECT_NE(g.error().message().find("(1, 0)"), std::string::npos) << g.error().message();

  // A blocking send that needs room (its postbox fills up first) and an isend.
  const auto msg = pattern(4000, 0, 0);
  Result<void> s;
  for (uint32_t i = 0; i < 1000 && (s = ep->send(Rank{1, 0}, bytes(msg))); ++i) {
  }
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Errc::kPeerGone) << s.error().message();
  auto h = ep->isend(Rank{1, 0}, bytes(msg));
  if (h) {
    auto w = ep->wait(*h);
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().code(), Errc::kPeerGone) << w.error().message();
  } else {
    EXPECT_EQ(h.error().code(), Errc::kPeerGone) << h.error().message();
  }
  (void)ep->close();
}

// The same where processes cannot see each other's process table (NTB, ivshmem, postboxd
// across hosts): the dead peer's heartbeat stops, and it is named within peer_timeout_ms.
TEST(Faults, AKilledPeerIsNamedByItsStoppedHeartbeat) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.timeout_ms = 60000;
  cfg.peer_timeout_ms = 200;
  auto job = make_job(shape, cfg);
  auto open_beating = [&](Rank self) -> Result<Endpoint> {
    auto dev = hal::LoopbackDevice::open(job.spec().name, hal::NodeIdx(self.node));
    if (!dev) return tl::unexpected(dev.error());
    (*dev)->use_heartbeats();
    return Endpoint::create(std::move(*dev), shape, self, cfg);
  };
  Signal up;
  const pid_t child = ::fork();
  if (child == 0) {
    auto ep = open_beating(Rank{1, 0});
    if (!ep) _exit(2);
    up.post();
    for (;;) ep->progress();  // (busy until killed; its beacon beats meanwhile)
  }
  auto ep = open_beating(Rank{0, 0});
  ASSERT_TRUE(ep) << ep.error().message();
  ASSERT_TRUE(up.wait());
  // Alive and beating: polling for a while (peer checks run meanwhile) does not call it dead.
  std::vector<std::byte> b(64);
  for (int i = 0; i < 200000; ++i) {
    auto g = ep->try_recv(b, Rank{1, 0});
    ASSERT_FALSE(g);
    ASSERT_EQ(g.error().code(), Errc::kWouldBlock) << g.error().message();
  }
  EXPECT_EQ(ep->stats().peers_gone, 0u);
  ::kill(child, SIGKILL);
  EXPECT_EQ(exit_code(child), 128 + SIGKILL);
  auto g = ep->recv(b, Rank{1, 0});
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code(), Errc::kPeerGone) << g.error().message();
  EXPECT_NE(g.error().message().find("died"), std::string::npos) << g.error().message();
  EXPECT_EQ(ep->stats().peers_gone, 1u);
  (void)ep->close();
}

// A stopped peer (SIGSTOP) is alive: with its process table in view, nobody calls it dead, and
// once it continues, messages flow again.
TEST(Faults, AStoppedPeerIsNotCalledDead) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.timeout_ms = 60000;
  cfg.peer_timeout_ms = 50;
  auto job = make_job(shape, cfg);
  Signal up, stopped;
  const pid_t child = spawn_rank(job, shape, Rank{1, 0}, cfg, up, [&stopped](Endpoint& e) {
    stopped.post();
    ::raise(SIGSTOP);
    std::vector<std::byte> buf(64);
    auto m = e.recv(buf, Rank{0, 0});
    if (!m) return 3;
    return e.send(Rank{0, 0}, bytes(std::string("back")), 7) ? 0 : 4;
  });
  auto ep = open_endpoint(job, shape, Rank{0, 0}, cfg);
  ASSERT_TRUE(ep) << ep.error().message();
  ASSERT_TRUE(up.wait() && stopped.wait());
  int st = 0;
  ASSERT_EQ(::waitpid(child, &st, WUNTRACED), child);  // it is stopped now
  ASSERT_TRUE(WIFSTOPPED(st));
  ASSERT_TRUE(ep->send(Rank{1, 0}, bytes(std::string("hello")), 1));
  std::vector<std::byte> b(64);
  // Peer checks run while it is stopped (every peer_timeout_ms / 8 of this polling).
  for (int i = 0; i < 200000; ++i) {
    auto g = ep->try_recv(b, Rank{1, 0});
    ASSERT_FALSE(g);
    ASSERT_EQ(g.error().code(), Errc::kWouldBlock) << g.error().message();
    if (ep->stats().peers_gone != 0) break;
  }
  EXPECT_EQ(ep->stats().peers_gone, 0u);
  ::kill(child, SIGCONT);
  auto g = ep->recv(b, Rank{1, 0});
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_EQ(g->tag, 7u);
  EXPECT_EQ(exit_code(child), 0);
  (void)ep->close();
}

// ---- a sender stopped in the middle of a large message -------------------------------------

// (0, 0) starts a 1 MiB message to (1, 0) and stops itself (SIGSTOP) once some pieces are out.
// Meanwhile (0, 1) keeps sending small messages. On (1, 0), try_recv never waits for the
// missing pieces, and the other sender's messages keep arriving; once (0, 0) continues, the
// large message arrives whole.
TEST(Faults, AStoppedSenderNeverStallsTryRecvOrOtherSenders) {
  const JobShape shape{2, 2};
  Config cfg;
  cfg.timeout_ms = 60000;
  auto job = make_job(shape, cfg);
  Signal up0, up1, go;
  constexpr size_t kLarge = 3u << 20;  // above the CTS: the sender needs acknowledgements to finish it
  const pid_t stopper = spawn_rank(job, shape, Rank{0, 0}, cfg, up0, [](Endpoint& ep) {
    const auto msg = pattern(kLarge, 0, 1);
    auto h = ep.isend(Rank{1, 0}, bytes(msg), 1);
    if (!h) return 3;
    while (ep.stats().tx_pieces < 2) {
      auto t = ep.test(*h);
      if (!t) return 4;
    }
    ::raise(SIGSTOP);
    auto w = ep.wait(*h);
    if (!w) return 5;
    return ep.close() ? 0 : 6;
  });
  const pid_t chatty = spawn_rank(job, shape, Rank{0, 1}, cfg, up1, [&go](Endpoint& ep) {
    for (uint32_t i = 0; i < 200; ++i)
      if (!ep.send(Rank{1, 0}, bytes(pattern(100, 1, i)), i)) return 3;
    go.wait();
    return ep.close() ? 0 : 6;
  });
  auto quiet_f = std::async(std::launch::async, [&] { return open_endpoint(job, shape, Rank{1, 1}, cfg); });
  auto ep = open_endpoint(job, shape, Rank{1, 0}, cfg);
  ASSERT_TRUE(ep) << ep.error().message();
  auto quiet = quiet_f.get();
  ASSERT_TRUE(quiet) << quiet.error().message();
  ASSERT_TRUE(up0.wait() && up1.wait());
  int st = 0;
  ASSERT_EQ(::waitpid(stopper, &st, WUNTRACED), stopper);  // stopped with pieces in our postbox
  ASSERT_TRUE(WIFSTOPPED(st));

  std::vector<std::byte> buf(kLarge);
  uint32_t small = 0;
  while (small < 200) {
    auto g = ep->try_recv(buf);
    if (!g) {
      ASSERT_EQ(g.error().code(), Errc::kWouldBlock) << g.error().message();
      continue;
    }
    ASSERT_EQ(g->source, (Rank{0, 1})) << "the large message cannot be complete yet";
    EXPECT_EQ(g->tag, small);
    ++small;
  }
  auto none = ep->try_recv(buf, Rank{0, 0});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), Errc::kWouldBlock) << none.error().message();

  ::kill(stopper, SIGCONT);
  auto big = ep->recv(buf, Rank{0, 0});
  ASSERT_TRUE(big) << big.error().message();
  EXPECT_EQ(big->size, kLarge);
  const auto want = pattern(kLarge, 0, 1);
  EXPECT_TRUE(std::equal(want.begin(), want.end(), buf.begin()));
  go.post();
  EXPECT_EQ(exit_code(stopper), 0);
  EXPECT_EQ(exit_code(chatty), 0);
  (void)ep->close();
  (void)quiet->close();
}

// ---- blocking sends of large messages in all-to-all rounds ---------------------------------

// 2 nodes x 4 processes; in every round each process first sends to every other process with
// blocking sends (sizes up to 2 MiB), then receives one message from each. Nobody receives
// while sending, so every process must progress incoming messages inside its blocking sends.
TEST(Faults, AllToAllRoundsOfBlockingSendsNeverStall) {
  const JobShape shape{2, 4};
  Config cfg;
  cfg.timeout_ms = 20000;
  auto job = make_job(shape, cfg);
  constexpr uint32_t kRounds = 4;
  auto size_of = [](uint32_t round, uint32_t src, uint32_t dst) -> size_t {
    const uint32_t k = (round * 31 + src * 7 + dst * 3) % 4;
    return k == 0 ? 40 : k == 1 ? 5000 : k == 2 ? 300'000 : (2u << 20);
  };
  auto status = test::run_processes(shape.size(), [&](uint32_t me) {
    auto ep = open_endpoint(job, shape, shape.rank_of(me), cfg);
    if (!ep) {
      std::fprintf(stderr, "rank %u: %s\n", me, ep.error().message().c_str());
      return 2;
    }
    std::vector<std::byte> buf(2u << 20);
    for (uint32_t round = 0; round < kRounds; ++round) {
      for (uint32_t d = 0; d < shape.size(); ++d) {
        if (d == me) continue;
        const auto msg = pattern(size_of(round, me, d), me, round);
        if (auto r = ep->send(shape.rank_of(d), bytes(msg), round); !r) {
          std::fprintf(stderr, "rank %u: round %u: send to %u: %s\n", me, round, d, r.error().message().c_str());
          return 3;
        }
      }
      for (uint32_t s = 0; s < shape.size(); ++s) {
        if (s == me) continue;
        auto g = ep->recv(buf, shape.rank_of(s));
        if (!g) {
          std::fprintf(stderr, "rank %u: round %u: recv from %u: %s\n", me, round, s, g.error().message().c_str());
          return 4;
        }
        const auto want = pattern(size_of(round, s, me), s, round);
        if (g->tag != round || g->size != want.size() || !std::equal(want.begin(), want.end(), buf.begin())) {
          std::fprintf(stderr, "rank %u: round %u: message from %u is wrong\n", me, round, s);
          return 5;
        }
      }
    }
    return ep->close() ? 0 : 6;
  });
  for (uint32_t r = 0; r < shape.size(); ++r) EXPECT_EQ(status[r], 0) << "rank " << r;
}


// ---- a peer restarted under the same rank ---------------------------------------------------

// (1, 0) is killed and started again. Messages sent to the dead incarnation are reported lost
// (take_lost), never delivered to the new one; both directions resume with the new one.
TEST(Faults, ARestartedPeerResumesAndGetsNothingMeantForItsEarlierIncarnation) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.timeout_ms = 60000;
  auto job = make_job(shape, cfg);
  Signal up1;
  const pid_t first = spawn_rank(job, shape, Rank{1, 0}, cfg, up1, [](Endpoint& ep) {
    std::vector<std::byte> b(64);
    auto g = ep.recv(b, Rank{0, 0});  // "before"
    if (!g || g->tag != 1) return 3;
    if (!ep.send(Rank{0, 0}, bytes(std::string("first incarnation")), 10)) return 4;
    ::pause();
    return 0;
  });
  auto ep = open_endpoint(job, shape, Rank{0, 0}, cfg);
  ASSERT_TRUE(ep) << ep.error().message();
  ASSERT_TRUE(up1.wait());
  ASSERT_TRUE(ep->send(Rank{1, 0}, bytes(std::string("before")), 1));
  std::vector<std::byte> b(64000);
  auto g = ep->recv(b, Rank{1, 0});
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_EQ(g->tag, 10u);
  ::kill(first, SIGKILL);
  EXPECT_EQ(exit_code(first), 128 + SIGKILL);
  // Sent into the dead incarnation's postbox before anyone notices: never delivered.
  const uint64_t stale_number = ep->messages_sent(Rank{1, 0});
  auto stale = ep->send(Rank{1, 0}, bytes(std::string("stale")), 2);
  auto stale_pool = ep->send(Rank{1, 0}, bytes(pattern(5000, 0, 2)), 3);

  Signal up2;
  const pid_t second = spawn_rank(job, shape, Rank{1, 0}, cfg, up2, [](Endpoint& e) {
    std::vector<std::byte> buf(64000);
    auto m = e.recv(buf, Rank{0, 0});
    if (!m) return 3;
    if (m->tag != 4) return 10 + static_cast<int>(m->tag);  // anything older is a violation
    if (!e.send(Rank{0, 0}, bytes(std::string("second incarnation")), 20)) return 5;
    return e.close() ? 0 : 6;
  });
  ASSERT_TRUE(up2.wait());
  // Sends to (1, 0) fail with peer_gone until its new incarnation is seen, then go through.
  Result<void> s;
  for (int i = 0; i < 100000; ++i) {
    s = ep->send(Rank{1, 0}, bytes(std::string("after")), 4);
    if (s) break;
    ASSERT_TRUE(s.error().code() == Errc::kPeerGone || s.error().code() == Errc::kLinkDown) << s.error().message();
    ep->progress();
  }
  ASSERT_TRUE(s) << s.error().message();
  g = ep->recv(b, Rank{1, 0});
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_EQ(g->tag, 20u);
  // (Polling meanwhile: the new incarnation's close waits for our acknowledgement.)
  int st = 0;
  while (::waitpid(second, &st, WNOHANG) == 0) ep->progress();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "status " << st;
  EXPECT_EQ(ep->stats().peer_restarts, 1u);
  // The stale messages that were sent are reported, by number (with any earlier one the dead
  // incarnation received but had not acknowledged yet: it may or may not have got those).
  const uint64_t stale_end = stale_number + (stale ? 1u : 0u) + (stale_pool ? 1u : 0u);
  uint64_t covered_from = stale_end, covered_to = 0;
  while (auto l = ep->take_lost()) {
    EXPECT_EQ(l->dst, (Rank{1, 0}));
    EXPECT_EQ(l->reason, Errc::kPeerGone);
    EXPECT_LE(l->first + l->count, stale_end) << "a message after the stale ones was reported lost";
    covered_from = std::min(covered_from, l->first);
    covered_to = std::max(covered_to, l->first + l->count);
  }
  if (stale_end != stale_number) {
    EXPECT_LE(covered_from, stale_number);
    EXPECT_EQ(covered_to, stale_end);
  }
  (void)ep->close();
}

// ---- garbage in pool payloads ---------------------------------------------------------------

// With Config::checksum, a payload changed after its indicator was written (a torn write, a
// buggy peer) is an error for that message only; the next messages arrive intact.
TEST(Faults, AScribbledPayloadFailsItsChecksumAndOnlyThatMessage) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.checksum = true;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  const auto L = *detail::Layout::compute(shape, cfg, 0);
  const auto a = pattern(65536, 0, 1), c = pattern(1000, 0, 3);
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(a), 1));  // pool block 0 of (0, 0)'s pool on node 1
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(c), 3));
  auto dev = std::move(*hal::LoopbackDevice::open(job.spec().name, hal::NodeIdx(0)));
  auto win = *dev->peer_mw(hal::NodeIdx(1));
  win.store64(L.segment_off(0) + L.pool_off() + 4096, 0x0badc0de0badc0deull, hal::StoreKind::kPayload);
  std::vector<std::byte> b(65536);
  auto g = eps[1].recv(b);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code(), Errc::kDataCorrupt) << g.error().message();
  EXPECT_NE(g.error().message().find("rank (0, 0)"), std::string::npos) << g.error().message();
  g = eps[1].recv(b);
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_EQ(g->tag, 3u);
  EXPECT_TRUE(std::equal(c.begin(), c.end(), b.begin()));
  EXPECT_EQ(eps[1].stats().bad_checksums, 1u);
}

// The same for a message in pieces (above the CTS), assembled by non-blocking receives while
// its sender is still sending: the whole message is the error, the next one is fine.
TEST(Faults, AScribbledPieceFailsItsMessageAtItsEnd) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.checksum = true;
  cfg.cts = 64u << 10;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  const auto L = *detail::Layout::compute(shape, cfg, 0);
  const auto big = pattern(200000, 0, 5), small = pattern(3000, 0, 6);
  auto h = eps[0].isend(Rank{1, 0}, bytes(big), 5);
  ASSERT_TRUE(h) << h.error().message();
  // The first pieces are out (the region holds cts_slices of them); scribble on the first.
  auto dev = std::move(*hal::LoopbackDevice::open(job.spec().name, hal::NodeIdx(0)));
  auto win = *dev->peer_mw(hal::NodeIdx(1));
  win.store64(L.segment_off(0) + L.pool_off() + 64, 0x0badc0de0badc0deull, hal::StoreKind::kPayload);
  std::vector<std::byte> b(200000);
  Result<RecvInfo> g = tl::unexpected(Error(Errc::kWouldBlock));
  bool sent = false;
  for (int i = 0; i < 1000000 && !g && g.error().code() == Errc::kWouldBlock; ++i) {
    if (!sent) {
      auto t = eps[0].test(*h);
      ASSERT_TRUE(t) << t.error().message();
      sent = *t;
    }
    g = eps[1].try_recv(b);
  }
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code(), Errc::kDataCorrupt) << g.error().message();
  while (!sent) sent = *eps[0].test(*h);
  ASSERT_TRUE(eps[0].send(Rank{1, 0}, bytes(small), 6));
  g = eps[1].recv(b);
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_EQ(g->tag, 6u);
  EXPECT_TRUE(std::equal(small.begin(), small.end(), b.begin()));
}

}  // namespace
}  // namespace pbx
