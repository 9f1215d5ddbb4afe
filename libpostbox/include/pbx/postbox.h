/* postbox: kernel-bypass messages between processes on NTB-linked nodes (C API).
 *
 *   pbx_endpoint* ep;
 *   if (pbx_endpoint_from_env(NULL, &ep) != 0) { fprintf(stderr, "%s\n", pbx_last_error(NULL)); return 1; }
 *   pbx_rank peer = {1, 0};
 *   pbx_send(ep, peer, "hi", 2, 7);
 *   char buf[64]; pbx_recv_info info;
 *   pbx_recv(ep, PBX_ANY_SOURCE, buf, sizeof buf, &info);
 *   pbx_endpoint_destroy(ep);
 *
 * Every call returns 0 on success or a negative PBX_E* code; pbx_last_error() gives the
 * message of the calling thread's last failure ("what failed, why, what to do"). The same
 * semantics as the C++ API in pbx/postbox.hpp. An endpoint is used by one thread at a time.
 */
#ifndef PBX_POSTBOX_H
#define PBX_POSTBOX_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define PBX_C_API __attribute__((visibility("default")))
#else
#define PBX_C_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum {
  PBX_OK = 0,
  PBX_EINVAL = -1,        /* bad argument, option, rank or size */
  PBX_ETOOBIG = -2,       /* message above max_message */
  PBX_ENOSPACE = -3,      /* receive buffer too small: the message stays pending */
  PBX_EAGAIN = -4,        /* would block: retry */
  PBX_ETIMEDOUT = -5,
  PBX_ENOTUP = -6,        /* a peer never came up */
  PBX_EGONE = -7,         /* a peer left or died */
  PBX_ELINKDOWN = -8,
  PBX_EPROTO = -9,        /* a peer wrote garbage into shared memory */
  PBX_EMISMATCH = -10,    /* peers use different configurations */
  PBX_ENODEV = -11,
  PBX_EPERM = -12,
  PBX_ENOMEM = -13,
  PBX_ENOTSUP = -14,
  PBX_EBUSY = -15,
  PBX_EIO = -16,
  PBX_ECANCELED = -17,
  PBX_ECORRUPT = -18      /* a message failed its checksum: that message was dropped */
};

typedef struct pbx_endpoint pbx_endpoint;

typedef struct pbx_rank {
  uint16_t node;
  uint16_t local;
} pbx_rank;

#define PBX_ANY_SOURCE ((pbx_rank){0xffff, 0xffff})

typedef struct pbx_recv_info {
  pbx_rank source;
  uint32_t tag;
  size_t size;
} pbx_recv_info;

/* Sizes of the protocol; see pbx::Config. Initialise with pbx_config_init(). */
typedef struct pbx_config {
  uint32_t postbox_slots;
  uint64_t pool_size;
  uint32_t block_size;
  uint64_t cts;
  uint32_t cts_slices;
  uint32_t inline_max;
  uint64_t max_message;
  uint32_t ack_batch;
  uint32_t timeout_ms;
  uint32_t max_pending_sends;
} pbx_config;

PBX_C_API void pbx_config_init(pbx_config* cfg);

/* Joins the job described by pbxrun's environment. cfg may be NULL (defaults). */
PBX_C_API int pbx_endpoint_from_env(const pbx_config* cfg, pbx_endpoint** out);
/* Closes (final acks, waits for outstanding messages) and frees. Returns close()'s result. */
PBX_C_API int pbx_endpoint_destroy(pbx_endpoint* ep);

PBX_C_API pbx_rank pbx_self(const pbx_endpoint* ep);
/* Flat ranks: node * procs_per_node + local. pbx_rank_of(ep, flat) for flat < nodes * procs. */
PBX_C_API uint32_t pbx_flat_rank(const pbx_endpoint* ep, pbx_rank r);
PBX_C_API pbx_rank pbx_rank_of(const pbx_endpoint* ep, uint32_t flat_rank);
PBX_C_API uint32_t pbx_job_nodes(const pbx_endpoint* ep);
PBX_C_API uint32_t pbx_job_procs_per_node(const pbx_endpoint* ep);

PBX_C_API int pbx_send(pbx_endpoint* ep, pbx_rank dst, const void* buf, size_t len, uint32_t tag);
PBX_C_API int pbx_try_send(pbx_endpoint* ep, pbx_rank dst, const void* buf, size_t len, uint32_t tag);
PBX_C_API int pbx_recv(pbx_endpoint* ep, pbx_rank src, void* buf, size_t cap, pbx_recv_info* info);
PBX_C_API int pbx_try_recv(pbx_endpoint* ep, pbx_rank src, void* buf, size_t cap, pbx_recv_info* info);
PBX_C_API int pbx_probe(pbx_endpoint* ep, pbx_rank src, pbx_recv_info* info);
/* Returns how much work was done (>= 0). */
PBX_C_API int pbx_progress(pbx_endpoint* ep);

/* Message of the calling thread's last failed call ("" if none). */
PBX_C_API const char* pbx_last_error(const pbx_endpoint* ep);
/* Short name of a code ("would_block"). */
PBX_C_API const char* pbx_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* PBX_POSTBOX_H */
