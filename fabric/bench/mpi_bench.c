/* pbx-fi-mpi-bench: the MPI side of pbx-fi-perf. Two ranks, the same tests as pbx-fi-bench:
 *   lat SIZE  ping-pong (MPI_Send / MPI_Recv); a sample is one round trip / 2
 *   bw SIZE   WINDOW MPI_Isend, then an 8-byte reply; a sample is the loop's time / WINDOW
 * For every test, rank 0 prints one line: RESULT <test> <size> <median_ns> <p99_ns>
 *
 * usage: mpirun -np 2 pbx-fi-mpi-bench ITERS WINDOW TEST:SIZE...
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_samples.h"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc < 4 || size != 2) {
    if (rank == 0) fprintf(stderr, "usage: mpirun -np 2 %s ITERS WINDOW TEST:SIZE...\n", argv[0]);
    MPI_Finalize();
    return 2;
  }
  const int iters = atoi(argv[1]), window = atoi(argv[2]);
  size_t max = 8;
  for (int a = 3; a < argc; ++a) {
    const char* colon = strchr(argv[a], ':');
    if (colon != NULL && strtoull(colon + 1, NULL, 10) > max) max = strtoull(colon + 1, NULL, 10);
  }
  char* sbuf = malloc(max);
  char* rbuf = malloc(max * (size_t)window);
  memset(sbuf, 0x5a, max);
  memset(rbuf, 0, max * (size_t)window);
  MPI_Request* req = malloc(sizeof(MPI_Request) * (size_t)window);
  const int peer = 1 - rank;
  for (int a = 3; a < argc; ++a) {
    char test[8] = {0};
    size_t sz = 0;
    if (sscanf(argv[a], "%7[a-z]:%zu", test, &sz) != 2) MPI_Abort(MPI_COMM_WORLD, 2);
    const int lat = strcmp(test, "lat") == 0;
    const int n = sz >= (1 << 20) ? iters / 20 + 10 : sz >= (64 << 10) ? iters / 4 + 10 : iters;
    const int warm = n / 10 + 1;
    double* v = malloc(sizeof(double) * (size_t)n);
    MPI_Barrier(MPI_COMM_WORLD);
    for (int i = 0; i < warm + n; ++i) {
      const double t0 = bench_now_ns();
      if (lat) {
        if (rank == 0) {
          MPI_Send(sbuf, (int)sz, MPI_BYTE, peer, 1, MPI_COMM_WORLD);
          MPI_Recv(rbuf, (int)sz, MPI_BYTE, peer, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
          MPI_Recv(rbuf, (int)sz, MPI_BYTE, peer, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
          MPI_Send(sbuf, (int)sz, MPI_BYTE, peer, 1, MPI_COMM_WORLD);
        }
      } else if (rank == 0) {
        for (int w = 0; w < window; ++w) MPI_Isend(sbuf, (int)sz, MPI_BYTE, peer, 2, MPI_COMM_WORLD, &req[w]);
        MPI_Waitall(window, req, MPI_STATUSES_IGNORE);
        MPI_Recv(rbuf, 8, MPI_BYTE, peer, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      } else {
        for (int w = 0; w < window; ++w)
          MPI_Irecv(rbuf + (size_t)w * sz, (int)sz, MPI_BYTE, peer, 2, MPI_COMM_WORLD, &req[w]);
        MPI_Waitall(window, req, MPI_STATUSES_IGNORE);
        MPI_Send(sbuf, 8, MPI_BYTE, peer, 3, MPI_COMM_WORLD);
      }
      if (i >= warm) v[i - warm] = (bench_now_ns() - t0) / (lat ? 2.0 : (double)window);
    }
    if (rank == 0) {
      double median, p99;
      bench_median_p99(v, (size_t)n, &median, &p99);
      printf("RESULT %s %zu %.1f %.1f\n", test, sz, median, p99);
      fflush(stdout);
    }
    free(v);
  }
  free(sbuf);
  free(rbuf);
  free(req);
  MPI_Finalize();
  return 0;
}
