#include "pair.h"

#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

#include "stats.h"

namespace pbx::perf {

double calibrate_tsc() {
  const uint64_t t0 = now_ns();
  const uint64_t c0 = cycles();
  timespec ts{0, 50'000'000};
  nanosleep(&ts, nullptr);
  const uint64_t t1 = now_ns();
  const uint64_t c1 = cycles();
  return static_cast<double>(t1 - t0) / static_cast<double>(c1 - c0);
}

Result<void> pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) return fail_errno(errno, "sched_setaffinity(cpu %d)", cpu);
  return {};
}

SharedMem::SharedMem(size_t size) : size_(size) {
  p_ = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p_ == MAP_FAILED) throw std::bad_alloc();
}
SharedMem::~SharedMem() { munmap(p_, size_); }

Result<void> run_pair(int cpu_a, int cpu_b, void* /*shared*/, const std::function<int(int side)>& side) {
  pid_t pids[2];
  const int cpus[2] = {cpu_a, cpu_b};
  for (int s = 0; s < 2; ++s) {
    pids[s] = fork();
    if (pids[s] < 0) return fail_errno(errno, "fork");
    if (pids[s] == 0) {
      if (auto ok = pin_to_cpu(cpus[s]); !ok) {
        std::fprintf(stderr, "pbx-perf: %s\n", ok.error().message().c_str());
        _exit(3);
      }
      const int rc = side(s);
      std::fflush(nullptr);
      _exit(rc);
    }
  }
  std::string problems;
  for (int s = 0; s < 2; ++s) {
    int st = 0;
    waitpid(pids[s], &st, 0);
    if (WIFSIGNALED(st)) problems += "side " + std::to_string(s) + " died of signal " + std::to_string(WTERMSIG(st)) + "; ";
    else if (WEXITSTATUS(st) != 0) problems += "side " + std::to_string(s) + " exited with " + std::to_string(WEXITSTATUS(st)) + "; ";
  }
  if (!problems.empty()) return tl::unexpected(Error(Errc::kIoError, "benchmark pair failed: " + problems));
  return {};
}

}  // namespace pbx::perf
