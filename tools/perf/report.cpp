// How pbx-perf prints what it measured (report.h).
#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace pbx::perf {

namespace {

double median_of(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double med(const Cell& c, double Summary::*f) {
  std::vector<double> v;
  for (const Summary& s : c.runs) v.push_back(s.*f);
  return median_of(v);
}

// Ratio a / b run by run (the two ran back to back), then the median over runs.
double ratio(const Cell& a, const Cell& b) {
  std::vector<double> v;
  for (size_t i = 0; i < a.runs.size() && i < b.runs.size(); ++i) v.push_back(a.runs[i].median / b.runs[i].median);
  return median_of(v);
}

std::string rate_text(double ns_per_msg) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3gM", 1e3 / ns_per_msg);
  return b;
}

std::string gbs_text(size_t size, double ns_per_msg) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", static_cast<double>(size) / ns_per_msg);
  return b;
}

std::string where(const Key& k) { return std::string(to_string(k.test)) + " " + human_size(k.size); }

// One target over a range of sizes: the worst ratio (time, postbox / peer) among the sizes
// measured, against its bound.
void target(const Results& r, const char* what, std::vector<Test> tests, size_t lo, size_t hi, int peer,
            double bound, bool throughput) {
  double worst = throughput ? INFINITY : 0;
  std::string at;
  for (const Key& k : r.order) {
    if (k.size < lo || k.size > hi || std::find(tests.begin(), tests.end(), k.test) == tests.end()) continue;
    const std::vector<Cell>& c = r.cells.at(k);
    if (c[kPostbox].runs.empty() || c[peer].runs.empty()) continue;
    const double t = ratio(c[kPostbox], c[peer]);
    const double shown = throughput ? 1.0 / t : t;
    if (throughput ? shown < worst : shown > worst) worst = shown, at = where(k);
  }
  if (at.empty()) return;
  const bool met = throughput ? worst >= bound : worst <= bound;
  std::printf("  %-38s %5.2f at %-12s (target %s %.2f) %s\n", what, worst, at.c_str(), throughput ? ">=" : "<=",
              bound, met ? "met" : "NOT met");
}

}  // namespace

const char* impl_name(int impl, const Options& o) {
  switch (impl) {
    case kPostbox: return "postbox";
    case kRing: return "ring";
    case kRaw: return "raw";
    case kOmpi: return "ompi";
    default: return o.variants[static_cast<size_t>(impl - kVariants)].label.c_str();
  }
}

void print_repeat_summary(const Results& r, const Options& o) {
  std::vector<std::string> slow;
  for (const Key& k : r.order) {
    const std::vector<Cell>& cells = r.cells.at(k);
    for (size_t impl = 0; impl < cells.size(); ++impl) {
      const Cell& c = cells[impl];
      if (c.runs.empty()) continue;
      const double m = med(c, &Summary::median);
      for (const Summary& s : c.runs)
        if (s.median > 3 * m)
          slow.push_back(std::string(impl_name(static_cast<int>(impl), o)) + " " + where(k) + ": a run took " +
                         human_ns(s.median) + " per message, median " + human_ns(m));
    }
  }
  std::fprintf(stderr, "pbx-perf: --repeat %u: %zu failure(s), %zu run(s) 3x slower than the median\n", o.runs,
               r.failures.size(), slow.size());
  for (const std::string& f : r.failures) std::fprintf(stderr, "  failed: %s\n", f.c_str());
  for (const std::string& s : slow) std::fprintf(stderr, "  slow:   %s\n", s.c_str());
}

void print_json(const Results& r, const Options& o) {
  std::printf("[\n");
  for (size_t i = 0; i < r.order.size(); ++i) {
    const Key& k = r.order[i];
    const std::vector<Cell>& c = r.cells.at(k);
    const double m = med(c[kPostbox], &Summary::median);
    std::printf("  {\"test\": \"%s\", \"size\": %zu, \"median_ns\": %.1f, \"p99_ns\": %.1f, \"msgs_per_s\": %.0f, "
                "\"gbytes_per_s\": %.4f, \"runs\": %zu",
                to_string(k.test), k.size, m, med(c[kPostbox], &Summary::p99), 1e9 / m,
                static_cast<double>(k.size) / m, c[kPostbox].runs.size());
    for (size_t impl = kRing; impl < c.size(); ++impl) {
      if (c[impl].runs.empty()) continue;
      const std::string name = impl < kVariants ? impl_name(static_cast<int>(impl), o)
                                                : "variant" + std::to_string(impl - kVariants);
      std::printf(", \"%s_median_ns\": %.1f, \"%s_p99_ns\": %.1f, \"ratio_vs_%s\": %.3f", name.c_str(),
                  med(c[impl], &Summary::median), name.c_str(), med(c[impl], &Summary::p99), name.c_str(),
                  ratio(c[kPostbox], c[impl]));
    }
    std::printf("}%s\n", i + 1 < r.order.size() ? "," : "");
  }
  std::printf("]\n");
}

