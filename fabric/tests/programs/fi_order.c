/* fi_order: every process of a postbox job sends ROUNDS tagged messages to every other one
 * through libfabric (provider "postbox"), sizes cycling from 0 B to 64 KiB; each receives
 * them with any source and any tag (receives posted ahead and late, so that both the posted
 * and the unexpected queues match), and checks per source: order, content, tag, CQ data and
 * the source address (FI_SOURCE). Run under pbxrun: pbxrun -N 2 -n 2 -- fi_order [ROUNDS]
 * Exits 0 and prints "fi_order: ok" on rank 0, or names the first mismatch and exits 1.
 */
#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_tagged.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                    \
  do {                                                                                 \
    int rc_ = (int)(call);                                                             \
    if (rc_ != 0) {                                                                    \
      fprintf(stderr, "fi_order: rank %d: %s: %s\n", me, #call, fi_strerror(-rc_));    \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

static const size_t kSizes[] = {0, 8, 20, 60, 1000, 4096, 5000, 65536};
#define NSIZES (sizeof kSizes / sizeof kSizes[0])
enum { kMax = 65536 + 64 };

static int me, n;
static struct fid_ep* ep;
static struct fid_cq* cq;

static unsigned char byte_of(int src, int dst, int round, size_t i) {
  return (unsigned char)(src * 131 + dst * 31 + round * 7 + (int)i * 13);
}

static void fail(const char* what, int src, int round) {
  fprintf(stderr, "fi_order: rank %d: %s (source %d, round %d)\n", me, what, src, round);
  exit(1);
}

static int* next;
static unsigned char* in;
static int received, sends_done;

/* Reads one completion (progressing); returns it, fills src. */
static struct fi_cq_tagged_entry next_completion(fi_addr_t* src) {
  struct fi_cq_tagged_entry e;
  for (;;) {
    ssize_t r = fi_cq_readfrom(cq, &e, 1, src);
    if (r == 1) return e;
    if (r == -FI_EAVAIL) {
      struct fi_cq_err_entry err = {0};
      fi_cq_readerr(cq, &err, 0);
      fprintf(stderr, "fi_order: rank %d: error completion: %s (%s)\n", me, fi_strerror(err.err),
              fi_cq_strerror(cq, err.prov_errno, err.err_data, NULL, 0));
      exit(1);
    }
    if (r != -FI_EAGAIN) fail("fi_cq_read failed", -1, -1);
  }
}

/* Checks a completion: a receive's order, content, tag, CQ data and source. */
static void handle(const struct fi_cq_tagged_entry* e, fi_addr_t src) {
  if (e->flags & FI_SEND) {
    ++sends_done;
    return;
  }
  const int from = (int)(e->tag >> 32), round = (int)(e->tag & 0xffffffffu);
  if ((e->flags & (FI_RECV | FI_TAGGED | FI_REMOTE_CQ_DATA)) != (FI_RECV | FI_TAGGED | FI_REMOTE_CQ_DATA))
    fail("completion flags", from, round);
  if (src != (fi_addr_t)from) fail("FI_SOURCE names another process than the tag", (int)src, round);
  if (e->data != (uint64_t)(from * 1000 + round)) fail("remote CQ data", from, round);
  if (round != next[from]) fail("a message overtook an earlier one from the same source", from, round);
  const size_t size = kSizes[(size_t)round % NSIZES];
  if (e->len != size) fail("length", from, round);
  const unsigned char* buf = in + ((size_t)(uintptr_t)e->op_context - 1) * kMax;
  for (size_t i = 0; i < size; ++i)
    if (buf[i] != byte_of(from, me, round, i)) fail("payload corrupted", from, round);
  ++next[from];
  ++received;
}

int main(int argc, char** argv) {
  const char* r = getenv("PBX_RANK");
  const char* s = getenv("PBX_SIZE");
  if (r == NULL || s == NULL) {
    fprintf(stderr, "fi_order: start me with pbxrun\n");
    return 2;
  }
  me = atoi(r);
  n = atoi(s);
  const int rounds = argc > 1 ? atoi(argv[1]) : 40;

  struct fi_info* hints = fi_allocinfo();
  hints->caps = FI_TAGGED | FI_SOURCE;
  hints->ep_attr->type = FI_EP_RDM;
  hints->domain_attr->cq_data_size = 4;
  hints->fabric_attr->prov_name = strdup("postbox");
  struct fi_info* info = NULL;
  CHECK(fi_getinfo(FI_VERSION(1, 17), NULL, NULL, 0, hints, &info));
  struct fid_fabric* fabric;
  struct fid_domain* domain;
  struct fid_av* av;
  CHECK(fi_fabric(info->fabric_attr, &fabric, NULL));
  CHECK(fi_domain(fabric, info, &domain, NULL));
  struct fi_cq_attr cq_attr = {.format = FI_CQ_FORMAT_TAGGED, .wait_obj = FI_WAIT_NONE};
  CHECK(fi_cq_open(domain, &cq_attr, &cq, NULL));
  struct fi_av_attr av_attr = {.type = FI_AV_TABLE};
  CHECK(fi_av_open(domain, &av_attr, &av, NULL));
  CHECK(fi_endpoint(domain, info, &ep, NULL));
  CHECK(fi_ep_bind(ep, &av->fid, 0));
  CHECK(fi_ep_bind(ep, &cq->fid, FI_TRANSMIT | FI_RECV));
  CHECK(fi_enable(ep));
  /* fi_addr_t k is rank k: the provider takes a rank as a node name. */
  for (int k = 0; k < n; ++k) {
    char node[16];
    fi_addr_t a;
    snprintf(node, sizeof node, "%d", k);
    if (fi_av_insertsvc(av, node, NULL, &a, 0, NULL) != 1 || a != (fi_addr_t)k) fail("fi_av_insertsvc", k, 0);
  }

  const int total = rounds * (n - 1);
  unsigned char* out = calloc((size_t)total, kMax);
  in = calloc((size_t)total, kMax);
  next = calloc((size_t)n, sizeof(int));
  /* Half the receives are posted before anything is sent, the rest after: both queues match. */
  int posted = 0;
  for (; posted < total / 2; ++posted)
    CHECK(fi_trecv(ep, in + (size_t)posted * kMax, kMax, NULL, FI_ADDR_UNSPEC, 0, ~0ull, (void*)(uintptr_t)(posted + 1)));
  int sent = 0;
  for (int round = 0; round < rounds; ++round)
    for (int d = 1; d < n; ++d) {
      const int dst = (me + d) % n;
      const size_t size = kSizes[(size_t)round % NSIZES];
      unsigned char* buf = out + (size_t)sent * kMax;
      for (size_t i = 0; i < size; ++i) buf[i] = byte_of(me, dst, round, i);
      const uint64_t tag = ((uint64_t)me << 32) | (uint64_t)round;
      ssize_t rc;
      while ((rc = fi_tsenddata(ep, buf, size, NULL, (uint64_t)(me * 1000 + round), (fi_addr_t)dst, tag, NULL)) ==
             -FI_EAGAIN) {
        fi_addr_t src;
        struct fi_cq_tagged_entry e = next_completion(&src);
        handle(&e, src);
      }
      if (rc != 0) fail("fi_tsenddata", dst, round);
      ++sent;
    }
  /* The rest one at a time, as MPI_Recv does: each waits in the unexpected queue, or for its message. */
  while (received < total || sends_done < sent) {
    if (posted < total && posted - received < total / 2 + 1) {
      CHECK(fi_trecv(ep, in + (size_t)posted * kMax, kMax, NULL, FI_ADDR_UNSPEC, 0, ~0ull, (void*)(uintptr_t)(posted + 1)));
      ++posted;
    }
    fi_addr_t src = FI_ADDR_NOTAVAIL;
    struct fi_cq_tagged_entry e = next_completion(&src);
    handle(&e, src);
  }
  for (int k = 0; k < n; ++k)
    if (k != me && next[k] != rounds) fail("messages missing", k, next[k]);
  if (me == 0) printf("fi_order: ok (%d processes, %d messages each way per pair)\n", n, rounds);
  fi_close(&ep->fid);
  fi_close(&av->fid);
  fi_close(&cq->fid);
  fi_close(&domain->fid);
  fi_close(&fabric->fid);
  fi_freeinfo(info);
  fi_freeinfo(hints);
  free(out);
  free(in);
  free(next);
  return 0;
}
