// pbx-soak's worker: one process of the job. Until the deadline it sends messages of random
// sizes and tags to random peers with every send variant (send, try_send, isend), receives with
// every receive variant (recv, try_recv, recv_view, probe), verifies what arrives (order per
// sender incarnation, content) and logs every completed send, arrival and loss report. Then it
// says "done" to every peer and receives until every peer said so or is gone.
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pbx/postbox.hpp"
#include "record_log.h"
#include "soak.h"

namespace pbx::soak {
namespace {

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

struct Rng {
  uint64_t s;
  uint64_t next() { return mix(s += 0x9e3779b97f4a7c15ull); }
  uint64_t below(uint64_t n) { return next() % n; }
};

// Sizes: mostly inline (16..49 B), then pool messages, then large ones, a few in pieces.
size_t random_size(Rng& rng, size_t max_size) {
  const uint64_t k = rng.below(100);
  size_t n;
  if (k < 50) n = kMinSize + rng.below(34);
  else if (k < 80) n = 50 + rng.below(4096 - 50);
  else if (k < 95) n = 4096 + rng.below(256u << 10);
  else n = (256u << 10) + rng.below(768u << 10);
  return n < max_size ? n : max_size;
}

class Worker {
 public:
  Worker(Endpoint& ep, RecordLog& log, const WorkerOptions& o)
      : ep_(ep), log_(log), o_(o), self_(ep.rank()), size_(ep.shape().size()), rng_{mix(::getpid() ^ now_ns())},
        attempts_(size_, 0), sent_(size_, 0), last_seen_(), done_from_(size_, false), gone_(size_, false),
        buf_(std::max<size_t>(o.max_size, kMinSize)) {}

  int run() {
    while (now_ns() < o_.until_ns && !log_.full() && (o_.budget == 0 || completed_ < o_.budget)) {
      send_one();
      receive_some(1 + static_cast<int>(rng_.below(8)));
      take_losses();
    }
    finish_isends();
    say_done();
    wait_for_done();
    take_losses();
    auto c = ep_.close();
    if (!c) std::fprintf(stderr, "pbx-soak: rank %u: close: %s\n", self_, c.error().message().c_str());
    take_losses();
    log_.finish();
    std::fprintf(stderr, "pbx-soak: rank %u (pid %d): %llu sent, %llu received, %llu failed sends, %llu violations\n",
                 self_, ::getpid(), static_cast<unsigned long long>(completed_),
                 static_cast<unsigned long long>(received_), static_cast<unsigned long long>(failed_),
                 static_cast<unsigned long long>(violations_));
    return 0;
  }

 private:
  struct Pending {
    SendHandle h;
    uint32_t dst, attempt;
    std::unique_ptr<std::vector<unsigned char>> data;  // stays valid until the send completes
    uint64_t started_ns;
  };

  std::vector<unsigned char> make_message(uint32_t dst, uint32_t attempt, size_t n) const {
    std::vector<unsigned char> m(std::max(n, kMinSize));
    n = m.size();
    const MessageHeader h{(kMagic << 16) | dst, static_cast<uint32_t>(::getpid()), attempt, static_cast<uint32_t>(n)};
    std::memcpy(m.data(), &h, sizeof h);
    fill_body(m.data() + sizeof h, n - sizeof h, h.pid, attempt);
    return m;
  }

  std::span<const std::byte> as_bytes(const std::vector<unsigned char>& v) const {
    return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
  }

  void completed(uint32_t dst, uint32_t attempt, size_t n, uint64_t started_ns) {
    log_.add(RecordType::kSent, static_cast<uint16_t>(dst), attempt | (uint64_t{n} << 32), 0, 0, started_ns);
    ++completed_;
    ++sent_[dst];
  }

