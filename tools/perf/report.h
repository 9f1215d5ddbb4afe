// pbx-perf's results: every (test, size, implementation) over the runs, and how they are
// printed (table with ratios, the targets, JSON, the --repeat summary).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "bench.h"
#include "options.h"
#include "stats.h"

namespace pbx::perf {

// Implementations, in column order; postbox variants follow kVariants.
enum Impl : int { kPostbox = 0, kRing = 1, kRaw = 2, kOmpi = 3, kVariants = 4 };

struct Key {
  Test test;
  size_t size;
  bool operator<(const Key& k) const { return test != k.test ? test < k.test : size < k.size; }
};

struct Cell {  // one (test, size, implementation) over the runs
  std::vector<Summary> runs;
};

struct Results {
  std::vector<Key> order;                  // the (test, size) pairs in the order asked
  std::map<Key, std::vector<Cell>> cells;  // per key: kVariants + variants.size() cells
  std::vector<std::string> failures;       // runs that failed (--repeat goes on after them)
  double rss_growth_kib = 0;               // the most a postbox process grew over a run
};

const char* impl_name(int impl, const Options& o);

// The --repeat summary: every failure, and every run 3x slower than its cell's median.
void print_repeat_summary(const Results& r, const Options& o);
void print_json(const Results& r, const Options& o);
// The table (stdout), then the ratios the performance targets are written in.
void print_table(const Results& r, const Options& o);

}  // namespace pbx::perf
