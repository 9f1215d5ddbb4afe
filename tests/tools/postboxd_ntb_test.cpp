// postboxd's server over the Intel NTB backend (two register models back to back, no hardware):
// what a client process of the node sees through the socket — the node's identity, its windows
// mapped from the fds the daemon passes (BAR2's file, the inbound memfd, the self memfd), and
// scratchpads through the daemon. The daemon's event loop runs on its own thread here, as in
// postboxd; the test thread is the client (and the other host, whose device the loop never
// touches).
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "access.h"
#include "links.h"
#include "listener.h"
#include "pbx/hal/postboxd/client.h"
#include "pbx/hal/postboxd/status_page.h"
#include "pbx/hal/intel_ntb.h"
#include "pbx/hal/spad_handshake.h"
#include "server.h"
#include "support/fake_clock.h"
#include "support/ntb/model_fabric.h"
#include "support/postboxd.h"

namespace pbx {
namespace {

using hal::NodeIdx;
using hal::SpadIdx;
using hal::StoreKind;
using ntb::intel::Part;
using ntb::intel::Side;

constexpr size_t kMiB = size_t{1} << 20;

TEST(PostboxdOverIntelNtb, AClientMapsTheWindowsTheDaemonHandsOutAndUsesTheLink) {
  // Two hosts back to back: A (USD, node 0) is served by the daemon; B is the other host.
  test::FakeClock clock;
  test::ModelFabric f(Part::kSpr);
  hal::IntelNtbOptions o;
  o.pages = hal::PagePolicy::kSmall;
  o.clock = &clock;
  o.link_timeout_ns = 1'000'000'000;
  auto a = hal::IntelNtbDevice::attach(f.port(Side::kUsd), o);
  auto b = hal::IntelNtbDevice::attach(f.port(Side::kDsd), o);
  ASSERT_TRUE(a && b);
  bool up = false;
  for (int i = 0; i < 20 && !up; ++i) {  // each poll is one step of that side's bring-up
    const bool ua = (*a)->link_status(NodeIdx(1)).up;
    const bool ub = (*b)->link_status(NodeIdx(0)).up;
    up = ua && ub;
  }
  ASSERT_TRUE(up) << (*a)->link_diagnostic() << " / " << (*b)->link_diagnostic();
  ASSERT_TRUE(f.route());

  // The daemon, as postboxd's main() builds it for an ntb device (no handshake of its own).
  test::TempDir dir;
  const std::string sock = dir.file("ntb.sock");
  auto group = postboxd::lookup_group(test::own_group());
  ASSERT_TRUE(group) << group.error().message();
  auto listener = postboxd::Listener::lock(sock);
  ASSERT_TRUE(listener) << listener.error().message();
  bool replaced = false;
  ASSERT_TRUE(listener->listen(&replaced));
  auto page = hal::postboxd::StatusPage::create(2, 0);
  ASSERT_TRUE(page) << page.error().message();
  MonotonicClock steady;
  std::vector<std::string> log;  // written by the daemon thread, read after join
  auto log_line = [&log](const std::string& s) { log.push_back(s); };
  auto links = postboxd::LinkKeeper::create(**a, *page, /*handshake=*/false, hal::HandshakeOptions{}, steady, log_line);
  ASSERT_TRUE(links) << links.error().message();
  auto server = postboxd::Server::create(**a, *page, **links, *listener, *group, /*tick_ms=*/1, log_line);
  ASSERT_TRUE(server) << server.error().message();
  int stop[2];
  ASSERT_EQ(::pipe2(stop, O_CLOEXEC), 0);
  Result<int> served = 0;
  std::thread daemon([&] { served = (*server)->run(stop[0]); });

  {
    auto c = hal::PostboxdClientDevice::open(sock);
    ASSERT_TRUE(c) << c.error().message();
    const hal::DeviceInfo& i = (*c)->info();
    EXPECT_EQ(i.backend, "postboxd/intel-gen4");
    EXPECT_EQ(i.name, "0000:af:00.0");
    EXPECT_EQ(i.self, NodeIdx(0));
    EXPECT_EQ(i.node_count, 2u);
    EXPECT_EQ(i.window_size, kMiB);
    EXPECT_EQ(i.outbound_mem_type, hal::MemType::kUncached) << "BAR2's, not the write-back window to self";
    const uint64_t deadline = now_ns() + 10'000'000'000ull;  // the daemon publishes the link on its next tick
    while (!(*c)->link_status(NodeIdx(1)).up) ASSERT_LT(now_ns(), deadline) << "the client never saw the link up";

    // Outbound: the client's stores go into BAR2's file.
    (*c)->peer_mw(NodeIdx(1))->store64(256, 0x5a5a, StoreKind::kControl);
    void* bar2 = ::mmap(nullptr, kMiB, PROT_READ, MAP_SHARED, f.usd().bar2_fd, 0);
    ASSERT_NE(bar2, MAP_FAILED);
    EXPECT_EQ(static_cast<const uint64_t*>(bar2)[256 / 8], 0x5a5au);
    ::munmap(bar2, kMiB);
    // Inbound: what the other host writes through its BAR2 lands in the client's mapping.
    (*b)->peer_mw(NodeIdx(0))->store64(512, 0xc0ffee, StoreKind::kControl);
    EXPECT_EQ((*c)->local_mw(NodeIdx(1))->load64_acquire(512), 0xc0ffeeu);
    // To self: the daemon's window to self.
    (*c)->peer_mw(NodeIdx(0))->store64(64, 11, StoreKind::kControl);
    EXPECT_EQ((*c)->local_mw(NodeIdx(0))->load64_acquire(64), 11u);
    // Scratchpads through the daemon reach the other host.
    ASSERT_TRUE((*c)->peer_spad_write(NodeIdx(1), SpadIdx(2), 77)) << "through the daemon";
    EXPECT_EQ(*(*b)->spad_read(NodeIdx(0), SpadIdx(2)), 77u);
  }

  signalfd_siginfo si{};
  si.ssi_signo = SIGTERM;
  ASSERT_EQ(::write(stop[1], &si, sizeof si), static_cast<ssize_t>(sizeof si));
  daemon.join();
  ::close(stop[0]);
  ::close(stop[1]);
  ASSERT_TRUE(served) << served.error().message();
  EXPECT_EQ(*served, SIGTERM);
  EXPECT_EQ((*a)->local_mw(NodeIdx(0))->load64_acquire(64), 11u) << "the client wrote the daemon's own memory";
}

}  // namespace
}  // namespace pbx