  // The API's numbering (LostMessages numbers): with no isend to `dst` outstanding, every
  // completed send to it is counted by messages_sent().
  void check_numbering(uint32_t dst) {
    if (ep_.messages_sent(ep_.shape().rank_of(dst)) != sent_[dst]) {
      std::fprintf(stderr, "pbx-soak: rank %u: messages_sent(%u) = %llu after %llu completed sends\n", self_, dst,
                   static_cast<unsigned long long>(ep_.messages_sent(ep_.shape().rank_of(dst))),
                   static_cast<unsigned long long>(sent_[dst]));
      violation(ViolationKind::kUnexpectedError, dst, 0, 0);
      sent_[dst] = ep_.messages_sent(ep_.shape().rank_of(dst));
    }
  }

  void failed(const Error& e, const char* op) {
    ++failed_;
    switch (e.code()) {
      case Errc::kLinkDown:
      case Errc::kPeerGone:
      case Errc::kCancelled:
      case Errc::kTimedOut:  // (a stopped peer, a long outage)
      case Errc::kProtocolError:
      case Errc::kConfigMismatch:  // (scribbled memory)
        break;
      default:
        std::fprintf(stderr, "pbx-soak: rank %u: %s: unexpected error: %s\n", self_, op, e.message().c_str());
        violation(ViolationKind::kUnexpectedError, self_, 0, 0);
    }
    if (o_.verbose) std::fprintf(stderr, "pbx-soak: rank %u: %s: %s\n", self_, op, e.message().c_str());
  }

  // Sends to one receiver complete in the order they were started: an isend's number is its
  // place among them, so isends to `dst` are finished before any other send to it.
  void finish_isends_to(uint32_t dst) {
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->dst != dst) {
        ++it;
        continue;
      }
      auto w = ep_.wait(it->h);
      if (w) completed(it->dst, it->attempt, it->data->size(), it->started_ns);
      else failed(w.error(), "wait");
      it = pending_.erase(it);
    }
    check_numbering(dst);
  }
  void finish_isends() {
    while (!pending_.empty()) finish_isends_to(pending_.front().dst);
  }

  void send_one() {
    uint32_t dst = static_cast<uint32_t>(rng_.below(size_ - 1));
    if (dst >= self_) ++dst;
    const Rank to = ep_.shape().rank_of(dst);
    const uint32_t attempt = attempts_[dst]++;
    auto msg = make_message(dst, attempt, random_size(rng_, o_.max_size));
    uint32_t tag = static_cast<uint32_t>(rng_.below(1u << 20));
    if (tag == kDoneTag) ++tag;
    const uint64_t op = rng_.below(10);
    if (op < 6 || msg.size() > ep_.config().cts) {
      if (op < 4 || msg.size() > ep_.config().cts) {  // blocking send
        finish_isends_to(dst);
        const uint64_t t0 = realtime_ns();
        auto r = ep_.send(to, as_bytes(msg), tag);
        if (r) completed(dst, attempt, msg.size(), t0);
        else failed(r.error(), "send");
        check_numbering(dst);
        return;
      }
      finish_isends_to(dst);
      const uint64_t t0 = realtime_ns();
      auto r = ep_.try_send(to, as_bytes(msg), tag);
      if (r) completed(dst, attempt, msg.size(), t0);
      else if (r.error().code() != Errc::kWouldBlock) failed(r.error(), "try_send");
      check_numbering(dst);
      return;
    }
    if (pending_.size() >= 8) {  // the oldest first (its receiver may be someone else)
      const uint32_t d = pending_.front().dst;
      finish_isends_to(d);
    }
    auto data = std::make_unique<std::vector<unsigned char>>(std::move(msg));
    const uint64_t t0 = realtime_ns();
    auto h = ep_.isend(to, as_bytes(*data), tag);
    if (!h) {
      failed(h.error(), "isend");
      return;
    }
    pending_.push_back(Pending{*h, dst, attempt, std::move(data), t0});
  }

  void violation(ViolationKind k, uint32_t peer, uint32_t pid, uint64_t attempt) {
    ++violations_;
    log_.add(RecordType::kViolation, static_cast<uint16_t>(peer), attempt, pid, static_cast<uint8_t>(k));
  }

