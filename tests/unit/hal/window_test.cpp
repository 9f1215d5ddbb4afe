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

// Every copy variant this CPU runs, with and without streaming stores, writes exactly
// [dst, dst + n) with the source's bytes, whatever the sizes and the alignments of both ends
// (sizes around each variant's head, body and tail steps, up to past 4 KiB).
struct VariantCase {
  CopyVariant variant;
  bool streaming;
};

class CopyVariants : public ::testing::TestWithParam<VariantCase> {};

TEST_P(CopyVariants, WriteExactlyTheRangeAtEveryAlignment) {
  const VariantCase vc = GetParam();
  if (!copy_supported(vc.variant))
    GTEST_SKIP() << to_string(vc.variant) << " is not supported by this CPU (or by this build)";
  constexpr size_t kMax = 4 * 1024 + 129;
  std::vector<std::byte> src(kMax + 64), dst(kMax + 192);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<std::byte>(i * 7 + 1);
  for (size_t n : {kBulkCopyMin, kBulkCopyMin + 1, size_t{575}, size_t{639}, size_t{1000}, size_t{1024},
                   size_t{2047}, size_t{4096}, kMax}) {
    for (size_t so = 0; so < 64; so += (so < 8 ? 1 : 9)) {
      for (size_t doff = 0; doff < 64; doff += (doff < 8 ? 1 : 7)) {
        std::fill(dst.begin(), dst.end(), std::byte{0xEE});
        copy_with(vc.variant, vc.streaming, dst.data() + 64 + doff, src.data() + so, n);
        for (size_t i = 0; i < dst.size(); ++i) {
          const bool inside = i >= 64 + doff && i < 64 + doff + n;
          const std::byte want = inside ? src[so + i - 64 - doff] : std::byte{0xEE};
          ASSERT_EQ(dst[i], want) << to_string(vc.variant) << (vc.streaming ? " streaming" : "") << " n=" << n
                                  << " src+" << so << " dst+" << doff << " byte " << i;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryVariant, CopyVariants,
                         ::testing::Values(VariantCase{CopyVariant::kAvx512, false},
                                           VariantCase{CopyVariant::kAvx512, true},
                                           VariantCase{CopyVariant::kAvx2, false}, VariantCase{CopyVariant::kAvx2, true},
                                           VariantCase{CopyVariant::kSse2, false}, VariantCase{CopyVariant::kSse2, true},
                                           VariantCase{CopyVariant::kMovsb, false},
                                           VariantCase{CopyVariant::kPortable, false}),
                         [](const ::testing::TestParamInfo<VariantCase>& p) {
                           return std::string(to_string(p.param.variant)) + (p.param.streaming ? "_nt" : "");
                         });

// bulk_copy() (behind OutboundWindow::write and InboundWindow::read for large copies) runs the
// current choice: streaming stores from nt_min bytes on.
TEST(Copy, BulkCopyFollowsTheChoiceAndItsStreamingThreshold) {
  const CopyChoice saved = copy_choice();
  std::vector<std::byte> src(8192), dst(8192);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<std::byte>(i * 13 + 5);
  for (CopyVariant v : {CopyVariant::kAvx512, CopyVariant::kAvx2, CopyVariant::kSse2, CopyVariant::kMovsb,
                        CopyVariant::kPortable}) {
    if (!copy_supported(v)) continue;
    set_copy_choice(CopyChoice{v, 4096, ""});
    for (size_t n : {size_t{600}, size_t{4096}, size_t{8000}}) {
      std::fill(dst.begin(), dst.end(), std::byte{0});
      bulk_copy(dst.data() + 3, src.data(), n);
      EXPECT_TRUE(std::equal(src.begin(), src.begin() + static_cast<long>(n), dst.begin() + 3)) << to_string(v) << n;
      EXPECT_EQ(dst[3 + n], std::byte{0});
    }
  }
  set_copy_choice(saved);
}

// The setting: PBX_COPY forces a variant, an unsupported or unknown one falls back to the
// default with a note that names it, PBX_COPY_NT_MIN sets the streaming threshold.
TEST(Copy, TheSettingForcesAVariantOrSaysWhyNot) {
  ::setenv("PBX_COPY", "sse2", 1);
  ::setenv("PBX_COPY_NT_MIN", "65536", 1);
  CopyChoice c = copy_choice_from_env();
  if (copy_supported(CopyVariant::kSse2)) {
    EXPECT_EQ(c.variant, CopyVariant::kSse2);
    EXPECT_STREQ(c.note, "");
  }
  EXPECT_EQ(c.nt_min, 65536u);
  ::setenv("PBX_COPY", "warp-drive", 1);
  c = copy_choice_from_env();
  EXPECT_EQ(c.variant, default_copy_choice().variant);
  EXPECT_NE(std::string(c.note).find("PBX_COPY is unknown"), std::string::npos);
  ::setenv("PBX_COPY", "auto", 1);
  ::unsetenv("PBX_COPY_NT_MIN");
  c = copy_choice_from_env();
  EXPECT_EQ(c.variant, default_copy_choice().variant);
  EXPECT_EQ(c.nt_min, 0u);
  ::unsetenv("PBX_COPY");
  // The default: the widest vector copy this CPU runs.
  const CopyVariant d = default_copy_choice().variant;
  if (copy_supported(CopyVariant::kAvx512)) {
    EXPECT_EQ(d, CopyVariant::kAvx512);
  } else if (copy_supported(CopyVariant::kAvx2)) {
    EXPECT_EQ(d, CopyVariant::kAvx2);
  }
}

}  // namespace
}  // namespace pbx::hal
