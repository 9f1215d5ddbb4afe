/* pbx-fi-bench: the libfabric side of pbx-fi-perf. Two processes, one provider (postbox, shm,
 * ...), tagged messages over an FI_EP_RDM endpoint, measured as pbx-perf measures postbox:
 *   lat SIZE  ping-pong; a sample is one round trip / 2
 *   bw SIZE   WINDOW messages, then an 8-byte reply; a sample is the loop's time / WINDOW
 * Messages up to the provider's inject size go with fi_tinject (as MPI libraries send them),
 * larger ones with fi_tsend. For every test, rank 0 prints one line:
 *   RESULT <test> <size> <median_ns> <p99_ns>
 *
 * usage: pbx-fi-bench PROVIDER RANK SOCKET ITERS WINDOW TEST:SIZE...
 *   RANK 0 listens on the Unix socket SOCKET, rank 1 connects; they swap fi_getname addresses.
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
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench_samples.h"

static struct fid_ep* ep;
static struct fid_cq* cq;
static fi_addr_t peer;
static size_t inject_size;
static int rank;

static void die(const char* what, long rc) {
  fprintf(stderr, "pbx-fi-bench: rank %d: %s: %s\n", rank, what, rc < 0 ? fi_strerror((int)-rc) : "failed");
  exit(1);
}

/* Waits for `n` completions. */
static void wait_cq(int n) {
  struct fi_cq_tagged_entry e[16];
  while (n > 0) {
    ssize_t r = fi_cq_read(cq, e, n < 16 ? (size_t)n : 16);
    if (r > 0) {
      n -= (int)r;
    } else if (r == -FI_EAVAIL) {
      struct fi_cq_err_entry err = {0};
      fi_cq_readerr(cq, &err, 0);
      die(fi_cq_strerror(cq, err.prov_errno, err.err_data, NULL, 0), -err.err);
    } else if (r != -FI_EAGAIN) {
      die("fi_cq_read", r);
    }
  }
}

/* Sends one message; returns the completions it will produce (0 for an inject). */
static int post_send(const void* buf, size_t size, uint64_t tag) {
  for (;;) {
    ssize_t r = size <= inject_size ? fi_tinject(ep, buf, size, peer, tag) : fi_tsend(ep, buf, size, NULL, peer, tag, NULL);
    if (r == 0) return size <= inject_size ? 0 : 1;
    if (r != -FI_EAGAIN) die("send", r);
    struct fi_cq_tagged_entry e;
    (void)fi_cq_read(cq, &e, 0);  /* progress */
  }
}

static void post_recv(void* buf, size_t size, uint64_t tag) {
  ssize_t r;
  while ((r = fi_trecv(ep, buf, size, NULL, peer, tag, 0, NULL)) == -FI_EAGAIN) {
    struct fi_cq_tagged_entry e;
    (void)fi_cq_read(cq, &e, 0);
  }
  if (r != 0) die("fi_trecv", r);
}

static void exchange_addresses(const char* path, struct fid_av* av) {
  char name[256];
  size_t len = sizeof name;
  long rc = fi_getname(&ep->fid, name, &len);
  if (rc) die("fi_getname", rc);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int conn = fd;
  if (rank == 0) {
    unlink(path);
    if (bind(fd, (struct sockaddr*)&sa, sizeof sa) || listen(fd, 1)) die("bind/listen on the address socket", 0);
    conn = accept(fd, NULL, NULL);
  } else {
    /* The listener appears when rank 0 gets there: a condition with a deadline, not a delay. */
    for (int i = 0; connect(fd, (struct sockaddr*)&sa, sizeof sa) != 0; ++i) {
      if (i == 30000) die("connect to the address socket", 0);
      usleep(1000);
    }
  }
  char other[256];
  if (write(conn, &len, sizeof len) != sizeof len || write(conn, name, len) != (ssize_t)len) die("write address", 0);
  size_t olen = 0;
  if (read(conn, &olen, sizeof olen) != sizeof olen || olen > sizeof other || read(conn, other, olen) != (ssize_t)olen)
    die("read address", 0);
  if (fi_av_insert(av, other, 1, &peer, 0, NULL) != 1) die("fi_av_insert", 0);
  close(conn);
  if (conn != fd) close(fd);
  if (rank == 0) unlink(path);
}