  // Checks one arrived message and logs it. Returns false for a "done" message.
  bool arrived(Rank src, uint32_t tag, const unsigned char* p, size_t n) {
    const uint32_t from = ep_.shape().flat(src);
    if (tag == kDoneTag) {
      done_from_[from] = true;
      return false;
    }
    MessageHeader h{};
    if (n < kMinSize) {
      std::fprintf(stderr, "pbx-soak: rank %u: a message of %zu bytes from %u (below the %zu-byte header)\n", self_, n,
                   from, kMinSize);
      violation(ViolationKind::kCorrupted, from, 0, 0);
      return true;
    }
    std::memcpy(&h, p, sizeof h);
    bool ok = h.magic_dst == ((kMagic << 16) | self_) && h.size == n;
    if (ok) {
      body_.resize(n - kMinSize);
      fill_body(body_.data(), body_.size(), h.pid, h.attempt);
      // (A message of just the header has no body: memcmp must not see the empty vector's null.)
      ok = body_.empty() || std::memcmp(body_.data(), p + kMinSize, body_.size()) == 0;
    }
    if (!ok) {
      std::fprintf(stderr, "pbx-soak: rank %u: message %u of %zu bytes from rank %u (pid %u) is corrupted\n", self_,
                   h.attempt, n, from, h.pid);
      violation(ViolationKind::kCorrupted, from, h.pid, h.attempt);
      return true;
    }
    const uint64_t key = (uint64_t{h.pid} << 32) | from;
    auto [it, fresh] = last_seen_.try_emplace(key, h.attempt);
    if (!fresh) {
      if (h.attempt == it->second) violation(ViolationKind::kDuplicated, from, h.pid, h.attempt);
      else if (h.attempt < it->second) violation(ViolationKind::kReordered, from, h.pid, h.attempt);
      if (h.attempt <= it->second)
        std::fprintf(stderr, "pbx-soak: rank %u: message %u from rank %u (pid %u) after message %u\n", self_, h.attempt,
                     from, h.pid, static_cast<unsigned>(it->second));
      else it->second = h.attempt;
    }
    log_.add(RecordType::kReceived, static_cast<uint16_t>(from), h.attempt | (uint64_t{n} << 32), h.pid);
    ++received_;
    return true;
  }

  // Up to `n` receive calls, each a random variant, until nothing is waiting.
  void receive_some(int n) {
    for (int i = 0; i < n; ++i) {
      const uint64_t how = rng_.below(4);
      if (how == 0) {  // a view
        auto v = ep_.try_recv_view();
        if (!v) {
          if (v.error().code() == Errc::kWouldBlock) return;
          failed(v.error(), "try_recv_view");
          continue;
        }
        (void)arrived(v->source(), v->tag(), reinterpret_cast<const unsigned char*>(v->data().data()), v->size());
        continue;
      }
      if (how == 1) {  // probe, then receive exactly that message by its source
        auto p = ep_.probe();
        if (!p) {
          if (p.error().code() == Errc::kWouldBlock) return;
          failed(p.error(), "probe");
          continue;
        }
        auto g = ep_.recv(std::span<std::byte>(reinterpret_cast<std::byte*>(buf_.data()), buf_.size()), p->source);
        if (!g) {
          failed(g.error(), "recv");
          continue;
        }
        (void)arrived(g->source, g->tag, buf_.data(), g->size);
        continue;
      }
      auto g = ep_.try_recv(std::span<std::byte>(reinterpret_cast<std::byte*>(buf_.data()), buf_.size()));
      if (!g) {
        if (g.error().code() == Errc::kWouldBlock) return;
        failed(g.error(), "try_recv");
        continue;
      }
      (void)arrived(g->source, g->tag, buf_.data(), g->size);
    }
  }

  void take_losses() {
    while (auto l = ep_.take_lost()) {
      const uint32_t dst = ep_.shape().flat(l->dst);
      for (uint64_t k = 0; k < l->count; ++k)
        log_.add(RecordType::kLost, static_cast<uint16_t>(dst), l->first + k, 0, static_cast<uint8_t>(l->reason));
      lost_ += l->count;
    }
  }

