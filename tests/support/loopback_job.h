// Loopback jobs for tests: a job's files, endpoints for every rank of it in this process
// (created concurrently, since each waits for the others), and child processes.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "layout.h"
#include "pbx/hal/loopback.h"
#include "pbx/postbox.hpp"
#include "support/job_name.h"

namespace pbx::test {

// A loopback job sized for `shape` and `cfg`.
inline hal::LoopbackJob make_job(const JobShape& shape, const Config& cfg = {}, size_t window = 0) {
  if (window == 0) {
    auto need = detail::window_size_needed(shape, cfg);
    if (!need) ADD_FAILURE() << need.error().message();
    window = need ? *need : (2u << 20);
  }
  auto job = hal::LoopbackJob::create({unique_job_name(), shape.nodes, window, {}});
  if (!job) ADD_FAILURE() << job.error().message();
  return std::move(*job);
}

inline Result<Endpoint> open_endpoint(const hal::LoopbackJob& job, const JobShape& shape, Rank self,
                                      const Config& cfg = {}) {
  auto dev = hal::LoopbackDevice::open(job.spec().name, hal::NodeIdx(self.node));
  if (!dev) return tl::unexpected(dev.error());
  return Endpoint::create(std::move(*dev), shape, self, cfg);
}

// Closes every endpoint concurrently, as the processes of a job do: each writes its final
// acknowledgements and then waits for the acknowledgements of what it sent.
inline void close_all(std::vector<Endpoint>& eps) {
  std::vector<std::thread> ts;
  for (Endpoint& e : eps) ts.emplace_back([&e] { (void)e.close(); });
  for (auto& t : ts) t.join();
}

// The endpoints of every rank of a job, indexed by flat rank; closed together at the end.
class Endpoints : public std::vector<Endpoint> {
 public:
  using std::vector<Endpoint>::vector;
  Endpoints(std::vector<Endpoint>&& v) : std::vector<Endpoint>(std::move(v)) {}  // NOLINT
  Endpoints(Endpoints&&) = default;
  ~Endpoints() { close_all(*this); }
};

// Endpoints for every rank of the job, indexed by flat rank (created concurrently).
inline Endpoints make_endpoints(const hal::LoopbackJob& job, const JobShape& shape, const Config& cfg = {}) {
  std::vector<std::future<Result<Endpoint>>> futs;
  for (uint32_t r = 0; r < shape.size(); ++r)
    futs.push_back(std::async(std::launch::async, [&, r] { return open_endpoint(job, shape, shape.rank_of(r), cfg); }));
  std::vector<Endpoint> eps;
  for (auto& f : futs) {
    auto ep = f.get();
    if (!ep) {
      ADD_FAILURE() << ep.error().message();
      continue;
    }
    eps.push_back(std::move(*ep));
  }
  return Endpoints(std::move(eps));
}

inline std::span<const std::byte> bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::span<const std::byte> bytes(const std::vector<std::byte>& v) { return {v.data(), v.size()}; }

// A deterministic payload: message `i` of `size` bytes from `src`.
inline std::vector<std::byte> pattern(size_t size, uint32_t src, uint64_t i) {
  std::vector<std::byte> v(size);
  uint64_t x = (uint64_t{src} << 40) ^ (i * 0x9e3779b97f4a7c15ull) ^ size;
  for (size_t k = 0; k < size; ++k) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v[k] = static_cast<std::byte>(x);
  }
  return v;
}

// Runs `body(rank)` in one child process per rank; returns each child's exit status
// (0 = the body returned 0; a body reports failures on stderr and returns non-zero). When a
// child fails, the others are stopped (they could wait forever for it).
inline std::vector<int> run_processes(uint32_t count, const std::function<int(uint32_t)>& body) {
  std::vector<pid_t> pids;
  for (uint32_t r = 0; r < count; ++r) {
    const pid_t pid = fork();
    if (pid == 0) {
      int rc = 99;
      try {
        rc = body(r);
      } catch (...) {
        rc = 98;
      }
      std::fflush(nullptr);
      _exit(rc);
    }
    pids.push_back(pid);
  }
  std::vector<int> status(count, -1);
  for (uint32_t left = count; left > 0; --left) {
    int st = 0;
    const pid_t p = waitpid(-1, &st, 0);
    if (p < 0) break;
    const int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    for (uint32_t r = 0; r < count; ++r)
      if (pids[r] == p) status[r] = code;
    if (code != 0)
      for (uint32_t r = 0; r < count; ++r)
        if (status[r] == -1) kill(pids[r], SIGKILL);
  }
  return status;
}

}  // namespace pbx::test
