// pbx-soak: random all-to-all traffic over a loopback job, with faults, verified end to end.
//
//   pbx-soak -N 2 -n 4 --seconds 60 --flap 200:2:50 --kill 3@5000 --restart
//   pbx-soak -N 2 -n 4 --messages 10000000 --flap 1000:2:20 --kill 5@20000 --kill 2@40000 --restart
//
// It starts the job with pbxrun (every fault option of pbxrun works here: --flap, --flap-link,
// --kill, --restart, --stop, --scribble, --fault-seed), runs one worker per process (worker.cpp:
// random sizes 16 B - 1 MiB, random tags and peers, every send and receive variant), then checks
// the record logs of every process (check.cpp) and prints messages, bytes, faults and every
// violation: a message lost without a report, delivered twice, out of order or corrupted.
// Exit status 0 only if there is none.
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "record_log.h"
#include "soak.h"

namespace {

constexpr const char* kUsage =
    "usage: pbx-soak -N NODES -n PROCS [--seconds S | --messages M] [options] [fault options]\n"
    "Random all-to-all traffic (sizes 16 B .. --max-size, every send and receive variant) over a\n"
    "loopback job started with pbxrun, verified end to end.\n"
    "\n"
    "  -N, --nodes NODES      simulated nodes\n"
    "  -n, --procs PROCS      processes per node\n"
    "      --seconds S        how long the processes send (default 10)\n"
    "      --messages M       stop once M sends completed in all (about M / processes each)\n"
    "      --max-size BYTES   largest message (default 1048576)\n"
    "      --dir DIR          where the record logs go (default /dev/shm/pbx-soak.<pid>, removed\n"
    "                         after a clean run)\n"
    "      --verbose          print every failed operation\n"
    "Fault options, passed to pbxrun: --flap COUNT[:DOWN_MS[:UP_MS]], --flap-link A-B,\n"
    "  --kill RANK@MS, --restart, --stop RANK@MS:FOR_MS, --scribble NODE@MS:WORDS, --fault-seed N\n"
    "      --check DIR        only check the logs of an earlier run\n"
    "Exit status: 0 if no message was lost without a report, duplicated, reordered or corrupted.\n";

[[noreturn]] void usage_error(const std::string& m) {
  std::fprintf(stderr, "pbx-soak: %s\n(see pbx-soak --help)\n", m.c_str());
  std::exit(2);
}

// A whole number, also written as 1e7.
uint64_t number(const char* text, const char* what) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (end != text && *end == '\0' && errno == 0 && text[0] != '-') return v;
  const double d = std::strtod(text, &end);
  if (end == text || *end != '\0' || d < 0 || d > 1e18) usage_error(std::string(what) + " '" + text + "' is invalid");
  return static_cast<uint64_t>(d);
}

