/* pbx-perf-mpi-peer: the Open MPI side of pbx-perf --compare. Two ranks, the same tests as
 * pbx-perf (lat: ping-pong, one-way = round trip / 2; bw and rate: 64 messages, then an 8-byte
 * reply; sample = loop time / 64), printed as one line for pbx-perf to read:
 *   RESULT <median_ns> <p99_ns>
 * usage: mpirun -np 2 pbx-perf-mpi-peer lat|bw|rate SIZE ITERS WARMUP WINDOW
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
  if (argc != 7 || size != 2) {
    if (rank == 0) fprintf(stderr, "usage: mpirun -np 2 %s lat|bw|rate SIZE ITERS WARMUP WINDOW BATCH\n", argv[0]);
    MPI_Finalize();
    return 2;
  }
  const int lat = strcmp(argv[1], "lat") == 0;
  const size_t sz = strtoull(argv[2], NULL, 10);
  const long iters = atol(argv[3]), warm = atol(argv[4]);
  const int window = atoi(argv[5]);
  const int batch = atoi(argv[6]) > 0 ? atoi(argv[6]) : 1;  /* round trips per latency sample */
  char* buf = malloc(sz > 8 ? sz : 8);
  char* rbuf = malloc((sz > 8 ? sz : 8) * (size_t)window);
  memset(buf, 0x5a, sz > 8 ? sz : 8);
  double* v = malloc(sizeof(double) * (size_t)(iters > 0 ? iters : 1));
  MPI_Request* req = malloc(sizeof(MPI_Request) * (size_t)window);
  const int peer = 1 - rank;
  MPI_Barrier(MPI_COMM_WORLD);
  for (long i = 0; i < warm + iters; ++i) {
    const double t0 = bench_now_ns();
    if (lat) {
      for (int b = 0; b < batch; ++b) {
        if (rank == 0) {
          MPI_Send(buf, (int)sz, MPI_BYTE, peer, 1, MPI_COMM_WORLD);
          MPI_Recv(rbuf, (int)sz, MPI_BYTE, peer, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
          MPI_Recv(rbuf, (int)sz, MPI_BYTE, peer, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
          MPI_Send(rbuf, (int)sz, MPI_BYTE, peer, 1, MPI_COMM_WORLD);
        }
      }
    } else if (rank == 0) {
      for (int w = 0; w < window; ++w) MPI_Isend(buf, (int)sz, MPI_BYTE, peer, 2, MPI_COMM_WORLD, &req[w]);
      MPI_Waitall(window, req, MPI_STATUSES_IGNORE);
      MPI_Recv(rbuf, 8, MPI_BYTE, peer, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
      for (int w = 0; w < window; ++w)
        MPI_Irecv(rbuf + (size_t)w * (sz > 8 ? sz : 8), (int)sz, MPI_BYTE, peer, 2, MPI_COMM_WORLD, &req[w]);
      MPI_Waitall(window, req, MPI_STATUSES_IGNORE);
      MPI_Send(buf, 8, MPI_BYTE, peer, 3, MPI_COMM_WORLD);
    }
    const double t1 = bench_now_ns();
    if (rank == 0 && i >= warm) v[i - warm] = lat ? (t1 - t0) / (2.0 * batch) : (t1 - t0) / window;
  }
  if (rank == 0) {
    double median, p99;
    bench_median_p99(v, (size_t)iters, &median, &p99);
    printf("RESULT %.1f %.1f\n", median, p99);
  }
  free(req);
  free(v);
  free(rbuf);
  free(buf);
  MPI_Finalize();
  return 0;
}
