// pbx-perf: latency, bandwidth and message rate of postbox on a loopback job it starts itself
// (two nodes, one process each, pinned to two CPUs), side by side with the raw cache-line
// ping-pong, a hand-written shared-memory ring and Open MPI, interleaved in one run.
//
// Usage by example:
//   pbx-perf                          # everything, default sizes, with the comparison
//   pbx-perf --test lat --sizes 8,64  # one-way latency of 8 and 64 bytes
//   pbx-perf --test bw --sizes 1M --runs 5
//   pbx-perf --variant PBX_CTS=2M     # postbox with another setting, interleaved, as a ratio
//   pbx-perf --json --no-compare      # machine-readable, postbox only
//   pbx-perf --cpus 2,3               # pin the two processes elsewhere
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "bench.h"
#include "layout.h"
#include "options.h"
#include "pbx/config.hpp"
#include "pbx/hal/copy.h"
#include "report.h"

namespace pbx::perf {
namespace {

// Sets a variant's PBX_* variables for one run and puts the earlier values back after it.
class ScopedEnv {
 public:
  explicit ScopedEnv(const Variant* v) {
    if (v == nullptr) return;
    for (const auto& [name, value] : v->env) {
      const char* old = std::getenv(name.c_str());
      saved_.push_back({name, old != nullptr ? std::optional<std::string>(old) : std::nullopt});
      ::setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else ::unsetenv(it->first.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// What runs: the job, the peers, the copy routine and the memory postbox lays out.
void print_header(const Options& o, bool ompi) {
  std::fprintf(stderr, "pbx-perf: loopback job of 2 nodes x 1 process on CPUs %d,%d; %u interleaved run(s)%s\n",
               o.cpu_a, o.cpu_b, o.runs,
               !o.compare ? "" : ompi ? ", with the raw ping-pong, the ring and Open MPI" : ", with the raw ping-pong and the ring");
  if (o.compare && !ompi)
    std::fprintf(stderr, "pbx-perf: Open MPI is not installed, so it is left out (scripts/setup-deps.sh bench, then rebuild)\n");
  const hal::CopyChoice& c = hal::copy_choice();
  std::fprintf(stderr, "pbx-perf: copies: %s%s%s%s%s\n", hal::to_string(c.variant),
               c.nt_min != 0 ? (", streaming stores from " + human_size(c.nt_min)).c_str() : ", no streaming stores",
               c.variant == hal::default_copy_choice().variant ? " (this CPU's default)" : " (PBX_COPY)",
               *c.note != '\0' ? "; " : "", c.note);
  auto cfg = Config::from_env();
  if (cfg) {
    const JobShape shape{2, 1};
    auto window = detail::window_size_needed(shape, *cfg);
    std::fprintf(stderr,
                 "pbx-perf: postbox memory: %s window per node pair = a segment per sender and node (pool %s, "
                 "postbox of %u slots with a %s payload ring for messages up to %s), CTS %s in %u pieces\n",
                 window ? human_size(*window).c_str() : "?", human_size(cfg->pool_size).c_str(), cfg->postbox_slots,
                 human_size(cfg->ring_size).c_str(), human_size(cfg->ring_max).c_str(), human_size(cfg->cts).c_str(),
                 cfg->cts_slices);
  }
  if (o.checksum) std::fprintf(stderr, "pbx-perf: with checksums: %s\n", checksum_implementation());
  for (const Variant& v : o.variants)
    if (!v.env.empty()) std::fprintf(stderr, "pbx-perf: variant: postbox with %s\n", v.label.c_str());
}

int main_impl(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  const double ns_per_tick = calibrate_tsc();
  const int impls = kVariants + static_cast<int>(o.variants.size());
  Results res;
  for (Test t : o.tests)
    for (size_t s : (o.sizes_given ? o.sizes : default_sizes(t))) {
      Key k{t, s};
      if (res.cells.find(k) == res.cells.end()) res.order.push_back(k);
      res.cells[k].resize(static_cast<size_t>(impls));
    }
  const bool ompi = o.compare && ompi_available();
  if (!o.json) print_header(o, ompi);
  for (uint32_t run = 0; run < o.runs; ++run) {
    for (const Key& k : res.order) {
      Params p = params_for(k.test, k.size, o, ns_per_tick);
      for (int impl = 0; impl < impls; ++impl) {
        if ((impl == kRing || impl == kRaw || impl == kOmpi) && !o.compare) continue;
        if (impl == kRaw && !(k.test == Test::kLat && k.size <= 56)) continue;  // one cache line
        if (impl == kOmpi && !ompi) continue;
        const Variant* v = impl >= kVariants ? &o.variants[static_cast<size_t>(impl - kVariants)] : nullptr;
        p.checksum = v != nullptr ? v->checksum : o.checksum ? 0 : -1;
        const ScopedEnv env(v);
        double growth = 0;
        Result<std::vector<double>> r = impl == kRing   ? run_ring(p)
                                        : impl == kRaw  ? run_raw_pingpong(p)
                                        : impl == kOmpi ? run_ompi(p)
                                                        : run_postbox(p, &growth);
        if (!r) {
          const std::string what = "run " + std::to_string(run + 1) + ": " + impl_name(impl, o) + " " +
                                   to_string(k.test) + " " + human_size(k.size) + ": " + r.error().message();
          std::fprintf(stderr, "pbx-perf: %s\n", what.c_str());
          if (!o.keep_going) return 1;
          res.failures.push_back(what);
          continue;
        }
        if (impl == kPostbox) res.rss_growth_kib = std::max(res.rss_growth_kib, growth);
        Cell& cell = res.cells[k][static_cast<size_t>(impl)];
        if (impl == kOmpi) cell.runs.push_back(Summary{(*r)[0], (*r)[1], (*r)[0]});
        else cell.runs.push_back(summarize(std::move(*r)));
      }
    }
  }
  if (o.keep_going) print_repeat_summary(res, o);
  if (o.json) print_json(res, o);
  else print_table(res, o);
  return res.failures.empty() ? 0 : 1;
}

}  // namespace
}  // namespace pbx::perf

int main(int argc, char** argv) { return pbx::perf::main_impl(argc, argv); }
