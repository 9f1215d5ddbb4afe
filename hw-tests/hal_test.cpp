// hal::Device on the test device, as libpostbox sees it: ivshmem through hal/ivshmem (VFIO
// underneath); NTB hardware joins when its HAL backend exists. Two-sided: both nodes run it at
// the same time. The device is opened once for the whole binary, as a node manager would;
// every test starts and ends with a rendezvous through scratchpad 15, so that both nodes are in
// the same test.
#include <algorithm>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "common/pattern.h"
#include "common/test_device.h"
#include "pbx/base/barrier.h"
#include "pbx/hal/ivshmem.h"

namespace pbx::hwtest {
namespace {

using hal::NodeIdx;
using hal::SpadIdx;

constexpr SpadIdx kSyncSpad{15};
constexpr uint32_t kMagic = 0x50425848;  // "PBXH"
constexpr uint32_t kVersion = 1;

std::unique_ptr<hal::IvshmemDevice> g_dev;  // shared by the tests of this binary
std::string g_open_error;

Result<std::unique_ptr<hal::IvshmemDevice>> open_device(const std::string& bdf_text) {
  auto bdf = vfio::Bdf::parse(bdf_text);
  if (!bdf) return tl::unexpected(bdf.error());
  hal::IvshmemOptions opts;
  opts.node_count = 2;
  return hal::IvshmemDevice::open(*bdf, opts);
}
class HalTest : public DeviceTest {
 protected:
  HalTest() : DeviceTest({DeviceKind::kIvshmem}) {}

  static void TearDownTestSuite() { g_dev.reset(); }

  void SetUp() override {
    DeviceTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!g_dev && g_open_error.empty()) {
      auto d = open_device(dev_.bdf);
      if (d) g_dev = std::move(*d);
      else g_open_error = d.error().message();
    }
    ASSERT_TRUE(g_dev) << g_open_error;
    self_ = g_dev->info().self;
    peer_ = NodeIdx(static_cast<uint16_t>(1 - self_.v));
    // Up when both nodes have the device open.
    const uint64_t deadline = now_ns() + peer_timeout_ns();
    while (!g_dev->link_status(peer_).up && now_ns() < deadline) cpu_pause();
    ASSERT_TRUE(g_dev->link_status(peer_).up) << "node " << self_.v << ": the link to node " << peer_.v
                                              << " did not come up (is the other VM running this test?)";
    // Bits left by the previous test: the peer sets none for this test before the sync below.
    ASSERT_TRUE(g_dev->db_clear(peer_, ~uint64_t{0}));
    sync(1);
  }
  void TearDown() override {
    if (g_dev && !IsSkipped() && !HasFatalFailure()) sync(kLastStep);
  }

  // Both nodes reached `step` of this test. Scratchpad 15 carries where a node is: a tag of the
  // run and suite (12 bits), the test's index in the suite (8 bits) and the step (12 bits). That
  // position only grows (tests run in order; steps grow within a test, kLastStep in TearDown),
  // and the peer may be one sync ahead, possibly in the next test already: "at or past" counts.
  void sync(uint32_t step) {
    const auto* unit = ::testing::UnitTest::GetInstance();
    const auto* suite = unit->current_test_suite();
    uint32_t tag = run_nonce();
    for (char c : std::string(suite->name())) tag = (tag ^ static_cast<unsigned char>(c)) * 16777619u;
    tag = (tag & 0xfffu) << 20;
    uint32_t index = 0;
    for (int i = 0; i < suite->total_test_count(); ++i)
      if (suite->GetTestInfo(i) == unit->current_test_info()) index = static_cast<uint32_t>(i);
    const uint32_t pos = (index << 12) | step;
    const uint64_t deadline = now_ns() + peer_timeout_ns();
    for (;;) {
      auto w = g_dev->peer_spad_write(peer_, kSyncSpad, tag | pos);
      if (w) break;
      ASSERT_TRUE(w.error() == Errc::kLinkDown && now_ns() < deadline) << w.error().message();
      cpu_pause();
    }
    for (;;) {
      auto r = g_dev->spad_read(peer_, kSyncSpad);
      ASSERT_TRUE(r) << r.error().message();
      if ((*r & 0xfff00000u) == tag && (*r & 0xfffffu) >= pos) return;
      ASSERT_LT(now_ns(), deadline) << "node " << self_.v << ": node " << peer_.v << " did not reach step " << step
                                    << " of this test in time";
      cpu_pause();
    }
  }
  static constexpr uint32_t kLastStep = 0xfff;

