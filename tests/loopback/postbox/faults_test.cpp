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
  constexpr size_t kLarge = 1u << 20;
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

}  // namespace
}  // namespace pbx
