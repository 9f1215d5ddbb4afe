// OutboundWindow / InboundWindow: the recorder sees every access, subwindows keep offsets.
#include "pbx/hal/window.h"

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

}  // namespace
}  // namespace pbx::hal
