#include <stdio.h>

#include <pbx/postbox.h>

int main(void) {
  pbx_config cfg;
  pbx_config_init(&cfg);
  pbx_endpoint* ep = NULL;
  const int rc = pbx_endpoint_from_env(&cfg, &ep);
  printf("%s: %s\n", pbx_strerror(rc), pbx_last_error(NULL));
  return rc == PBX_EINVAL ? 0 : 1;
}
