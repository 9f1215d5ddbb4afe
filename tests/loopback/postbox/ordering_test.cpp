// What loopback memory cannot show (x86 orders stores; shared memory reads are cheap), the
// recording window does: the data path never reads a remote window, and no indicator is
// stored without a flush after the payload it publishes (DESIGN.md, physics).
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "endpoint_impl.h"
#include "support/loopback_job.h"
#include "support/recorder.h"

namespace pbx {
namespace {

using detail::impl_of;
using test::bytes;
using test::pattern;

// Every size class with `cfg` (inline, payload ring, pool, pieces), half of them borrowed in
// place; then what each side stored, flushed and read.
void exchange_every_size_class(Config cfg, const std::vector<size_t>& sizes) {
  const JobShape shape{2, 1};
  cfg.cts = 64u << 10;
  cfg.postbox_slots = 16;
  cfg.ack_batch = 2;
  auto job = test::make_job(shape, cfg);
  test::EventLog tx, rx;
  auto eps = test::make_endpoints(job, shape, cfg);
  impl_of(eps[0]).set_recorder(&tx);
  impl_of(eps[1]).set_recorder(&rx);
  std::thread sender([&] {
    for (int round = 0; round < 4; ++round)
      for (size_t s : sizes) EXPECT_TRUE(eps[0].send(Rank{1, 0}, bytes(pattern(s, 0, round))));
  });
  std::vector<std::byte> b(2u << 20);
  for (int round = 0; round < 4; ++round)
    for (size_t s : sizes) {
      if (s <= cfg.cts && round % 2 == 1) {  // half of them borrowed in place
        auto v = eps[1].recv_view();
        ASSERT_TRUE(v);
        EXPECT_EQ(v->size(), s);
      } else {
        auto g = eps[1].recv(b);
        ASSERT_TRUE(g);
        EXPECT_EQ(g->size, s);
      }
    }
  sender.join();
  for (int i = 0; i < 10; ++i) eps[1].progress();  // idle acknowledgements
  // Both sides wrote plenty...
  EXPECT_GT(tx.count(test::Access::kStore, hal::StoreKind::kPayload, false), 0u);
  EXPECT_GT(tx.count(test::Access::kStore, hal::StoreKind::kIndicator, false), 0u);
  EXPECT_GT(tx.count(test::Access::kStore, hal::StoreKind::kSelfValidating, false), 0u);
  EXPECT_GT(rx.count(test::Access::kStore, hal::StoreKind::kSelfValidating, false), 0u);  // acks
  // ...and neither read anything across the link.
  EXPECT_EQ(tx.count(test::Access::kRead), 0u);
  EXPECT_EQ(rx.count(test::Access::kRead), 0u);
  EXPECT_EQ(tx.first_unflushed_indicator(), "");
  // Closing reads one word back per window, on purpose ("every posted write has landed").
  test::close_all(eps);
  EXPECT_GT(tx.count(test::Access::kRead), 0u);
}

TEST(Ordering, NoRemoteReadOnTheDataPathAndNoIndicatorWithoutAFlushAfterItsPayload) {
  exchange_every_size_class(Config{}, {0, 8, 49, 50, 1000, 4096, 65536, (1u << 20) + 3});
}

// Inline messages over several lines (each line self-validating, no flush needed) and the
// ring right above them: still no remote read, still no indicator without its flush.
TEST(Ordering, MultiLineInlineMessagesKeepBothRules) {
  Config cfg;
  cfg.inline_max = 441;
  exchange_every_size_class(cfg, {0, 49, 50, 105, 106, 300, 441, 442, 4096, 65537});
}

TEST(Ordering, TheRecorderCatchesAMissingFlush) {
  // The check above must be able to fail: an indicator right after a payload is reported.
  test::EventLog log;
  log.on_store(4096, 100, hal::StoreKind::kPayload);
  log.on_store(64, 64, hal::StoreKind::kIndicator);
  EXPECT_NE(log.first_unflushed_indicator(), "");
  log.clear();
  log.on_store(4096, 100, hal::StoreKind::kPayload);
  log.on_flush();
  log.on_store(64, 64, hal::StoreKind::kIndicator);
  EXPECT_EQ(log.first_unflushed_indicator(), "");
}

}  // namespace
}  // namespace pbx
