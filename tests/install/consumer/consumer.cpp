#include <cstdio>

#include <pbx/postbox.hpp>

int main() {
  pbx::Config cfg;
  auto ok = cfg.validate();
  auto ep = pbx::Endpoint::from_env(cfg);  // not under pbxrun: a clear error
  std::printf("config %s; endpoint: %s\n", ok ? "valid" : "invalid", ep ? "ok" : ep.error().message().c_str());
  return ok && !ep ? 0 : 1;
}