  void say_done() {
    const uint64_t grace = now_ns() + o_.grace_ns;
    for (uint32_t d = 0; d < size_; ++d) {
      if (d == self_) continue;
      const auto m = make_message(d, kDoneAttempt, kMinSize);
      for (;;) {
        const uint64_t t0 = realtime_ns();
        auto r = ep_.send(ep_.shape().rank_of(d), as_bytes(m), kDoneTag);
        if (r) {  // numbered like any other message (loss reports may name it)
          log_.add(RecordType::kSent, static_cast<uint16_t>(d), kDoneAttempt | (uint64_t{kMinSize} << 32), 0, 0, t0);
          ++sent_[d];
          break;
        }
        if (r.error().code() == Errc::kPeerGone || now_ns() > grace) {
          gone_[d] = true;
          break;
        }
        receive_some(16);  // (a link outage: try again)
      }
    }
  }

  void wait_for_done() {
    const uint64_t grace = now_ns() + o_.grace_ns;
    for (;;) {
      bool all = true;
      for (uint32_t s = 0; s < size_; ++s) all = all && (s == self_ || done_from_[s] || gone_[s]);
      if (all || now_ns() > grace) break;
      auto g = ep_.recv(std::span<std::byte>(reinterpret_cast<std::byte*>(buf_.data()), buf_.size()));
      if (g) {
        (void)arrived(g->source, g->tag, buf_.data(), g->size);
        continue;
      }
      if (g.error().code() == Errc::kPeerGone || g.error().code() == Errc::kTimedOut) {
        // Which peer: ask each one that has not said done (a non-blocking receive from a peer
        // that is gone says so).
        for (uint32_t s = 0; s < size_; ++s) {
          if (s == self_ || done_from_[s] || gone_[s]) continue;
          auto p = ep_.try_recv(std::span<std::byte>(reinterpret_cast<std::byte*>(buf_.data()), buf_.size()),
                                ep_.shape().rank_of(s));
          if (p) (void)arrived(p->source, p->tag, buf_.data(), p->size);
          else if (p.error().code() == Errc::kPeerGone) gone_[s] = true;
        }
        continue;
      }
      failed(g.error(), "recv");
    }
  }

  Endpoint& ep_;
  RecordLog& log_;
  WorkerOptions o_;
  uint32_t self_, size_;
  Rng rng_;
  std::vector<uint32_t> attempts_;
  std::vector<uint64_t> sent_;
  std::map<uint64_t, uint32_t> last_seen_;  // (sender pid, rank) -> last attempt received
  std::vector<bool> done_from_, gone_;
  std::vector<unsigned char> buf_, body_;
  std::deque<Pending> pending_;
  uint64_t completed_ = 0, received_ = 0, failed_ = 0, lost_ = 0, violations_ = 0;
};

}  // namespace

int run_worker(const WorkerOptions& o) {
  Config cfg;
  cfg.timeout_ms = 20000;
  auto ep = Endpoint::from_env(cfg);
  if (!ep) {
    std::fprintf(stderr, "pbx-soak: %s\n", ep.error().message().c_str());
    return 2;
  }
  WorkerOptions mine = o;
  if (mine.budget != 0) {  // a restarted rank goes on with what its earlier incarnations left
    const uint64_t done = sent_by_rank(o.dir, ep->rank());
    mine.budget = done >= o.budget ? 1 : o.budget - done;
  }
  RecordLog log;
  const std::string path = o.dir + "/rank" + std::to_string(ep->rank()) + ".pid" + std::to_string(::getpid()) + ".log";
  if (!log.open(path, ep->rank(), ep->shape().size(), o.log_capacity)) {
    std::fprintf(stderr, "pbx-soak: cannot create %s: %s\n", path.c_str(), std::strerror(errno));
    return 2;
  }
  return Worker(*ep, log, mine).run();
}

}  // namespace pbx::soak
