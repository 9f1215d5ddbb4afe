// pbx-fi-api-bench: postbox's own API, the reference of pbx-fi-perf. Two processes of a
// pbxrun job, the same tests as pbx-fi-bench, with pbx::Endpoint's send and recv:
//   lat SIZE  ping-pong; a sample is one round trip / 2
//   bw SIZE   WINDOW messages, then an 8-byte reply; a sample is the loop's time / WINDOW
// For every test, rank 0 prints one line: RESULT <test> <size> <median_ns> <p99_ns>
//
// usage: pbxrun -N 2 -n 1 -- pbx-fi-api-bench ITERS WINDOW TEST:SIZE...
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "pbx/postbox.hpp"

namespace {

double now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

template <class R>
void check(const R& r, const char* what) {
  if (!r) {
    std::fprintf(stderr, "pbx-fi-api-bench: %s: %s\n", what, r.error().message().c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: pbxrun -N 2 -n 1 -- pbx-fi-api-bench ITERS WINDOW TEST:SIZE...\n");
    return 2;
  }
  const int iters = std::atoi(argv[1]), window = std::atoi(argv[2]);
  auto ep = pbx::Endpoint::from_env();
  check(ep, "join");
  const uint32_t me = ep->rank();
  const pbx::Rank peer = ep->shape().rank_of(1 - me);
  size_t max = 8;
  for (int a = 3; a < argc; ++a)
    if (const char* colon = std::strchr(argv[a], ':')) max = std::max<size_t>(max, std::strtoull(colon + 1, nullptr, 10));
  std::vector<std::byte> sbuf(max, std::byte{0x5a}), rbuf(max);
  for (int a = 3; a < argc; ++a) {
    char test[8] = {};
    size_t size = 0;
    if (std::sscanf(argv[a], "%7[a-z]:%zu", test, &size) != 2) return 2;
    const bool lat = std::strcmp(test, "lat") == 0;
    const int n = size >= (1u << 20) ? iters / 20 + 10 : size >= (64u << 10) ? iters / 4 + 10 : iters;
    const int warm = n / 10 + 1;
    std::vector<double> v(static_cast<size_t>(n));
    const std::span<const std::byte> msg(sbuf.data(), size), ack(sbuf.data(), 8);
    for (int i = 0; i < warm + n; ++i) {
      const double t0 = now_ns();
      if (lat) {
        if (me == 0) {
          check(ep->send(peer, msg, 1), "send");
          check(ep->recv(std::span(rbuf.data(), size), peer), "recv");
        } else {
          check(ep->recv(std::span(rbuf.data(), size), peer), "recv");
          check(ep->send(peer, msg, 1), "send");
        }
      } else if (me == 0) {
        for (int w = 0; w < window; ++w) check(ep->send(peer, msg, 2), "send");
        check(ep->recv(std::span(rbuf.data(), 8), peer), "recv");
      } else {
        for (int w = 0; w < window; ++w) check(ep->recv(std::span(rbuf.data(), size), peer), "recv");
        check(ep->send(peer, ack, 3), "send");
      }
      if (i >= warm) v[static_cast<size_t>(i - warm)] = (now_ns() - t0) / (lat ? 2.0 : window);
    }
    if (me == 0) {
      std::sort(v.begin(), v.end());
      std::printf("RESULT %s %zu %.1f %.1f\n", test, size, v[v.size() / 2], v[static_cast<size_t>(v.size() * 0.99)]);
      std::fflush(stdout);
    }
  }
  check(ep->close(), "close");
  return 0;
}
