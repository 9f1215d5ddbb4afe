// pbxrun: starts the processes of a loopback job, gives each its identity, and cleans up.
//
// Usage by example:
//   pbxrun -N 2 -n 1 -- ./my_app arg          # 2 simulated nodes x 1 process
//   pbxrun -N 3 -n 4 --cpus 0-3 -- ./my_app   # 12 processes, pinned round robin to CPUs 0..3
//   PBX_POOL_SIZE=32M pbxrun -N 2 -n 2 -- ./my_app   # settings reach every process
//   pbxrun --cleanup pbx-1234                 # remove the shared memory of a crashed job
//   pbxrun -N 2 -n 4 --flap 15:2:20 --kill 3@500 --restart -- ./my_app   # with faults (faults.h)
//
// Each process gets PBX_BACKEND, PBX_JOB, PBX_NODES, PBX_PROCS_PER_NODE, PBX_NODE, PBX_LOCAL,
// PBX_RANK and PBX_SIZE (pbx::Endpoint::from_env reads them). pbxrun exits with the worst
// status of the processes; when one fails or dies, it reports it by rank and stops the others.
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "faults.h"
#include "layout.h"
#include "pbx/config.hpp"
#include "pbx/hal/loopback.h"

namespace {

constexpr const char* kUsage =
    "usage: pbxrun -N NODES -n PROCS [options] -- PROGRAM [ARGS...]\n"
    "       pbxrun --cleanup JOB\n"
    "Starts NODES x PROCS processes of PROGRAM as one postbox job on simulated nodes.\n"
    "\n"
    "  -N, --nodes NODES        simulated nodes (1..64)\n"
    "  -n, --procs PROCS        processes per node (1..256)\n"
    "  -b, --backend NAME       loopback (the only backend pbxrun starts; default)\n"
    "  -c, --cpus LIST          pin rank r to the r-th CPU of LIST, round robin (e.g. 0,1 or 0-3)\n"
    "  -w, --window-size SIZE   bytes of each node-to-node window (default: what the job's\n"
    "                           postbox settings need, from PBX_* variables; sparse memory)\n"
    "  -j, --job NAME           job name (default pbx-<pid>); its memory is /dev/shm/pbx.NAME.*\n"
    "      --cleanup JOB        remove the shared memory a crashed job left behind\n"
    "\n"
    "Faults (times in ms after the processes started; each is logged when applied):\n"
    "      --flap COUNT[:DOWN_MS[:UP_MS]]  the link goes down COUNT times for DOWN_MS (default 2),\n"
    "                           UP_MS (default 20) apart\n"
    "      --flap-link A-B      the link that flaps (default 0-1)\n"
    "      --kill RANK@MS       SIGKILL to a rank (repeatable); its death is not a failure\n"
    "      --restart            start every killed rank again at once, under the same rank\n"
    "      --stop RANK@MS:FOR_MS  SIGSTOP to a rank, SIGCONT FOR_MS later (repeatable)\n"
    "      --scribble NODE@MS:WORDS  random 8-byte stores into a node's memory (repeatable)\n"
    "      --fault-seed N       seed for --scribble's random places and values\n"
    "  -h, --help               this text\n"
    "\n"
    "Exit status: the worst of the processes (a process killed by signal S counts as 128+S).\n";

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "pbxrun: %s\n(see pbxrun --help)\n", msg.c_str());
  std::exit(2);
}

void check_option(const pbx::Result<void>& r) {
  if (!r) usage_error(r.error().message());
}

unsigned parse_uint(const char* text, const char* what, unsigned lo, unsigned hi) {
  char* end = nullptr;
  errno = 0;
  const unsigned long v = std::strtoul(text, &end, 10);
  if (end == text || *end != '\0' || errno != 0 || text[0] == '-' || v < lo || v > hi)
    usage_error(std::string(what) + " '" + text + "' is invalid: use a number in " + std::to_string(lo) + ".." +
                std::to_string(hi));
  return static_cast<unsigned>(v);
}

