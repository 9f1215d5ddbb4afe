// A peer that closes and whose device then takes the link down (what every device backend does
// when a process closes it: ivshmem, Intel, AMD, Switchtec): the final acknowledgements it wrote
// before count, so that a sender that sees the link go down and the peer gone afterwards does
// not report messages the peer received as lost.
#include <gtest/gtest.h>

#include "pbx/base/barrier.h"
#include "pbx/hal/loopback.h"
#include "support/loopback_job.h"

namespace pbx {
namespace {

TEST(Close, FinalAcksWrittenBeforeTheLinkWentDownCount) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.postbox_slots = 64;  // acks every 16 messages: the last few are acknowledged only by close()
  auto job = test::make_job(shape, cfg);
  auto eps = test::make_endpoints(job, shape, cfg);
  ASSERT_EQ(eps.size(), 2u);
  Endpoint& receiver = eps[0];
  Endpoint& sender = eps[1];
  constexpr uint32_t kCount = 20;
  for (uint32_t i = 0; i < kCount; ++i) {
    const auto msg = test::pattern(100, 1, i);
    ASSERT_TRUE(sender.send(receiver.self(), test::bytes(msg), i));
  }
  std::vector<std::byte> buf(4096);
  for (uint32_t i = 0; i < kCount; ++i) {
    auto g = receiver.recv(buf, sender.self());
    ASSERT_TRUE(g) << g.error().message();
    ASSERT_EQ(g->tag, i);
  }
  ASSERT_TRUE(receiver.close());  // final acks, then "gone"
  // Its device closes: the link goes down. The sender sees the outage, then the peer gone.
  ASSERT_TRUE(hal::LoopbackJob::set_link(job.spec().name, hal::NodeIdx(0), hal::NodeIdx(1), false));
  const uint64_t deadline = now_ns() + 20'000'000'000ull;  // (peers are looked at every peer_timeout_ms / 8)
  while (sender.stats().peers_gone == 0 && now_ns() < deadline) sender.progress();
  ASSERT_EQ(sender.stats().peers_gone, 1u);
  EXPECT_GE(sender.stats().link_down_events, 1u);
  const auto lost = sender.take_lost();
  EXPECT_FALSE(lost.has_value()) << lost->count << " message(s) reported lost, from number " << lost->first;
  EXPECT_TRUE(sender.close());
}

}  // namespace
}  // namespace pbx
