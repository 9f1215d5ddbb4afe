/* pbx-example-ring-c: the ring example through the C API.
 *
 *   pbxrun -N 2 -n 2 -- pbx-example-ring-c
 */
#include <stdio.h>
#include <string.h>

#include "pbx/postbox.h"

int main(void) {
  pbx_endpoint* ep;
  if (pbx_endpoint_from_env(NULL, &ep) != PBX_OK) {
    fprintf(stderr, "pbx-example-ring-c: %s\n", pbx_last_error(NULL));
    return 1;
  }
  const uint32_t size = pbx_job_nodes(ep) * pbx_job_procs_per_node(ep);
  const uint32_t me = pbx_flat_rank(ep, pbx_self(ep));
  const pbx_rank next = pbx_rank_of(ep, (me + 1) % size);      /* processes by flat rank */
  const pbx_rank prev = pbx_rank_of(ep, (me + size - 1) % size);

  char msg[64];
  snprintf(msg, sizeof msg, "hello from rank %u", me);
  int rc = pbx_send(ep, next, msg, strlen(msg), 1);
  if (rc != PBX_OK) {
    fprintf(stderr, "rank %u: send: %s (%s)\n", me, pbx_last_error(ep), pbx_strerror(rc));
    return 1;
  }
  char buf[64];
  pbx_recv_info info;
  rc = pbx_recv(ep, prev, buf, sizeof buf, &info);
  if (rc != PBX_OK) {
    fprintf(stderr, "rank %u: recv: %s\n", me, pbx_last_error(ep));
    return 1;
  }
  printf("rank %u got \"%.*s\" from (%u, %u)\n", me, (int)info.size, buf, info.source.node, info.source.local);
  /* A receive with a buffer too small leaves nothing behind: here there is nothing at all. */
  rc = pbx_try_recv(ep, PBX_ANY_SOURCE, buf, sizeof buf, &info);
  if (rc != PBX_EAGAIN) {
    fprintf(stderr, "rank %u: expected would_block, got %s\n", me, pbx_strerror(rc));
    return 1;
  }
  return pbx_endpoint_destroy(ep) == PBX_OK ? 0 : 1;
}
