// OutboundWindow / InboundWindow: the recorder sees every access, subwindows keep offsets.
#include "pbx/hal/window.h"

#include <algorithm>
#include <vector>

#include <gtest/gtest.h>

namespace pbx::hal {
namespace {

struct Log final : AccessRecorder {
  std::vector<std::string> ev;
  void on_store(size_t off, size_t len, StoreKind k) override {
    ev.push_back("store " + std::to_string(off) + "+" + std::to_string(len) + " k" +
                 std::to_string(static_cast<int>(k)));
  }
  void on_flush() override { ev.push_back("flush"); }
  void on_read(size_t off, size_t len) override {
    ev.push_back("read " + std::to_string(off) + "+" + std::to_string(len));
  }
};

TEST(Window, RecorderSeesStoresFlushesAndRemoteReadsWithParentOffsets) {
  alignas(64) std::byte mem[4096] = {};
  OutboundWindow w(mem, sizeof mem, MemType::kWriteCombining);
  Log log;
  w.set_recorder(&log);
  auto sub = w.subwindow(1024, 1024);
  const char data[16] = "payload";
  sub.write(64, data, sizeof data);
  sub.flush();
  sub.store64_release(128, 5, StoreKind::kIndicator);
  EXPECT_EQ(sub.read64_slow(128), 5u);
  sub.push();  // WC mapping: push() flushes
  EXPECT_EQ(log.ev, (std::vector<std::string>{"store 1088+16 k0", "flush", "store 1152+8 k1", "read 1152+8",
                                              "flush"}));
  InboundWindow in(mem, sizeof mem);
  EXPECT_EQ(in.subwindow(1024, 1024).load64_acquire(128), 5u);
}

TEST(Window, PushIsFreeOnWriteBackMemory) {
  alignas(64) std::byte mem[128] = {};
  OutboundWindow w(mem, sizeof mem, MemType::kWriteBack);
  Log log;
  w.set_recorder(&log);
  w.push();
  EXPECT_TRUE(log.ev.empty());
}

// bulk_copy (behind OutboundWindow::write and InboundWindow::read for large copies) writes
// exactly [dst, dst + n), whatever the sizes and the alignments of both ends.
TEST(Window, BulkCopyWritesExactlyTheRangeAtEveryAlignment) {
  constexpr size_t kMax = 3 * 1024 + 7;
  std::vector<std::byte> src(kMax + 64), dst(kMax + 128);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<std::byte>(i * 7 + 1);
  for (size_t n : {kBulkCopyMin, kBulkCopyMin + 1, size_t{1000}, size_t{1024}, size_t{2047}, kMax}) {
    for (size_t so : {0, 1, 8, 31, 33}) {
      for (size_t doff : {0, 1, 16, 32, 63}) {
        std::fill(dst.begin(), dst.end(), std::byte{0xEE});
        bulk_copy(dst.data() + 32 + doff, src.data() + so, n);
        for (size_t i = 0; i < dst.size(); ++i) {
          const bool inside = i >= 32 + doff && i < 32 + doff + n;
          const std::byte want = inside ? src[so + i - 32 - doff] : std::byte{0xEE};
          ASSERT_EQ(dst[i], want) << "n=" << n << " src+" << so << " dst+" << doff << " byte " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace pbx::hal