std::string self_path() {
  char b[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", b, sizeof b - 1);
  if (n <= 0) return "pbx-soak";
  b[n] = '\0';
  return b;
}

// pbxrun next to this program (installed), in the build tree, or on PATH.
std::string find_pbxrun() {
  const std::string self = self_path();
  const std::string dir = self.substr(0, self.rfind('/'));
  for (const std::string& p : {dir + "/pbxrun", dir + "/../pbxrun/pbxrun"})
    if (::access(p.c_str(), X_OK) == 0) return p;
  return "pbxrun";
}

int print_check(const std::string& dir, int pbxrun_status) {
  const pbx::soak::CheckResult r = pbx::soak::run_check(dir);
  std::printf("pbx-soak: %llu processes (%llu killed), %llu messages sent, %llu received, %.1f MiB\n",
              static_cast<unsigned long long>(r.processes), static_cast<unsigned long long>(r.killed),
              static_cast<unsigned long long>(r.sent), static_cast<unsigned long long>(r.received),
              static_cast<double>(r.bytes) / (1 << 20));
  std::printf("pbx-soak: reported lost: %llu after link outages, %llu to peers that died (%llu of those had "
              "arrived); %llu taken in by receivers that were then killed\n",
              static_cast<unsigned long long>(r.lost_link), static_cast<unsigned long long>(r.lost_peer),
              static_cast<unsigned long long>(r.lost_but_delivered),
              static_cast<unsigned long long>(r.with_killed_receiver));
  std::printf("pbx-soak: violations: %llu lost unreported, %llu duplicated, %llu reordered, %llu corrupted, %llu "
              "phantom, %llu false loss reports, %llu unexpected errors\n",
              static_cast<unsigned long long>(r.unreported), static_cast<unsigned long long>(r.duplicated),
              static_cast<unsigned long long>(r.reordered), static_cast<unsigned long long>(r.corrupted),
              static_cast<unsigned long long>(r.phantom), static_cast<unsigned long long>(r.false_reports),
              static_cast<unsigned long long>(r.unexpected));
  if (r.processes == 0) std::printf("pbx-soak: FAILED: no record logs in %s\n", dir.c_str());
  else if (!r.ok() || pbxrun_status != 0) std::printf("pbx-soak: FAILED (pbxrun status %d)\n", pbxrun_status);
  else std::printf("pbx-soak: OK\n");
  return r.ok() && r.processes != 0 && pbxrun_status == 0 ? 0 : 1;
}

void remove_logs(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (std::strstr(e->d_name, ".log") != nullptr) ::unlink((dir + "/" + e->d_name).c_str());
    ::closedir(d);
  }
  ::rmdir(dir.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  pbx::soak::WorkerOptions w;
  std::string nodes, procs, check_dir;
  uint64_t seconds = 10, messages = 0;
  bool worker = false;
  std::vector<std::string> fault_args;
  enum { kSeconds = 1000, kMessages, kMaxSize, kDir, kVerbose, kCheck, kWorker, kUntil, kBudget, kCapacity, kFault,
         kRestart };
  static const option longopts[] = {
      {"nodes", required_argument, nullptr, 'N'},       {"procs", required_argument, nullptr, 'n'},
      {"seconds", required_argument, nullptr, kSeconds}, {"messages", required_argument, nullptr, kMessages},
      {"max-size", required_argument, nullptr, kMaxSize}, {"dir", required_argument, nullptr, kDir},
      {"verbose", no_argument, nullptr, kVerbose},       {"check", required_argument, nullptr, kCheck},
      {"worker", no_argument, nullptr, kWorker},         {"until-ns", required_argument, nullptr, kUntil},
      {"budget", required_argument, nullptr, kBudget},   {"log-capacity", required_argument, nullptr, kCapacity},
      {"flap", required_argument, nullptr, kFault},      {"flap-link", required_argument, nullptr, kFault},
      {"kill", required_argument, nullptr, kFault},      {"stop", required_argument, nullptr, kFault},
      {"scribble", required_argument, nullptr, kFault},  {"fault-seed", required_argument, nullptr, kFault},
      {"restart", no_argument, nullptr, kRestart},       {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0}};
  int c, idx = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":N:n:h", longopts, &idx)) != -1) {
    switch (c) {
      case 'N': nodes = optarg; break;
      case 'n': procs = optarg; break;
      case kSeconds: seconds = number(optarg, "--seconds"); break;
      case kMessages: messages = number(optarg, "--messages"); break;
      case kMaxSize: w.max_size = number(optarg, "--max-size"); break;
      case kDir: w.dir = optarg; break;
      case kVerbose: w.verbose = true; break;
      case kCheck: check_dir = optarg; break;
      case kWorker: worker = true; break;
      case kUntil: w.until_ns = number(optarg, "--until-ns"); break;
      case kBudget: w.budget = number(optarg, "--budget"); break;
      case kCapacity: w.log_capacity = number(optarg, "--log-capacity"); break;
      case kFault:
        fault_args.push_back(std::string("--") + longopts[idx].name);
        fault_args.push_back(optarg);
        break;
      case kRestart: fault_args.push_back("--restart"); break;
      case 'h': std::fputs(kUsage, stdout); return 0;
      case ':': usage_error(std::string("option ") + argv[optind - 1] + " needs a value");
      default: usage_error(std::string("unknown option ") + argv[optind - 1]);
    }
  }
  if (worker) return pbx::soak::run_worker(w);
  if (!check_dir.empty()) return print_check(check_dir, 0);
  if (nodes.empty() || procs.empty()) usage_error("give the job's shape with -N NODES and -n PROCS");
  if (w.max_size < pbx::soak::kMinSize) usage_error("--max-size must be at least 16 bytes");
  const uint64_t size = number(nodes.c_str(), "-N") * number(procs.c_str(), "-n");
  if (size < 2) usage_error("the job needs at least 2 processes");
  const bool own_dir = w.dir.empty();
  if (own_dir) w.dir = "/dev/shm/pbx-soak." + std::to_string(::getpid());
  if (::mkdir(w.dir.c_str(), 0755) != 0 && errno != EEXIST) usage_error("cannot create " + w.dir + ": " + std::strerror(errno));
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  // With --messages, time is only a safety net.
  const uint64_t run_s = messages != 0 ? 24 * 3600 : seconds;
  const uint64_t until = static_cast<uint64_t>(ts.tv_sec + static_cast<time_t>(run_s)) * 1'000'000'000ull +
                         static_cast<uint64_t>(ts.tv_nsec);
  const uint64_t budget = messages != 0 ? (messages + size - 1) / size : 0;
  const uint64_t capacity = (budget != 0 ? 4 * budget : 4'000'000 + 400'000 * seconds) + (1u << 16);

  std::vector<std::string> args = {find_pbxrun(), "-N", nodes, "-n", procs};
  args.insert(args.end(), fault_args.begin(), fault_args.end());
  const std::vector<std::string> tail = {"--",
                                         self_path(),
                                         "--worker",
                                         "--dir",
                                         w.dir,
                                         "--until-ns",
                                         std::to_string(until),
                                         "--budget",
                                         std::to_string(budget),
                                         "--log-capacity",
                                         std::to_string(capacity),
                                         "--max-size",
                                         std::to_string(w.max_size)};
  args.insert(args.end(), tail.begin(), tail.end());
  if (w.verbose) args.push_back("--verbose");
  std::fprintf(stderr, "pbx-soak:");
  for (const auto& a : args) std::fprintf(stderr, " %s", a.c_str());
  std::fprintf(stderr, "\n");
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> av;
    for (auto& a : args) av.push_back(a.data());
    av.push_back(nullptr);
    ::execvp(av[0], av.data());
    std::fprintf(stderr, "pbx-soak: cannot run %s: %s\n", av[0], std::strerror(errno));
    _exit(127);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  const int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  const int rc = print_check(w.dir, status);
  if (own_dir && rc == 0) {
    remove_logs(w.dir);
  } else if (rc != 0) {
    std::printf("pbx-soak: the record logs are in %s (pbx-soak --check %s)\n", w.dir.c_str(), w.dir.c_str());
  }
  return rc;
}