static void run(const char* test, size_t size, int iters, int window, char* sbuf, char* rbuf) {
  const int lat = strcmp(test, "lat") == 0;
  const int warm = iters / 10 + 1;
  double* v = malloc(sizeof(double) * (size_t)iters);
  for (int i = 0; i < warm + iters; ++i) {
    const double t0 = bench_now_ns();
    if (lat) {
      if (rank == 0) {
        post_recv(rbuf, size, 1);
        wait_cq(1 + post_send(sbuf, size, 1));
      } else {
        post_recv(rbuf, size, 1);
        wait_cq(1);
        wait_cq(post_send(sbuf, size, 1));
      }
    } else if (rank == 0) {
      post_recv(rbuf, 8, 3);
      int pending = 1;
      for (int w = 0; w < window; ++w) pending += post_send(sbuf, size, 2);
      wait_cq(pending);
    } else {
      for (int w = 0; w < window; ++w) post_recv(rbuf + (size_t)w * size, size, 2);
      wait_cq(window);
      wait_cq(post_send(sbuf, 8, 3));
    }
    if (i >= warm) v[i - warm] = (bench_now_ns() - t0) / (lat ? 2.0 : (double)window);
  }
  if (rank == 0) {
    double median, p99;
    bench_median_p99(v, (size_t)iters, &median, &p99);
    printf("RESULT %s %zu %.1f %.1f\n", test, size, median, p99);
    fflush(stdout);
  }
  free(v);
}

int main(int argc, char** argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: pbx-fi-bench PROVIDER RANK SOCKET ITERS WINDOW TEST:SIZE...\n");
    return 2;
  }
  rank = atoi(argv[2]);
  const int iters = atoi(argv[4]), window = atoi(argv[5]);
  struct fi_info* hints = fi_allocinfo();
  hints->caps = FI_TAGGED;
  hints->ep_attr->type = FI_EP_RDM;
  hints->mode = FI_CONTEXT | FI_CONTEXT2;
  hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
  hints->domain_attr->threading = FI_THREAD_DOMAIN;
  hints->fabric_attr->prov_name = strdup(argv[1]);
  struct fi_info* info;
  long rc = fi_getinfo(FI_VERSION(1, 17), NULL, NULL, 0, hints, &info);
  if (rc) die("fi_getinfo", rc);
  if (info->domain_attr->mr_mode & FI_MR_LOCAL) die("the provider needs registered buffers (FI_MR_LOCAL)", 0);
  inject_size = info->tx_attr->inject_size;
  struct fid_fabric* fabric;
  struct fid_domain* domain;
  struct fid_av* av;
  if ((rc = fi_fabric(info->fabric_attr, &fabric, NULL))) die("fi_fabric", rc);
  if ((rc = fi_domain(fabric, info, &domain, NULL))) die("fi_domain", rc);
  struct fi_cq_attr cq_attr = {.format = FI_CQ_FORMAT_TAGGED, .size = 1024};
  if ((rc = fi_cq_open(domain, &cq_attr, &cq, NULL))) die("fi_cq_open", rc);
  struct fi_av_attr av_attr = {.type = FI_AV_TABLE};
  if ((rc = fi_av_open(domain, &av_attr, &av, NULL))) die("fi_av_open", rc);
  if ((rc = fi_endpoint(domain, info, &ep, NULL))) die("fi_endpoint", rc);
  if ((rc = fi_ep_bind(ep, &av->fid, 0)) || (rc = fi_ep_bind(ep, &cq->fid, FI_TRANSMIT | FI_RECV))) die("fi_ep_bind", rc);
  if ((rc = fi_enable(ep))) die("fi_enable", rc);
  exchange_addresses(argv[3], av);

  size_t max = 8;
  for (int a = 6; a < argc; ++a) {
    const char* colon = strchr(argv[a], ':');
    if (colon != NULL && strtoull(colon + 1, NULL, 10) > max) max = strtoull(colon + 1, NULL, 10);
  }
  char* sbuf = malloc(max);
  char* rbuf = malloc(max * (size_t)window);
  memset(sbuf, 0x5a, max);
  memset(rbuf, 0, max * (size_t)window);
  for (int a = 6; a < argc; ++a) {
    char test[8] = {0};
    size_t size = 0;
    if (sscanf(argv[a], "%7[a-z]:%zu", test, &size) != 2) die("TEST:SIZE", 0);
    const int n = size >= (1 << 20) ? iters / 20 + 10 : size >= (64 << 10) ? iters / 4 + 10 : iters;
    run(test, size, n, window, sbuf, rbuf);
  }
  fi_close(&ep->fid);
  fi_close(&av->fid);
  fi_close(&cq->fid);
  fi_close(&domain->fid);
  fi_close(&fabric->fid);
  fi_freeinfo(info);
  fi_freeinfo(hints);
  free(sbuf);
  free(rbuf);
  return 0;
}
