// pbx-example-ring: every process sends a greeting to the next rank and receives one from the
// previous, then passes a token around the ring a few times. The C++ API in 40 lines.
//
//   pbxrun -N 2 -n 2 -- pbx-example-ring
#include <cstdio>
#include <string>

#include "pbx/postbox.hpp"

int main() {
  auto ep = pbx::Endpoint::from_env();
  if (!ep) {
    std::fprintf(stderr, "pbx-example-ring: %s\n", ep.error().message().c_str());
    return 1;
  }
  const uint32_t size = ep->shape().size(), me = ep->rank();
  const pbx::Rank next = ep->shape().rank_of((me + 1) % size);
  const pbx::Rank prev = ep->shape().rank_of((me + size - 1) % size);

  const std::string hello = "hello from rank " + std::to_string(me);
  if (auto r = ep->send(next, std::as_bytes(std::span(hello)), /*tag=*/1); !r) {
    std::fprintf(stderr, "rank %u: send: %s\n", me, r.error().message().c_str());
    return 1;
  }
  char buf[256];
  auto got = ep->recv(std::as_writable_bytes(std::span(buf)), prev);
  if (!got) {
    std::fprintf(stderr, "rank %u: recv: %s\n", me, got.error().message().c_str());
    return 1;
  }
  std::printf("rank %u got \"%.*s\" (tag %u)\n", me, static_cast<int>(got->size), buf, got->tag);

  // A token goes around the ring three times; rank 0 starts it and checks it at the end.
  uint64_t token = 0;
  for (int lap = 0; lap < 3; ++lap) {
    if (me != 0) {
      if (!ep->recv(std::as_writable_bytes(std::span(&token, 1)), prev)) return 1;
    }
    ++token;
    if (!ep->send(next, std::as_bytes(std::span(&token, 1)), 2)) return 1;
    if (me == 0 && !ep->recv(std::as_writable_bytes(std::span(&token, 1)), prev)) return 1;
  }
  if (me == 0) std::printf("token after 3 laps: %llu (expected %u)\n", static_cast<unsigned long long>(token), 3 * size);
  if (auto c = ep->close(); !c) {
    std::fprintf(stderr, "rank %u: %s\n", me, c.error().message().c_str());
    return 1;
  }
  return (me == 0 && token != 3ull * size) ? 1 : 0;
}
