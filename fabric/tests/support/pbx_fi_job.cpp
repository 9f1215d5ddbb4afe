// pbx-fi-job: creates or removes a loopback job's shared memory by name, for launchers that
// start a job's processes one by one (fabtests' runfabtests.sh starts a server, then a client).
// pbxrun does the same for the processes it starts itself.
//
//   pbx-fi-job create NAME NODES   # sized for NODES x 1 process and the PBX_* settings
//   pbx-fi-job remove NAME
#include <cstdio>
#include <cstdlib>
#include <string>

#include "layout.h"
#include "pbx/config.hpp"
#include "pbx/hal/loopback.h"

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "remove" && argc == 3) {
    if (auto r = pbx::hal::LoopbackJob::remove(argv[2]); !r) {
      std::fprintf(stderr, "pbx-fi-job: remove %s: %s\n", argv[2], r.error().message().c_str());
      return 1;
    }
    return 0;
  }
  if (cmd != "create" || argc != 4) {
    std::fprintf(stderr, "usage: pbx-fi-job create NAME NODES | remove NAME\n");
    return 2;
  }
  const int nodes = std::atoi(argv[3]);
  if (nodes < 1 || nodes > pbx::JobShape::kMaxNodes) {
    std::fprintf(stderr, "pbx-fi-job: NODES must be 1..%u\n", pbx::JobShape::kMaxNodes);
    return 2;
  }
  const pbx::JobShape shape{static_cast<uint16_t>(nodes), 1};
  auto cfg = pbx::Config::from_env();
  if (!cfg) {
    std::fprintf(stderr, "pbx-fi-job: %s\n", cfg.error().message().c_str());
    return 1;
  }
  auto need = pbx::detail::window_size_needed(shape, *cfg);
  if (!need) {
    std::fprintf(stderr, "pbx-fi-job: %s\n", need.error().message().c_str());
    return 1;
  }
  const size_t window = std::max<size_t>(*need, 16u << 20);
  auto job = pbx::hal::LoopbackJob::create({argv[2], shape.nodes, window, {}});
  if (!job) {
    std::fprintf(stderr, "pbx-fi-job: create %s: %s\n", argv[2], job.error().message().c_str());
    return 1;
  }
  job->release();  // the files stay for the processes; `pbx-fi-job remove` deletes them
  return 0;
}
