// pbxrun's fault injection: a schedule of faults (link flaps, killed, restarted and stopped
// ranks, scribbled memory) parsed from the command line and applied during a loopback job, so
// that users and tests can check their programs against faults.
//
//   --flap COUNT[:DOWN_MS[:UP_MS]]   the link between two nodes goes down COUNT times, for
//                                    DOWN_MS (default 2) each, UP_MS (default 20) apart
//   --flap-link A-B                  which link (default 0-1)
//   --kill RANK@MS                   SIGKILL for rank RANK, MS ms after the job started
//   --restart                        start every killed rank again at once (a new incarnation)
//   --stop RANK@MS:FOR_MS            SIGSTOP, then SIGCONT FOR_MS ms later
//   --scribble NODE@MS:WORDS         WORDS random 8-byte stores at random places of NODE's
//                                    memory (as a buggy or malicious peer would)
//   --fault-seed N                   seed of the random choices (default: the time)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pbx/base/error.h"
#include "pbx/config.hpp"

namespace pbx::tools {

struct Fault {
  enum class Kind : uint8_t { kLinkDown, kLinkUp, kKill, kStop, kContinue, kScribble };
  Kind kind = Kind::kLinkDown;
  uint64_t at_ms = 0;   // after the job started
  uint32_t rank = 0;    // kKill, kStop, kContinue
  uint16_t a = 0, b = 1;  // kLinkDown, kLinkUp: the link; kScribble: a = the node
  uint32_t words = 0;   // kScribble
  uint32_t flap = 0;    // kLinkDown: which flap (1..)
};

struct FaultPlan {
  std::vector<Fault> faults;  // by time
  bool restart = false;
  uint64_t seed = 0;
  bool empty() const noexcept { return faults.empty(); }
};

// Collects the fault options one by one (as getopt hands them over), then checks them against
// the job's shape. Errors name the option and say what is expected.
class FaultPlanBuilder {
 public:
  [[nodiscard]] Result<void> flap(const std::string& arg);
  [[nodiscard]] Result<void> flap_link(const std::string& arg);
  [[nodiscard]] Result<void> kill(const std::string& arg);
  [[nodiscard]] Result<void> stop(const std::string& arg);
  [[nodiscard]] Result<void> scribble(const std::string& arg);
  void restart() noexcept { plan_.restart = true; }
  [[nodiscard]] Result<void> seed(const std::string& arg);
  [[nodiscard]] Result<FaultPlan> build(const JobShape& shape);

 private:
  FaultPlan plan_;
  uint32_t flaps_ = 0, down_ms_ = 2, up_ms_ = 20;
  uint16_t link_a_ = 0, link_b_ = 1;
  bool seeded_ = false;
};

// One-line description of a fault for pbxrun's log ("link 0-1 down (flap 3 of 15)").
std::string describe(const Fault& f, uint32_t flaps);

// Writes `words` random 8-byte values at random 8-byte-aligned places of node `node`'s memory
// of job `job` (through the window from another node, as a peer writes).
[[nodiscard]] Result<void> scribble(const std::string& job, const JobShape& shape, uint16_t node, uint32_t words,
                                    uint64_t& rng);

}  // namespace pbx::tools
