/* fi_errors: what a libfabric application gets from the postbox provider for bad input, and
 * that nothing is delivered twice:
 *
 *   fi_errors --outside          (no job)  fi_getinfo: -FI_ENODATA, the log says why
 *   pbxrun -N 2 -n 1 -- fi_errors          (two ranks)
 *     unknown address  fi_av_insert of another job's address or a rank beyond the job:
 *                      not inserted (FI_ADDR_NOTAVAIL), FI_SYNC_ERR says FI_EADDRNOTAVAIL;
 *                      a send to an fi_addr_t that is not in the AV: -FI_EINVAL
 *     truncation       100 B into 40 B and 10000 B into 5000 B: FI_ETRUNC with len = what was
 *                      placed, olen = what was not, a message in fi_cq_strerror; the next
 *                      message goes to the next receive, whole
 *     cancel           fi_cancel: an FI_ECANCELED entry for that receive, -FI_ENOENT the second
 *                      time; the message sent afterwards fills the next receive, not the cancelled one
 *     peer that leaves rank 1 closes its endpoint and exits: rank 0's sends to it and its
 *                      receive posted for it end with FI_EHOSTUNREACH entries
 * Prints "fi_errors: ok" (rank 0) and exits 0, or names the failed check and exits 1.
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
#include <time.h>

static int me = -1;
static struct fid_ep* ep;
static struct fid_cq* cq;
static struct fid_av* av;

#define EXPECT(cond, ...)                                \
  do {                                                   \
    if (!(cond)) {                                       \
      fprintf(stderr, "fi_errors: rank %d: ", me);       \
      fprintf(stderr, __VA_ARGS__);                      \
      fprintf(stderr, " (%s:%d: %s)\n", __FILE__, __LINE__, #cond); \
      exit(1);                                           \
    }                                                    \
  } while (0)

enum { kReady = 100, kCancelled = 101, kBye = 102, kTrunc = 1, kTruncLarge = 2, kAfter = 3, kCancel = 4, kToGone = 9 };

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The next completion: 1 with *e filled, or 0 with *err filled (an error entry). */
static int next(struct fi_cq_tagged_entry* e, struct fi_cq_err_entry* err) {
  const uint64_t deadline = now_ms() + 20000;
  for (;;) {
    ssize_t r = fi_cq_read(cq, e, 1);
    if (r == 1) return 1;
    if (r == -FI_EAVAIL) {
      memset(err, 0, sizeof *err);
      EXPECT(fi_cq_readerr(cq, err, 0) == 1, "fi_cq_readerr");
      return 0;
    }
    EXPECT(r == -FI_EAGAIN, "fi_cq_read: %s", fi_strerror((int)-r));
    EXPECT(now_ms() < deadline, "no completion within 20 s");
  }
}

/* Waits for the completion of `ctx` (successful), skipping send completions. */
static struct fi_cq_tagged_entry wait_ok(void* ctx) {
  struct fi_cq_tagged_entry e;
  struct fi_cq_err_entry err;
  for (;;) {
    if (!next(&e, &err))
      EXPECT(0, "unexpected error entry: %s: %s", fi_strerror(err.err),
             fi_cq_strerror(cq, err.prov_errno, err.err_data, NULL, 0));
    if (e.op_context == ctx) return e;
    EXPECT(e.flags & FI_SEND, "a receive completed that nobody waited for (context %p)", e.op_context);
  }
}

/* Waits for an error entry (skipping successful send completions). */
static struct fi_cq_err_entry wait_error(void) {
  struct fi_cq_tagged_entry e;
  struct fi_cq_err_entry err;
  for (;;) {
    if (!next(&e, &err)) return err;
    EXPECT(e.flags & FI_SEND, "a receive completed where an error was expected (context %p)", e.op_context);
  }
}

static void send_tag(const void* buf, size_t len, uint64_t tag) {
  static char ctx;
  ssize_t r;
  while ((r = fi_tsend(ep, buf, len, NULL, (fi_addr_t)(1 - me), tag, &ctx)) == -FI_EAGAIN) {
  }
  EXPECT(r == 0, "fi_tsend: %s", fi_strerror((int)-r));
}

static void recv_tag(void* buf, size_t len, uint64_t tag, void* ctx) {
  EXPECT(fi_trecv(ep, buf, len, NULL, (fi_addr_t)(1 - me), tag, 0, ctx) == 0, "fi_trecv");
}

static void signal_peer(uint64_t tag) {
  char b = 1;
  send_tag(&b, 1, tag);
}

static void wait_peer(uint64_t tag) {
  char b = 0, ctx;
  recv_tag(&b, 1, tag, &ctx);
  wait_ok(&ctx);
}

static struct fi_info* hints(void) {
  struct fi_info* h = fi_allocinfo();
  h->caps = FI_TAGGED | FI_DIRECTED_RECV | FI_SOURCE;
  h->ep_attr->type = FI_EP_RDM;
  h->fabric_attr->prov_name = strdup("postbox");
  return h;
}

