// pbx-soak's parts: the worker (one process of the job) and the checker (all logs of a run).
#pragma once

#include <cstdint>
#include <string>

namespace pbx::soak {

struct WorkerOptions {
  std::string dir;           // where the record logs go
  uint64_t until_ns = 0;     // CLOCK_REALTIME: stop sending then
  uint64_t budget = 0;       // completed sends per process (0: until the deadline)
  uint64_t log_capacity = 0; // records per log
  uint64_t grace_ns = 30'000'000'000ull;  // for the final "done" exchange
  size_t max_size = 1u << 20;
  bool verbose = false;
};
int run_worker(const WorkerOptions& o);

struct CheckResult {
  uint64_t processes = 0, killed = 0;
  uint64_t sent = 0, received = 0, bytes = 0;
  uint64_t lost_link = 0, lost_peer = 0, lost_but_delivered = 0;
  // Messages a receiver had taken in (acknowledged) when it was killed, before its log said so:
  // sent to a rank while one of its incarnations was being killed. Not a violation: a process
  // that dies loses what it had received.
  uint64_t with_killed_receiver = 0;
  uint64_t unreported = 0, duplicated = 0, reordered = 0, corrupted = 0, unexpected = 0, phantom = 0,
           false_reports = 0;
  bool ok() const noexcept {
    return unreported == 0 && duplicated == 0 && reordered == 0 && corrupted == 0 && unexpected == 0 && phantom == 0 &&
           false_reports == 0;
  }
};
// Reads every log in `dir` and accounts for every message; prints the first violations.
CheckResult run_check(const std::string& dir);
// Sends completed by the earlier incarnations of `rank` (their logs in `dir`): a restarted
// worker takes up the rank's budget where they left it.
uint64_t sent_by_rank(const std::string& dir, uint32_t rank);

}  // namespace pbx::soak
