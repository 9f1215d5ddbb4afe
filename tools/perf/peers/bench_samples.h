/* The clock and the summary the C benchmark programs share (pbx-perf's Open MPI peer and
 * pbx-fi-perf's libfabric and MPI sides): one sample per batch or loop, summarised as the
 * median and the 99th percentile. */
#ifndef PBX_BENCH_SAMPLES_H
#define PBX_BENCH_SAMPLES_H

#include <stddef.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

/* Sorts the n (>= 1) samples in place; their median and 99th percentile. */
static inline void bench_median_p99(double* v, size_t n, double* median, double* p99) {
  qsort(v, n, sizeof(double), bench_cmp_double);
  *median = v[n / 2];
  *p99 = v[(size_t)((double)n * 0.99)]; /* floor(0.99 n) < n */
}

#endif