static void unknown_address(void) {
  unsigned char name[64];
  size_t len = sizeof name;
  EXPECT(fi_getname(&ep->fid, name, &len) == 0 && len == 16, "fi_getname gives a 16-byte address");
  unsigned char other_job[16], beyond[16];
  memcpy(other_job, name, 16);
  other_job[8] ^= 0x5a; /* bytes 8..11: the job */
  memcpy(beyond, name, 16);
  const uint32_t rank = 99; /* bytes 12..15: the rank; the job has 2 */
  memcpy(beyond + 12, &rank, 4);
  fi_addr_t fa = 0;
  EXPECT(fi_av_insert(av, other_job, 1, &fa, 0, NULL) == 0, "another job's address is not inserted");
  EXPECT(fa == FI_ADDR_NOTAVAIL, "its fi_addr is FI_ADDR_NOTAVAIL");
  int err = 0;
  EXPECT(fi_av_insert(av, beyond, 1, &fa, FI_SYNC_ERR, &err) == 0, "a rank beyond the job is not inserted");
  EXPECT(err == FI_EADDRNOTAVAIL && fa == FI_ADDR_NOTAVAIL, "FI_SYNC_ERR reports FI_EADDRNOTAVAIL (got %d)", err);
  char b = 0, ctx;
  EXPECT(fi_tsend(ep, &b, 1, NULL, (fi_addr_t)57, 1, &ctx) == -FI_EINVAL, "a send to fi_addr 57 (not in the AV)");
  EXPECT(fi_trecv(ep, &b, 1, NULL, (fi_addr_t)57, 1, 0, &ctx) == -FI_EINVAL, "a receive from fi_addr 57");
}

/* Receiver side of truncation: `size` bytes into `room`. */
static void expect_truncated(size_t size, size_t room, uint64_t tag) {
  unsigned char* buf = malloc(size);
  char ctx;
  memset(buf, 0xee, size);
  recv_tag(buf, room, tag, &ctx);
  signal_peer(kReady);
  struct fi_cq_err_entry err = wait_error();
  EXPECT(err.err == FI_ETRUNC, "FI_ETRUNC (got %s)", fi_strerror(err.err));
  EXPECT(err.op_context == &ctx && err.tag == tag && (err.flags & FI_RECV), "the entry names the receive");
  EXPECT(err.len == room && err.olen == size - room, "len %zu olen %zu (want %zu, %zu)", err.len, err.olen, room,
         size - room);
  for (size_t i = 0; i < room; ++i) EXPECT(buf[i] == (unsigned char)(i * 7), "the part that fit is intact");
  for (size_t i = room; i < size; ++i) EXPECT(buf[i] == 0xee, "nothing written past the buffer");
  const char* text = fi_cq_strerror(cq, err.prov_errno, err.err_data, NULL, 0);
  EXPECT(text != NULL && strstr(text, "did not fit") != NULL, "fi_cq_strerror says what happened: %s", text);
  /* The rest of the message is gone: the next one fills the next receive, whole. */
  uint64_t after = 0;
  char actx;
  recv_tag(&after, sizeof after, kAfter, &actx);
  struct fi_cq_tagged_entry e = wait_ok(&actx);
  EXPECT(e.len == 8 && after == 0x1122334455667788ull, "the next message arrives whole");
  free(buf);
}

static void send_truncated(size_t size, uint64_t tag) {
  unsigned char* buf = malloc(size);
  for (size_t i = 0; i < size; ++i) buf[i] = (unsigned char)(i * 7);
  wait_peer(kReady);
  send_tag(buf, size, tag);
  const uint64_t after = 0x1122334455667788ull;
  send_tag(&after, sizeof after, kAfter);
  free(buf);
}

static void cancel_receiver(void) {
  char cancelled[32], fresh[32], c1, c2;
  memset(cancelled, 0x55, sizeof cancelled);
  recv_tag(cancelled, sizeof cancelled, kCancel, &c1);
  EXPECT(fi_cancel(&ep->fid, &c1) == 0, "fi_cancel of a posted receive");
  struct fi_cq_err_entry err = wait_error();
  EXPECT(err.err == FI_ECANCELED && err.op_context == &c1, "FI_ECANCELED for it (got %s)", fi_strerror(err.err));
  const char* text = fi_cq_strerror(cq, err.prov_errno, err.err_data, NULL, 0);
  EXPECT(text != NULL && strstr(text, "cancel") != NULL, "fi_cq_strerror: %s", text);
  EXPECT(fi_cancel(&ep->fid, &c1) == -FI_ENOENT, "a second fi_cancel finds nothing");
  recv_tag(fresh, sizeof fresh, kCancel, &c2);
  signal_peer(kCancelled);
  struct fi_cq_tagged_entry e = wait_ok(&c2);
  EXPECT(e.len == 12 && memcmp(fresh, "after cancel", 12) == 0, "the message fills the next receive");
  for (size_t i = 0; i < sizeof cancelled; ++i) EXPECT(cancelled[i] == 0x55, "the cancelled buffer stays untouched");
}

