// pbx-perf's command line: what to measure, how often, and which postbox settings to compare.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench.h"

namespace pbx::perf {

// postbox run again with other settings (PBX_* variables, or checksums on), interleaved with
// the default run and reported as a ratio to it.
struct Variant {
  std::string label;                                     // as shown in the table
  std::vector<std::pair<std::string, std::string>> env;  // PBX_NAME, value
  int checksum = -1;                                     // 1: Config::checksum on
};

struct Options {
  std::vector<Test> tests{Test::kLat, Test::kBw, Test::kRate};
  std::vector<size_t> sizes;
  bool sizes_given = false;
  uint32_t runs = 3;
  uint32_t iters = 20000;
  int cpu_a = -1, cpu_b = -1;
  bool compare = true;
  bool json = false;
  bool checksum = false;    // --checksum: the default run without, a variant with
  bool keep_going = false;  // --repeat
  std::vector<Variant> variants;
};

// Parses the command line; a usage error exits with status 2 and a message that says what to
// do (--help prints the usage and exits 0).
Options parse_options(int argc, char** argv);

std::vector<size_t> default_sizes(Test t);
// Iterations that keep each measurement short but statistically useful.
Params params_for(Test t, size_t size, const Options& o, double ns_per_tick);

std::string human_size(size_t s);
std::string human_ns(double ns);

}  // namespace pbx::perf