void print_table(const Results& r, const Options& o) {
  std::printf("%-5s %-8s %-28s %-10s %-9s %-7s", "test", "size", "postbox median [min-max]", "p99", "msgs/s", "GB/s");
  if (o.compare) std::printf(" | %-10s %-5s | %-8s %-5s | %-10s %-5s", "ring", "ratio", "raw", "ratio", "ompi", "ratio");
  for (const Variant& v : o.variants) std::printf(" | %-22.22s %-5s", v.label.c_str(), "ratio");
  std::printf("\n");
  for (const Key& k : r.order) {
    const std::vector<Cell>& c = r.cells.at(k);
    const double m = med(c[kPostbox], &Summary::median);
    double lo = INFINITY, hi = 0;
    for (const Summary& s : c[kPostbox].runs) lo = std::min(lo, s.median), hi = std::max(hi, s.median);
    const std::string mm = human_ns(m) + " [" + human_ns(lo) + "-" + human_ns(hi) + "]";
    std::printf("%-5s %-8s %-28s %-10s %-9s %-7s", to_string(k.test), human_size(k.size).c_str(), mm.c_str(),
                human_ns(med(c[kPostbox], &Summary::p99)).c_str(), rate_text(m).c_str(),
                gbs_text(k.size, m).c_str());
    if (o.compare)
      for (int impl : {kRing, kRaw, kOmpi}) {
        if (c[impl].runs.empty()) std::printf(" | %-10s %-5s", "-", "-");
        else std::printf(" | %-10s %-5.2f", human_ns(med(c[impl], &Summary::median)).c_str(), ratio(c[kPostbox], c[impl]));
      }
    for (size_t v = 0; v < o.variants.size(); ++v) {
      const Cell& vc = c[kVariants + v];
      if (vc.runs.empty()) std::printf(" | %-22s %-5s", "-", "-");
      else std::printf(" | %-22s %-5.2f", human_ns(med(vc, &Summary::median)).c_str(), ratio(vc, c[kPostbox]));
    }
    std::printf("\n");
  }
  std::printf("\nratio = postbox / peer, time per message, per run, median over runs (lower is better)");
  if (!o.variants.empty()) std::printf(";\nfor a variant: variant / postbox");
  std::printf(".\n");
  if (r.rss_growth_kib >= 0)
    std::printf("memory: a postbox process grew by at most %.0f KiB between the end of its warm-up and the end of "
                "its run\n",
                r.rss_growth_kib);
  if (!o.compare) return;
  std::printf("targets (the worst size of each range):\n");
  target(r, "8 B one-way latency / raw", {Test::kLat}, 8, 8, kRaw, 1.2, false);
  target(r, "8 B message rate / ring (throughput)", {Test::kRate}, 8, 8, kRing, 0.8, true);
  target(r, "64 B-4 KiB lat and bw / ring", {Test::kLat, Test::kBw}, 64, 4096, kRing, 1.3, false);
  target(r, "64 B-4 KiB lat and bw / Open MPI", {Test::kLat, Test::kBw}, 64, 4096, kOmpi, 0.7, false);
  target(r, "64 KiB-4 MiB lat and bw / ring", {Test::kLat, Test::kBw}, 64u << 10, 4u << 20, kRing, 1.0, false);
  target(r, "64 KiB-4 MiB lat and bw / Open MPI", {Test::kLat, Test::kBw}, 64u << 10, 4u << 20, kOmpi, 0.6, false);
  double worst = 0;
  std::string at;
  for (const Key& k : r.order) {
    const Cell& c = r.cells.at(k)[kPostbox];
    const double q = med(c, &Summary::p99) / med(c, &Summary::median);
    if (q > worst) worst = q, at = where(k);
  }
  if (!at.empty())
    std::printf("  %-38s %5.2f at %-12s (target <= 3.00) %s\n", "p99 / median", worst, at.c_str(),
                worst <= 3.0 ? "met" : "NOT met");
}

}  // namespace pbx::perf