static void peer_leaves(void) {
  /* Rank 1 says goodbye and closes; rank 0 then finds it gone. */
  char gone_buf[8], rctx;
  wait_peer(kBye);
  recv_tag(gone_buf, sizeof gone_buf, kToGone, &rctx);
  int send_failed = 0, recv_failed = 0;
  const uint64_t deadline = now_ms() + 20000;
  char b = 0, sctx;
  while (!(send_failed && recv_failed)) {
    EXPECT(now_ms() < deadline, "rank 1 left but nothing failed within 20 s (send %d, receive %d)", send_failed,
           recv_failed);
    ssize_t r = fi_tsend(ep, &b, 1, NULL, 1, kToGone, &sctx);
    if (r != 0 && r != -FI_EAGAIN) {
      EXPECT(r == -FI_EHOSTUNREACH, "a send to a departed rank fails with FI_EHOSTUNREACH (got %s)",
             fi_strerror((int)-r));
      send_failed = 1;
    }
    struct fi_cq_tagged_entry e;
    struct fi_cq_err_entry err;
    for (;;) {
      ssize_t n = fi_cq_read(cq, &e, 1);
      if (n == -FI_EAGAIN) break;
      if (n == 1) {
        EXPECT(e.flags & FI_SEND, "a receive from the departed rank completed");
        continue;
      }
      EXPECT(n == -FI_EAVAIL && fi_cq_readerr(cq, &err, 0) == 1, "fi_cq_read");
      EXPECT(err.err == FI_EHOSTUNREACH, "FI_EHOSTUNREACH (got %s: %s)", fi_strerror(err.err),
             fi_cq_strerror(cq, err.prov_errno, err.err_data, NULL, 0));
      if (err.flags & FI_RECV) {
        EXPECT(err.op_context == &rctx, "the failed receive is the one posted for rank 1");
        recv_failed = 1;
      } else {
        send_failed = 1; /* a send, or messages reported lost after their sends completed */
      }
    }
  }
}

int main(int argc, char** argv) {
  struct fi_info* h = hints();
  struct fi_info* info = NULL;
  if (argc > 1 && strcmp(argv[1], "--outside") == 0) {
    const int r = fi_getinfo(FI_VERSION(1, 17), NULL, NULL, 0, h, &info);
    EXPECT(r == -FI_ENODATA, "outside a job fi_getinfo returns -FI_ENODATA (got %d)", r);
    printf("fi_errors: outside a job: ok\n");
    fi_freeinfo(h);
    return 0;
  }
  const char* rank = getenv("PBX_RANK");
  EXPECT(rank != NULL, "start me with pbxrun -N 2 -n 1");
  me = atoi(rank);
  EXPECT(fi_getinfo(FI_VERSION(1, 17), NULL, NULL, 0, h, &info) == 0, "fi_getinfo inside a job");
  struct fid_fabric* fabric;
  struct fid_domain* domain;
  EXPECT(fi_fabric(info->fabric_attr, &fabric, NULL) == 0, "fi_fabric");
  EXPECT(fi_domain(fabric, info, &domain, NULL) == 0, "fi_domain");
  struct fi_cq_attr cq_attr = {.format = FI_CQ_FORMAT_TAGGED};
  EXPECT(fi_cq_open(domain, &cq_attr, &cq, NULL) == 0, "fi_cq_open");
  struct fi_av_attr av_attr = {.type = FI_AV_TABLE};
  EXPECT(fi_av_open(domain, &av_attr, &av, NULL) == 0, "fi_av_open");
  EXPECT(fi_endpoint(domain, info, &ep, NULL) == 0, "fi_endpoint");
  EXPECT(fi_ep_bind(ep, &av->fid, 0) == 0 && fi_ep_bind(ep, &cq->fid, FI_TRANSMIT | FI_RECV) == 0, "fi_ep_bind");
  EXPECT(fi_enable(ep) == 0, "fi_enable");
  fi_addr_t a0, a1;
  EXPECT(fi_av_insertsvc(av, "0", NULL, &a0, 0, NULL) == 1 && fi_av_insertsvc(av, "1", NULL, &a1, 0, NULL) == 1 &&
             a0 == 0 && a1 == 1,
         "fi_av_insertsvc of ranks 0 and 1");

  unknown_address();
  if (me == 1) {
    expect_truncated(100, 40, kTrunc);
    expect_truncated(10000, 5000, kTruncLarge);
    cancel_receiver();
    signal_peer(kBye);
    /* Leaves below: the provider closes the postbox endpoint (final acknowledgements). */
    struct fi_cq_tagged_entry e;
    while (fi_cq_read(cq, &e, 1) == 1) {
    }
  } else {
    send_truncated(100, kTrunc);
    send_truncated(10000, kTruncLarge);
    wait_peer(kCancelled);
    send_tag("after cancel", 12, kCancel);
    peer_leaves();
    printf("fi_errors: ok\n");
  }
  EXPECT(fi_close(&ep->fid) == 0, "fi_close(ep)");
  fi_close(&av->fid);
  fi_close(&cq->fid);
  fi_close(&domain->fid);
  fi_close(&fabric->fid);
  fi_freeinfo(info);
  fi_freeinfo(h);
  return 0;
}
