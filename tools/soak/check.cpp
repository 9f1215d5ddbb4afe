// pbx-soak's checker: reads the record logs of every process of a run (every incarnation of
// every rank) and accounts for every message that a sender saw complete: received exactly once
// by some incarnation of its receiver, or reported lost to its sender. A message reported lost
// after a link outage must not have arrived (the sender would send it again: a duplicate); one
// reported lost because its receiver died may have arrived (that receiver cannot tell).
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "pbx/base/error.h"
#include "record_log.h"
#include "soak.h"

namespace pbx::soak {
namespace {

struct Log {
  uint32_t rank = 0, pid = 0;
  bool finished = false;
  std::vector<Record> records;
};

bool load(const std::string& path, Log& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < sizeof(LogHeader)) {
    ::close(fd);
    return false;
  }
  void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return false;
  const auto* h = static_cast<const LogHeader*>(p);
  bool ok = h->magic == kLogMagic;
  if (ok) {
    out.rank = h->rank;
    out.pid = h->pid;
    out.finished = h->finished != 0;
    // Acquire: pairs with the release store of the count in RecordLog::add().
    uint64_t n = h->count.load(std::memory_order_acquire);
    const uint64_t fit = (static_cast<uint64_t>(st.st_size) - sizeof(LogHeader)) / sizeof(Record);
    if (n > fit) n = fit;
    const auto* r = reinterpret_cast<const Record*>(h + 1);
    out.records.assign(r, r + n);
  }
  ::munmap(p, static_cast<size_t>(st.st_size));
  return ok;
}

// The first 20 violations are printed (the counts say the rest).
int g_shown = 0;
[[gnu::format(printf, 1, 2)]] void show(const char* fmt, ...) {
  if (g_shown++ >= 20) return;
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
}

uint64_t key(uint32_t pid, uint32_t dst) { return (uint64_t{pid} << 32) | dst; }
uint32_t attempt_of(uint64_t v) { return static_cast<uint32_t>(v); }
uint64_t size_of(uint64_t v) { return v >> 32; }

}  // namespace

namespace {
std::vector<Log> load_all(const std::string& dir) {
  std::vector<Log> logs;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() < 4 || name.compare(name.size() - 4, 4, ".log") != 0) continue;
      Log l;
      if (load(dir + "/" + name, l)) logs.push_back(std::move(l));
      else std::fprintf(stderr, "pbx-soak: %s/%s is not a record log\n", dir.c_str(), name.c_str());
    }
    ::closedir(d);
  }
  return logs;
}
}  // namespace

uint64_t sent_by_rank(const std::string& dir, uint32_t rank) {
  uint64_t n = 0;
  for (const Log& l : load_all(dir))
    if (l.rank == rank)
      for (const Record& r : l.records) n += r.type == static_cast<uint8_t>(RecordType::kSent) ? 1 : 0;
  return n;
}

