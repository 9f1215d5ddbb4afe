// pbxrun's fault plan: parsing the fault options and scribbling into a node's memory.
#include "faults.h"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "pbx/hal/loopback.h"

namespace pbx::tools {

namespace {

// A decimal number that fills `text` exactly.
bool number(const std::string& text, uint64_t& v) {
  if (text.empty() || text[0] < '0' || text[0] > '9') return false;
  char* end = nullptr;
  errno = 0;
  v = std::strtoull(text.c_str(), &end, 10);
  return errno == 0 && *end == '\0';
}

// "X@Y" or "X@Y:Z" into its numbers (z optional when `need_z` is false).
bool at_form(const std::string& arg, uint64_t& x, uint64_t& y, uint64_t* z) {
  const size_t at = arg.find('@');
  if (at == std::string::npos) return false;
  const size_t colon = arg.find(':', at);
  if (!number(arg.substr(0, at), x)) return false;
  if (z == nullptr) return colon == std::string::npos && number(arg.substr(at + 1), y);
  return colon != std::string::npos && number(arg.substr(at + 1, colon - at - 1), y) && number(arg.substr(colon + 1), *z);
}

uint64_t next_random(uint64_t& s) {  // splitmix64
  s += 0x9e3779b97f4a7c15ull;
  uint64_t z = s;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

Result<void> FaultPlanBuilder::flap(const std::string& arg) {
  uint64_t count = 0, down = down_ms_, up = up_ms_;
  const size_t c1 = arg.find(':');
  const size_t c2 = c1 == std::string::npos ? std::string::npos : arg.find(':', c1 + 1);
  bool ok = number(arg.substr(0, c1), count);
  if (ok && c1 != std::string::npos) ok = number(arg.substr(c1 + 1, c2 == std::string::npos ? std::string::npos : c2 - c1 - 1), down);
  if (ok && c2 != std::string::npos) ok = number(arg.substr(c2 + 1), up);
  if (!ok || count == 0 || count > 1'000'000 || down == 0 || down > 3'600'000 || up > 3'600'000)
    return fail(Errc::kInvalidArgument,
                "--flap '%s' is invalid: use COUNT[:DOWN_MS[:UP_MS]], e.g. --flap 15:2:20 (15 outages of 2 ms, "
                "20 ms apart)",
                arg.c_str());
  flaps_ = static_cast<uint32_t>(count);
  down_ms_ = static_cast<uint32_t>(down);
  up_ms_ = static_cast<uint32_t>(up);
  return {};
}

Result<void> FaultPlanBuilder::flap_link(const std::string& arg) {
  const size_t dash = arg.find('-');
  uint64_t a = 0, b = 0;
  if (dash == std::string::npos || !number(arg.substr(0, dash), a) || !number(arg.substr(dash + 1), b) || a == b ||
      a > 0xffff || b > 0xffff)
    return fail(Errc::kInvalidArgument, "--flap-link '%s' is invalid: use A-B with two different nodes, e.g. 0-1",
                arg.c_str());
  link_a_ = static_cast<uint16_t>(a);
  link_b_ = static_cast<uint16_t>(b);
  return {};
}

Result<void> FaultPlanBuilder::kill(const std::string& arg) {
  uint64_t rank = 0, at = 0;
  if (!at_form(arg, rank, at, nullptr) || rank > 0xffffff)
    return fail(Errc::kInvalidArgument, "--kill '%s' is invalid: use RANK@MS, e.g. --kill 3@500 (rank 3, 500 ms in)",
                arg.c_str());
  Fault f;
  f.kind = Fault::Kind::kKill;
  f.rank = static_cast<uint32_t>(rank);
  f.at_ms = at;
  plan_.faults.push_back(f);
  return {};
}

Result<void> FaultPlanBuilder::stop(const std::string& arg) {
  uint64_t rank = 0, at = 0, dur = 0;
  if (!at_form(arg, rank, at, &dur) || rank > 0xffffff || dur == 0)
    return fail(Errc::kInvalidArgument,
                "--stop '%s' is invalid: use RANK@MS:FOR_MS, e.g. --stop 1@200:300 (rank 1 stopped 200 ms in, "
                "for 300 ms)",
                arg.c_str());
  Fault f;
  f.kind = Fault::Kind::kStop;
  f.rank = static_cast<uint32_t>(rank);
  f.at_ms = at;
  plan_.faults.push_back(f);
  f.kind = Fault::Kind::kContinue;
  f.at_ms = at + dur;
  plan_.faults.push_back(f);
  return {};
}

Result<void> FaultPlanBuilder::scribble(const std::string& arg) {
  uint64_t node = 0, at = 0, words = 0;
  if (!at_form(arg, node, at, &words) || node > 0xffff || words == 0 || words > 1'000'000)
    return fail(Errc::kInvalidArgument,
                "--scribble '%s' is invalid: use NODE@MS:WORDS, e.g. --scribble 1@300:64 (64 random words into "
                "node 1's memory, 300 ms in)",
                arg.c_str());
  Fault f;
  f.kind = Fault::Kind::kScribble;
  f.a = static_cast<uint16_t>(node);
  f.at_ms = at;
  f.words = static_cast<uint32_t>(words);
  plan_.faults.push_back(f);
  return {};
}

Result<void> FaultPlanBuilder::seed(const std::string& arg) {
  if (!number(arg, plan_.seed))
    return fail(Errc::kInvalidArgument, "--fault-seed '%s' is invalid: use a number", arg.c_str());
  seeded_ = true;
  return {};
}

Result<FaultPlan> FaultPlanBuilder::build(const JobShape& shape) {
  for (const Fault& f : plan_.faults) {
    if ((f.kind == Fault::Kind::kKill || f.kind == Fault::Kind::kStop) && f.rank >= shape.size())
      return fail(Errc::kInvalidArgument, "fault for rank %u: the job has ranks 0..%u", f.rank, shape.size() - 1);
    if (f.kind == Fault::Kind::kScribble && f.a >= shape.nodes)
      return fail(Errc::kInvalidArgument, "--scribble into node %u: the job has nodes 0..%u", f.a, shape.nodes - 1u);
  }
  if (flaps_ != 0) {
    if (link_a_ >= shape.nodes || link_b_ >= shape.nodes)
      return fail(Errc::kInvalidArgument, "--flap-link %u-%u: the job has nodes 0..%u", link_a_, link_b_,
                  shape.nodes - 1u);
    uint64_t t = up_ms_;  // the first outage after one quiet period
    for (uint32_t i = 1; i <= flaps_; ++i) {
      Fault down;
      down.kind = Fault::Kind::kLinkDown;
      down.a = link_a_;
      down.b = link_b_;
      down.at_ms = t;
      down.flap = i;
      Fault up = down;
      up.kind = Fault::Kind::kLinkUp;
      up.at_ms = t + down_ms_;
      plan_.faults.push_back(down);
      plan_.faults.push_back(up);
      t += down_ms_ + up_ms_;
    }
  }
  std::stable_sort(plan_.faults.begin(), plan_.faults.end(),
                   [](const Fault& x, const Fault& y) { return x.at_ms < y.at_ms; });
  if (!seeded_) {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    plan_.seed = static_cast<uint64_t>(ts.tv_nsec) ^ (static_cast<uint64_t>(ts.tv_sec) << 20);
  }
  return plan_;
}

std::string describe(const Fault& f, uint32_t flaps) {
  char b[128];
  switch (f.kind) {
    case Fault::Kind::kLinkDown:
      std::snprintf(b, sizeof b, "link %u-%u down (outage %u of %u)", f.a, f.b, f.flap, flaps);
      break;
    case Fault::Kind::kLinkUp: std::snprintf(b, sizeof b, "link %u-%u up", f.a, f.b); break;
    case Fault::Kind::kKill: std::snprintf(b, sizeof b, "SIGKILL to rank %u", f.rank); break;
    case Fault::Kind::kStop: std::snprintf(b, sizeof b, "SIGSTOP to rank %u", f.rank); break;
    case Fault::Kind::kContinue: std::snprintf(b, sizeof b, "SIGCONT to rank %u", f.rank); break;
    case Fault::Kind::kScribble:
      std::snprintf(b, sizeof b, "%u random words into node %u's memory", f.words, f.a);
      break;
  }
  return b;
}

Result<void> scribble(const std::string& job, const JobShape& shape, uint16_t node, uint32_t words, uint64_t& rng) {
  const uint16_t from = shape.nodes > 1 ? static_cast<uint16_t>((node + 1) % shape.nodes) : node;
  auto dev = hal::LoopbackDevice::open(job, hal::NodeIdx(from));
  if (!dev) return tl::unexpected(dev.error());
  auto win = (*dev)->peer_mw(hal::NodeIdx(node));
  if (!win) return tl::unexpected(win.error());
  const size_t slots = win->size() / 8;
  for (uint32_t i = 0; i < words; ++i) {
    const size_t at = static_cast<size_t>(next_random(rng) % slots) * 8;
    win->store64(at, next_random(rng), hal::StoreKind::kControl);
  }
  return {};
}

}  // namespace pbx::tools
