/* anysource: tagged any-source traffic among every rank of an MPI job over the postbox provider
 * (the test runs it on 2 simulated nodes x 4 processes). Checks order and content:
 *
 *   1. any source, any tag: every rank sends ROUNDS messages to every other rank, sizes cycling
 *      through 0 B .. 64 KiB (inline, pool, and large two-part messages), each carrying its
 *      source, round and a payload pattern; receivers take them with MPI_ANY_SOURCE and
 *      MPI_ANY_TAG and check that each source's messages come in the order sent (MPI's
 *      non-overtaking rule), intact, and that all of them come.
 *   2. tag matching: every rank sends TAGS messages with distinct tags to its right neighbour;
 *      the neighbour posts its receives in the reverse tag order, with MPI_ANY_SOURCE, so that
 *      each message waits in the unexpected queue until its own receive matches it by tag.
 *   3. probe: MPI_Iprobe / MPI_Mprobe (libfabric FI_PEEK | FI_CLAIM) on one more message each.
 *
 * Prints "anysource: ok (N messages)" on rank 0 and exits 0, or names the first mismatch and
 * calls MPI_Abort. usage: anysource [ROUNDS]
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kTags = 32, kMaxSize = 65536 };
static const size_t kSizes[] = {0, 8, 33, 200, 1000, 4096, 5000, 65536};
#define NSIZES (sizeof kSizes / sizeof kSizes[0])

struct Head {
  int32_t src, round;
  uint64_t check;
};

static uint64_t pattern_byte(int src, int dst, int round, size_t i) {
  return ((uint64_t)src * 131u + (uint64_t)dst * 31u + (uint64_t)round * 7u + i * 13u) & 0xffu;
}

static void fill(unsigned char* buf, size_t size, int src, int dst, int round) {
  struct Head h = {src, round, 0};
  for (size_t i = sizeof h; i < size; ++i) buf[i] = (unsigned char)pattern_byte(src, dst, round, i);
  if (size >= sizeof h) memcpy(buf, &h, sizeof h);
}

static void fail(const char* what, int me, int src, int round) {
  fprintf(stderr, "anysource: rank %d: %s (source %d, round %d)\n", me, what, src, round);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

static size_t size_of(int round) {
  size_t s = kSizes[(size_t)round % NSIZES];
  return s < sizeof(struct Head) ? sizeof(struct Head) : s;  /* the header travels in every message */
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int me = 0, n = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  const int rounds = argc > 1 ? atoi(argv[1]) : 24;
  unsigned char* out = malloc((size_t)kMaxSize * (size_t)n * (size_t)rounds);
  unsigned char* in = malloc(kMaxSize);
  int* next = calloc((size_t)n, sizeof(int));
  MPI_Request* reqs = malloc(sizeof(MPI_Request) * (size_t)n * (size_t)rounds + sizeof(MPI_Request) * kTags);
  long total = 0;

  /* 1. any source, any tag */
  int nreq = 0;
  for (int round = 0; round < rounds; ++round)
    for (int d = 1; d < n; ++d) {
      const int dst = (me + d) % n;
      unsigned char* buf = out + ((size_t)round * (size_t)n + (size_t)dst) * kMaxSize;
      fill(buf, size_of(round), me, dst, round);
      MPI_Isend(buf, (int)size_of(round), MPI_BYTE, dst, 100 + round % 7, MPI_COMM_WORLD, &reqs[nreq++]);
    }
  for (int k = 0; k < rounds * (n - 1); ++k) {
    MPI_Status st;
    MPI_Recv(in, kMaxSize, MPI_BYTE, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    struct Head h;
    memcpy(&h, in, sizeof h);
    if (h.src != st.MPI_SOURCE) fail("the header names another source", me, st.MPI_SOURCE, h.round);
    if (h.round != next[h.src]) fail("a message arrived out of order", me, h.src, h.round);
    if (st.MPI_TAG != 100 + h.round % 7) fail("wrong tag", me, h.src, h.round);
    if ((size_t)count != size_of(h.round)) fail("wrong size", me, h.src, h.round);
    for (size_t i = sizeof h; i < (size_t)count; ++i)
      if (in[i] != (unsigned char)pattern_byte(h.src, me, h.round, i)) fail("payload corrupted", me, h.src, h.round);
    ++next[h.src];
    ++total;
  }
  for (int s = 0; s < n; ++s)
    if (s != me && next[s] != rounds) fail("messages missing", me, s, next[s]);
  MPI_Waitall(nreq, reqs, MPI_STATUSES_IGNORE);
  MPI_Barrier(MPI_COMM_WORLD); /* a fast rank's next messages must not meet a slow rank's any-tag receives */

  /* 2. tag matching through the unexpected queue */
  const int right = (me + 1) % n, left = (me + n - 1) % n;
  int vals[kTags], got[kTags];
  for (int t = 0; t < kTags; ++t) {
    vals[t] = me * 1000 + t;
    MPI_Isend(&vals[t], 1, MPI_INT, right, t, MPI_COMM_WORLD, &reqs[t]);
  }
  MPI_Barrier(MPI_COMM_WORLD); /* the messages are now waiting, unexpected */
  for (int t = kTags - 1; t >= 0; --t) {
    MPI_Status st;
    MPI_Recv(&got[t], 1, MPI_INT, MPI_ANY_SOURCE, t, MPI_COMM_WORLD, &st);
    if (st.MPI_SOURCE != left || got[t] != left * 1000 + t) fail("tag matching delivered the wrong message", me, st.MPI_SOURCE, t);
    ++total;
  }
  MPI_Waitall(kTags, reqs, MPI_STATUSES_IGNORE);
  MPI_Barrier(MPI_COMM_WORLD);

  /* 3. probe and matched probe */
  int v = me;
  MPI_Send(&v, 1, MPI_INT, right, 7777, MPI_COMM_WORLD);
  int flag = 0;
  MPI_Status st;
  while (!flag) MPI_Iprobe(MPI_ANY_SOURCE, 7777, MPI_COMM_WORLD, &flag, &st);
  if (st.MPI_SOURCE != left) fail("MPI_Iprobe named the wrong source", me, st.MPI_SOURCE, 0);
  MPI_Message msg;
  MPI_Mprobe(left, 7777, MPI_COMM_WORLD, &msg, &st);
  int w = -1;
  MPI_Mrecv(&w, 1, MPI_INT, &msg, &st);
  if (w != left) fail("MPI_Mrecv received the wrong message", me, left, 0);
  ++total;

  long all = 0;
  MPI_Reduce(&total, &all, 1, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
  if (me == 0) printf("anysource: ok (%ld messages among %d ranks)\n", all, n);
  free(out);
  free(in);
  free(next);
  free(reqs);
  MPI_Finalize();
  return 0;
}