std::vector<int> parse_cpus(const std::string& list) {
  std::vector<int> cpus;
  size_t pos = 0;
  while (pos <= list.size()) {
    const size_t comma = list.find(',', pos);
    const std::string item = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const size_t dash = item.find('-');
    if (dash == std::string::npos) {
      cpus.push_back(static_cast<int>(parse_uint(item.c_str(), "--cpus", 0, CPU_SETSIZE - 1)));
    } else {
      const unsigned a = parse_uint(item.substr(0, dash).c_str(), "--cpus", 0, CPU_SETSIZE - 1);
      const unsigned b = parse_uint(item.substr(dash + 1).c_str(), "--cpus", 0, CPU_SETSIZE - 1);
      if (b < a) usage_error("--cpus: range '" + item + "' goes backwards");
      for (unsigned c = a; c <= b; ++c) cpus.push_back(static_cast<int>(c));
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return cpus;
}

volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

struct Child {
  pid_t pid = -1;
  bool running = false;
  bool stopped_by_us = false;
  bool killed_by_fault = false;  // --kill: its death is the fault, not a failure
  int status = 0;
};

std::string describe(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return std::string("was killed by signal ") + std::to_string(sig) + " (" + strsignal(sig) + ")" +
           (WCOREDUMP(status) ? ", core dumped" : "");
  }
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

int code_of(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

}  // namespace

int main(int argc, char** argv) {
  unsigned nodes = 0, procs = 0;
  std::string backend = "loopback", job_name, cleanup;
  std::vector<int> cpus;
  size_t window = 0;
  pbx::tools::FaultPlanBuilder faults;
  static const option longopts[] = {{"nodes", required_argument, nullptr, 'N'},
                                    {"procs", required_argument, nullptr, 'n'},
                                    {"backend", required_argument, nullptr, 'b'},
                                    {"cpus", required_argument, nullptr, 'c'},
                                    {"window-size", required_argument, nullptr, 'w'},
                                    {"job", required_argument, nullptr, 'j'},
                                    {"cleanup", required_argument, nullptr, 1000},
                                    {"flap", required_argument, nullptr, 1001},
                                    {"flap-link", required_argument, nullptr, 1002},
                                    {"kill", required_argument, nullptr, 1003},
                                    {"restart", no_argument, nullptr, 1004},
                                    {"stop", required_argument, nullptr, 1005},
                                    {"scribble", required_argument, nullptr, 1006},
                                    {"fault-seed", required_argument, nullptr, 1007},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+:N:n:b:c:w:j:h", longopts, nullptr)) != -1) {
    switch (c) {
      case 'N': nodes = parse_uint(optarg, "-N (nodes)", 1, pbx::JobShape::kMaxNodes); break;
      case 'n': procs = parse_uint(optarg, "-n (processes per node)", 1, pbx::JobShape::kMaxProcsPerNode); break;
      case 'b': backend = optarg; break;
      case 'c': cpus = parse_cpus(optarg); break;
      case 'w': {
        auto v = pbx::parse_size(optarg, "--window-size");
        if (!v) usage_error(v.error().message());
        window = *v;
        break;
      }
      case 'j': job_name = optarg; break;
      case 1000: cleanup = optarg; break;
      case 1001: check_option(faults.flap(optarg)); break;
      case 1002: check_option(faults.flap_link(optarg)); break;
      case 1003: check_option(faults.kill(optarg)); break;
      case 1004: faults.restart(); break;
      case 1005: check_option(faults.stop(optarg)); break;
      case 1006: check_option(faults.scribble(optarg)); break;
      case 1007: check_option(faults.seed(optarg)); break;
      case 'h': std::fputs(kUsage, stdout); return 0;
      case ':': usage_error(std::string("option ") + argv[optind - 1] + " needs a value");
      default: usage_error(std::string("unknown option ") + argv[optind - 1]);
    }
  }
  if (!cleanup.empty()) {
    auto r = pbx::hal::LoopbackJob::remove(cleanup);
    if (!r) {
      std::fprintf(stderr, "pbxrun: --cleanup %s: %s\n", cleanup.c_str(), r.error().message().c_str());
      return 1;
    }
    return 0;
  }
  if (backend != "loopback")
    usage_error("backend '" + backend + "' cannot be started by pbxrun: it starts loopback jobs; on NTB hardware, "
                "start one process per node with postboxd running");
  if (nodes == 0 || procs == 0) usage_error("give the job's shape with -N NODES and -n PROCS");
  if (optind >= argc) usage_error("give the program to run after --, e.g. pbxrun -N 2 -n 1 -- ./app");
  char** prog = argv + optind;

  const pbx::JobShape shape{static_cast<uint16_t>(nodes), static_cast<uint16_t>(procs)};
  auto plan_r = faults.build(shape);
  if (!plan_r) usage_error(plan_r.error().message());
  const pbx::tools::FaultPlan plan = std::move(*plan_r);
  uint32_t flap_count = 0;
  for (const auto& f : plan.faults) flap_count += f.kind == pbx::tools::Fault::Kind::kLinkDown ? 1 : 0;
  if (window == 0) {
    auto cfg = pbx::Config::from_env();
    if (!cfg) {
      std::fprintf(stderr, "pbxrun: %s\n", cfg.error().message().c_str());
      return 2;
    }
    auto need = pbx::detail::window_size_needed(shape, *cfg);
    if (!need) {
      std::fprintf(stderr, "pbxrun: %s\n", need.error().message().c_str());
      return 2;
    }
    window = std::max<size_t>(*need, 16u << 20);
  }
  if (job_name.empty()) job_name = "pbx-" + std::to_string(getpid());
  auto job = pbx::hal::LoopbackJob::create({job_name, shape.nodes, window, {}});
  if (!job) {
    std::fprintf(stderr, "pbxrun: %s\n", job.error().message().c_str());
    return 1;
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);

  const uint32_t size = shape.size();
  std::vector<Child> children(size);
  // Starts rank r (again, for --restart: a new incarnation under the same rank).
  auto spawn = [&](uint32_t r) -> bool {
    const pbx::Rank rank = shape.rank_of(r);
    const pid_t pid = fork();
    if (pid < 0) {
      std::fprintf(stderr, "pbxrun: fork for rank %u: %s\n", r, std::strerror(errno));
      return false;
    }
    if (pid == 0) {
      setenv("PBX_BACKEND", "loopback", 1);
      setenv("PBX_JOB", job_name.c_str(), 1);
      setenv("PBX_NODES", std::to_string(nodes).c_str(), 1);
      setenv("PBX_PROCS_PER_NODE", std::to_string(procs).c_str(), 1);
      setenv("PBX_NODE", std::to_string(rank.node).c_str(), 1);
      setenv("PBX_LOCAL", std::to_string(rank.local).c_str(), 1);
      setenv("PBX_RANK", std::to_string(r).c_str(), 1);
      setenv("PBX_SIZE", std::to_string(size).c_str(), 1);
      if (!cpus.empty()) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpus[r % cpus.size()], &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
          std::fprintf(stderr, "pbxrun: rank %u: cannot pin to CPU %d: %s\n", r, cpus[r % cpus.size()],
                       std::strerror(errno));
      }
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      signal(SIGHUP, SIG_DFL);
      execvp(prog[0], prog);
      std::fprintf(stderr, "pbxrun: rank %u: cannot run '%s': %s\n", r, prog[0], std::strerror(errno));
      _exit(127);
    }
    children[r] = Child{};
    children[r].pid = pid;
    children[r].running = true;
    return true;
  };
  for (uint32_t r = 0; r < size; ++r)
    if (!spawn(r)) {
      g_signal = SIGTERM;
      break;
    }
  const uint64_t started_ns = pbx::now_ns();
  size_t next_fault = 0;
  uint64_t rng = plan.seed;

  // Wait; on the first failure (or a signal to pbxrun), stop the others.
  uint32_t running = 0;
  for (const Child& ch : children) running += ch.running ? 1 : 0;
  bool stopping = false;
  uint64_t kill_deadline = 0;
  int worst = 0;
  auto stop_all = [&](int sig) {
    for (Child& ch : children)
      if (ch.running) {
        kill(ch.pid, sig);
        kill(ch.pid, SIGCONT);  // a rank stopped by --stop must run to take the signal
        ch.stopped_by_us = true;
      }
  };
  while (running > 0) {
    int st = 0;
    const pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid > 0) {
      for (uint32_t r = 0; r < size; ++r) {
        Child& ch = children[r];
        if (ch.pid != pid) continue;
        ch.running = false;
        ch.status = st;
        --running;
        if (ch.killed_by_fault) {
          if (plan.restart && !stopping && spawn(r)) {
            ++running;
            std::fprintf(stderr, "pbxrun: fault: rank %u started again (pid %d)\n", r, children[r].pid);
          }
          continue;
        }
        const bool failed = WIFSIGNALED(st) || WEXITSTATUS(st) != 0;
        if (failed && !ch.stopped_by_us) {
          const pbx::Rank rank = shape.rank_of(r);
          std::fprintf(stderr, "pbxrun: rank %u (node %u, local %u, pid %d) %s\n", r, rank.node, rank.local, pid,
                       describe(st).c_str());
          worst = std::max(worst, code_of(st));
          if (!stopping && running > 0) {
            std::fprintf(stderr, "pbxrun: stopping the other %u process(es)\n", running);
            stopping = true;
            stop_all(SIGTERM);
            kill_deadline = pbx::now_ns() + 3'000'000'000ull;
          }
        }
      }
      continue;
    }
    // Faults due now.
    while (!stopping && next_fault < plan.faults.size() &&
           pbx::now_ns() - started_ns >= plan.faults[next_fault].at_ms * 1'000'000) {
      const pbx::tools::Fault& f = plan.faults[next_fault++];
      using K = pbx::tools::Fault::Kind;
      std::fprintf(stderr, "pbxrun: fault at %llu ms: %s\n", static_cast<unsigned long long>(f.at_ms),
                   pbx::tools::describe(f, flap_count).c_str());
      pbx::Result<void> r;
      switch (f.kind) {
        case K::kLinkDown:
        case K::kLinkUp:
          r = pbx::hal::LoopbackJob::set_link(job_name, pbx::hal::NodeIdx(f.a), pbx::hal::NodeIdx(f.b),
                                              f.kind == K::kLinkUp);
          break;
        case K::kKill:
          if (children[f.rank].running) {
            children[f.rank].killed_by_fault = true;
            kill(children[f.rank].pid, SIGKILL);
          }
          break;
        case K::kStop:
          if (children[f.rank].running) kill(children[f.rank].pid, SIGSTOP);
          break;
        case K::kContinue:
          if (children[f.rank].running) kill(children[f.rank].pid, SIGCONT);
          break;
        case K::kScribble: r = pbx::tools::scribble(job_name, shape, f.a, f.words, rng); break;
      }
      if (!r) std::fprintf(stderr, "pbxrun: fault: %s\n", r.error().message().c_str());
    }
    if (g_signal != 0 && !stopping) {
      std::fprintf(stderr, "pbxrun: got signal %d, stopping the job\n", static_cast<int>(g_signal));
      stopping = true;
      worst = std::max(worst, 128 + static_cast<int>(g_signal));
      stop_all(SIGTERM);
      kill_deadline = pbx::now_ns() + 3'000'000'000ull;
    }
    if (stopping && kill_deadline != 0 && pbx::now_ns() > kill_deadline) {
      stop_all(SIGKILL);
      kill_deadline = 0;
    }
    // The launcher's own wait loop, not a data path; finer while faults are due.
    timespec ts{0, next_fault < plan.faults.size() ? 200'000 : 2'000'000};
    nanosleep(&ts, nullptr);
  }
  return worst;  // the job's files are removed when `job` goes out of scope
}
