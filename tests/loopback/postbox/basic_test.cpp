// Messages of every size class between endpoints of a loopback job.
#include <thread>

#include <gtest/gtest.h>

#include "support/loopback_job.h"

namespace pbx {
namespace {

using test::bytes;
using test::make_endpoints;
using test::make_job;
using test::pattern;

TEST(PostboxBasic, EverySizeClassArrivesIntactAndInOrder) {
  const JobShape shape{2, 1};
  Config cfg;
  cfg.pool_size = 4u << 20;
  cfg.cts = 256u << 10;
  auto job = make_job(shape, cfg);
  auto eps = make_endpoints(job, shape, cfg);
  ASSERT_EQ(eps.size(), 2u);
  Endpoint& a = eps[0];
  Endpoint& b = eps[1];
  // Inline, payload ring, pool (up to a piece: 16 KiB here), pieces within one CTS region and
  // pieces that reuse the region's slices.
  const size_t sizes[] = {0, 1, 8, 48, 49, 50, 64, 1000, 4096, 10000, 65536, 256u << 10, (256u << 10) + 1, 3u << 20};
  std::vector<std::byte> buf(4u << 20);
  uint64_t i = 0;
  for (size_t sz : sizes) {
    auto msg = pattern(sz, 0, i);
    if (sz <= cfg.cts) {
      ASSERT_TRUE(a.send(Rank{1, 0}, bytes(msg), static_cast<uint32_t>(i))) << sz;
      auto got = b.recv(buf);
      ASSERT_TRUE(got) << got.error().message();
      EXPECT_EQ(got->size, sz);
      EXPECT_EQ(got->tag, i);
      EXPECT_EQ(got->source, (Rank{0, 0}));
      EXPECT_TRUE(std::equal(msg.begin(), msg.end(), buf.begin())) << sz;
    } else {
      // Above the CTS: the sender needs the receiver's acks while it sends, so it runs in
      // its own thread (each endpoint is still used by one thread at a time).
      std::thread sender([&] { EXPECT_TRUE(a.send(Rank{1, 0}, bytes(msg), static_cast<uint32_t>(i))); });
      auto got = b.recv(buf);
      sender.join();
      ASSERT_TRUE(got) << got.error().message();
      EXPECT_EQ(got->size, sz);
      EXPECT_TRUE(std::equal(msg.begin(), msg.end(), buf.begin())) << sz;
    }
    ++i;
  }
  EXPECT_GT(a.stats().tx_inline, 0u);
  EXPECT_GT(a.stats().tx_pool, 0u);
  EXPECT_GT(a.stats().tx_pieces, 0u);
  EXPECT_TRUE(b.close());
  EXPECT_TRUE(a.close());
}

}  // namespace
}  // namespace pbx