CheckResult run_check(const std::string& dir) {
  CheckResult res;
  const std::vector<Log> logs = load_all(dir);
  // What arrived, per (sender incarnation, receiver rank): attempt -> times.
  std::unordered_map<uint64_t, std::unordered_map<uint32_t, uint32_t>> received;
  for (const Log& l : logs) {
    ++res.processes;
    if (!l.finished) ++res.killed;
    for (const Record& r : l.records) {
      if (r.type == static_cast<uint8_t>(RecordType::kReceived)) {
        ++received[key(r.pid, l.rank)][attempt_of(r.value)];
        ++res.received;
        res.bytes += size_of(r.value);
      } else if (r.type == static_cast<uint8_t>(RecordType::kViolation)) {
        switch (static_cast<ViolationKind>(r.aux)) {
          case ViolationKind::kReordered: ++res.reordered; break;
          case ViolationKind::kCorrupted: ++res.corrupted; break;
          case ViolationKind::kDuplicated: break;  // counted below, across incarnations
          case ViolationKind::kUnexpectedError: ++res.unexpected; break;
        }
      }
    }
  }
  // When each killed incarnation of a rank may have died: from its first record to the first
  // record of the rank's next incarnation (or the end).
  std::map<uint32_t, std::vector<std::pair<uint64_t, uint64_t>>> dying;  // rank -> [from, to]
  {
    std::map<uint32_t, std::vector<std::pair<uint64_t, const Log*>>> by_rank;
    for (const Log& l : logs)
      by_rank[l.rank].push_back({l.records.empty() ? 0 : l.records.front().time_ns, &l});
    for (auto& [rank, incs] : by_rank) {
      std::sort(incs.begin(), incs.end());
      for (size_t i = 0; i < incs.size(); ++i)
        if (!incs[i].second->finished)
          dying[rank].push_back({incs[i].first, i + 1 < incs.size() ? incs[i + 1].first : ~uint64_t{0}});
    }
  }
  auto while_dying = [&](uint32_t rank, uint64_t t) {
    for (auto [from, to] : dying[rank])
      if (t + 1'000'000'000ull >= from && t <= to) return true;
    return false;
  };
  for (const Log& l : logs) {
    std::map<uint32_t, std::vector<std::pair<uint32_t, uint64_t>>> sent;  // dst -> (attempt, time), by number
    std::map<uint32_t, std::map<uint64_t, uint8_t>> lost;      // dst -> number -> reason
    for (const Record& r : l.records) {
      if (r.type == static_cast<uint8_t>(RecordType::kSent)) {
        sent[r.peer].push_back({attempt_of(r.value), r.time_ns});
        ++res.sent;
      } else if (r.type == static_cast<uint8_t>(RecordType::kLost)) {
        lost[r.peer][r.value] = r.aux;
      }
    }
    for (auto& [dst, numbers] : lost)
      for (auto& [number, reason] : numbers) {
        if (number >= sent[dst].size()) {
          ++res.false_reports;
          show("pbx-soak: rank %u (pid %u) was told message %llu to rank %u was lost, but only %zu completed\n",
               l.rank, l.pid, static_cast<unsigned long long>(number), dst, sent[dst].size());
        }
        if (reason == static_cast<uint8_t>(Errc::kLinkDown)) ++res.lost_link;
        else ++res.lost_peer;
      }
    for (auto& [dst, attempts] : sent) {
      auto& got = received[key(l.pid, dst)];
      std::set<uint32_t> mine;
      for (uint64_t n = 0; n < attempts.size(); ++n) {
        const uint32_t a = attempts[n].first;
        if (a == kDoneAttempt) continue;  // (its arrival is not logged: nothing to check)
        mine.insert(a);
        const auto it = got.find(a);
        const uint32_t times = it == got.end() ? 0 : it->second;
        const auto lit = lost[dst].find(n);
        const bool reported = lit != lost[dst].end();
        if (times > 1) {
          res.duplicated += times - 1;
          show("pbx-soak: message %u from rank %u (pid %u) to rank %u arrived %u times\n", a, l.rank, l.pid, dst, times);
        }
        if (times == 0 && !reported && l.finished && while_dying(dst, attempts[n].second)) {
          ++res.with_killed_receiver;
        } else if (times == 0 && !reported && l.finished) {
          ++res.unreported;
          show("pbx-soak: message %u (number %llu) from rank %u (pid %u) to rank %u was lost and never reported\n", a,
               static_cast<unsigned long long>(n), l.rank, l.pid, dst);
        }
        if (times != 0 && reported) {
          if (lit->second == static_cast<uint8_t>(Errc::kLinkDown)) {
            ++res.false_reports;
            show("pbx-soak: message %u from rank %u to rank %u was reported lost in an outage but arrived\n", a, l.rank,
                 dst);
          } else {
            ++res.lost_but_delivered;
          }
        }
      }
      uint32_t last = 0;
      for (const auto& [a, t] : attempts)
        if (a != kDoneAttempt) last = a;
      for (const auto& [a, times] : got) {
        (void)times;
        if (mine.count(a) != 0) continue;
        // A killed sender may die between its send's return and its record of it.
        if (!l.finished && (attempts.empty() || a > last)) continue;
        ++res.phantom;
        show("pbx-soak: message %u from rank %u (pid %u) to rank %u arrived but was never sent successfully\n", a,
             l.rank, l.pid, dst);
      }
    }
  }
  return res;
}

}  // namespace pbx::soak