  uint32_t wait_spad(SpadIdx idx, uint32_t want) {
    const uint64_t deadline = now_ns() + peer_timeout_ns();
    uint32_t v = 0;
    for (;;) {
      auto r = g_dev->spad_read(peer_, idx);
      if (!r) ADD_FAILURE() << r.error().message();
      v = r ? *r : 0;
      if (v == want || now_ns() >= deadline) return v;
      cpu_pause();
    }
  }

  NodeIdx self_, peer_;
};

TEST_F(HalTest, LinkIsUpWithTheSameGenerationOnBothNodes) {
  const hal::DeviceInfo& info = g_dev->info();
  EXPECT_EQ(info.backend, "ivshmem");
  EXPECT_EQ(info.node_count, 2);
  EXPECT_GE(info.spad_count, 16);
  EXPECT_GT(info.window_size, 0u);
  EXPECT_EQ(info.window_size % 4096, 0u);
  EXPECT_EQ(info.self.v, g_dev->port().peer_id()) << "node index = IVPosition";
  const hal::LinkStatus st = g_dev->link_status(peer_);
  ASSERT_TRUE(st.up);
  ASSERT_TRUE(g_dev->peer_spad_write(peer_, SpadIdx(0), st.generation));
  sync(2);
  EXPECT_EQ(wait_spad(SpadIdx(0), st.generation), st.generation)
      << "the two nodes see different generations of their link";
}

TEST_F(HalTest, ScratchpadHandshakeBringsBothNodesToAgreement) {
  // What a node manager does at bring-up: publish (magic, version, window size, id) in the
  // peer's scratchpads, ring doorbell bit 0, read the peer's on our side, check them, ack.
  const uint32_t mine[4] = {kMagic, kVersion, static_cast<uint32_t>(g_dev->info().window_size), self_.v};
  for (uint16_t i = 0; i < 4; ++i) ASSERT_TRUE(g_dev->peer_spad_write(peer_, SpadIdx(i), mine[i]));
  ASSERT_TRUE(g_dev->peer_db_set(peer_, 1u << 0));
  auto bits = g_dev->db_wait(peer_, peer_timeout_ns());
  ASSERT_TRUE(bits) << bits.error().message();
  ASSERT_EQ(*bits & 1u, 1u) << "node " << peer_.v << " never rang doorbell bit 0";
  ASSERT_TRUE(g_dev->db_clear(peer_, 1u << 0));
  uint32_t theirs[4];
  for (uint16_t i = 0; i < 4; ++i) {
    auto r = g_dev->spad_read(peer_, SpadIdx(i));
    ASSERT_TRUE(r) << r.error().message();
    theirs[i] = *r;
  }
  EXPECT_EQ(theirs[0], kMagic);
  EXPECT_EQ(theirs[1], kVersion);
  EXPECT_EQ(theirs[2], mine[2]) << "the nodes disagree on the window size";
  EXPECT_EQ(theirs[3], peer_.v);
  // Ack: what we read, folded, in scratchpad 4; the peer checks it against what it wrote.
  const auto fold = [](const uint32_t* w) { return w[0] ^ (w[1] << 8) ^ w[2] ^ (w[3] << 24); };
  ASSERT_TRUE(g_dev->peer_spad_write(peer_, SpadIdx(4), fold(theirs)));
  EXPECT_EQ(wait_spad(SpadIdx(4), fold(mine)), fold(mine)) << "node " << peer_.v << " acked other values";
}

TEST_F(HalTest, DoorbellBitsCrossBothWays) {
  const bool leader = self_ < peer_;
  for (uint32_t bit = 0; bit < 64; bit += 5) {
    const uint64_t want = uint64_t{1} << bit;
    for (int turn = 0; turn < 2; ++turn) {
      const bool ringing = (turn == 0) == leader;
      if (ringing) {
        ASSERT_TRUE(g_dev->peer_db_set(peer_, want));
        continue;
      }
      auto got = g_dev->db_wait(peer_, peer_timeout_ns());
      ASSERT_TRUE(got) << got.error().message();
      ASSERT_EQ(*got, want) << "bit " << bit << " from node " << peer_.v;
      ASSERT_TRUE(g_dev->db_clear(peer_, want));
      EXPECT_EQ(g_dev->db_read(peer_).value_or(~0ull), 0u);
    }
  }
}

// Bytes of node `id`'s message number `k`.
std::vector<std::byte> message(uint32_t id, size_t k, size_t n) {
  std::vector<std::byte> b(n);
  for (size_t j = 0; j < n; ++j)
    b[j] = static_cast<std::byte>(pattern_word(id * 1000 + static_cast<uint32_t>(k), j / 8) >> (8 * (j % 8)));
  return b;
}

TEST_F(HalTest, WindowDataCrossesBothWaysAtEverySize) {
  // Each node writes a message into its outbound window to the peer (payload at 64, then a
  // sequence word at 0 after a flush), rings doorbell bit 1, and checks the peer's message in
  // its inbound window, for sizes from one byte to the whole window.
  auto out = g_dev->peer_mw(peer_);
  auto in = g_dev->local_mw(peer_);
  ASSERT_TRUE(out && in);
  const size_t win = out->size();
  ASSERT_EQ(in->size(), win);
  const std::vector<size_t> sizes = {1, 7, 8, 63, 64, 65, 4096, 65536, win - 64};
  for (size_t k = 0; k < sizes.size(); ++k) {
    const size_t n = sizes[k];
    const uint64_t seq = (uint64_t{run_nonce()} << 32) | (k + 1);
    const auto mine = message(self_.v, k, n);
    out->write(64, mine.data(), n);
    out->flush();  // the payload lands before the sequence word that vouches for it
    out->store64_release(0, seq, hal::StoreKind::kIndicator);
    ASSERT_TRUE(g_dev->peer_db_set(peer_, 1u << 1));  // flushes again before ringing

    auto bits = g_dev->db_wait(peer_, peer_timeout_ns());
    ASSERT_TRUE(bits) << bits.error().message();
    ASSERT_NE(*bits & 2u, 0u) << "size " << n << ": node " << peer_.v << " never rang";
    ASSERT_TRUE(g_dev->db_clear(peer_, 2u));
    ASSERT_EQ(in->load64_acquire(0), seq) << "size " << n << ": the sequence word did not arrive";
    from_peer_barrier();  // payload loads after the sequence word's load
    std::vector<std::byte> got(n);
    in->read(64, got.data(), n);
    const auto want = message(peer_.v, k, n);
    const auto diff = std::mismatch(got.begin(), got.end(), want.begin());
    EXPECT_TRUE(diff.first == got.end()) << "size " << n << ": node " << peer_.v << "'s message differs from byte "
                                         << (diff.first - got.begin());
    sync(static_cast<uint32_t>(10 + k));  // both read before either writes the next
  }
}

TEST_F(HalTest, ANodeThatReopensIsANewLinkGeneration) {
  const uint32_t gen0 = g_dev->link_status(peer_).generation;
  const bool leader = self_ < peer_;
  sync(2);
  if (leader) {
    g_dev.reset();  // leaves: the peer's link goes down
    auto d = open_device(dev_.bdf);
    ASSERT_TRUE(d) << d.error().message();
    g_dev = std::move(*d);
  }
  // Leaving and coming back moves this node's epoch by 2: both nodes see generation + 2.
  const uint64_t deadline = now_ns() + peer_timeout_ns();
  hal::LinkStatus st = g_dev->link_status(peer_);
  while (!(st.up && st.generation != gen0) && now_ns() < deadline) {
    cpu_pause();
    st = g_dev->link_status(peer_);
  }
  EXPECT_TRUE(st.up);
  EXPECT_EQ(st.generation, gen0 + 2);
}

}  // namespace
}  // namespace pbx::hwtest
