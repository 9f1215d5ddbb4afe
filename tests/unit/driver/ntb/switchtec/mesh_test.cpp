// Several hosts through one switch, as a HAL backend would drive them: every host exposes one
// buffer per peer through that peer's LUT windows, writes its control page (Linux's shared_mw
// layout: magic, link_sta, partition) and data into each peer, rings each peer and sends the
// link message. Every host then finds every peer's page and data in its own memory.
#include <cstring>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fixture.h"

namespace pbx::ntb::switchtec {
namespace {

using test::SwitchFixture;
using test::SwitchtecModelSpec;
using ::testing::IsEmpty;

class Mesh : public ::testing::TestWithParam<unsigned> {};

uint64_t iova_of(unsigned host, unsigned peer) { return 0x100000000ull * (host + 1) + 0x10000000ull * peer; }

TEST_P(Mesh, EveryHostReachesEveryPeersMemoryThroughItsOwnWindow) {
  const unsigned n = GetParam();
  SwitchFixture f(n == 2 ? SwitchtecModelSpec::linux_pair() : SwitchtecModelSpec::mesh(n));
  auto hosts = f.attach_all();
  ASSERT_EQ(hosts.size(), n);

  // Inbound memory: host h keeps one buffer per peer k, DMA-mapped at its own IOVA.
  std::vector<std::vector<std::vector<std::byte>>> inbound(n);
  for (unsigned h = 0; h < n; ++h) {
    SwitchtecNtb& d = hosts[h];
    ASSERT_TRUE(d.setup_requester_ids().has_value());
    inbound[h].resize(d.peer_count());
    for (unsigned k = 0; k < d.peer_count(); ++k) {
      auto cap = d.inbound_capacity(k);
      ASSERT_TRUE(cap.has_value()) << cap.error().message();
      inbound[h][k].resize(*cap);
      f.sw.add_memory(h, iova_of(h, k), inbound[h][k]);
      auto ok = d.inbound_set_trans(k, iova_of(h, k), *cap);
      ASSERT_TRUE(ok.has_value()) << "host " << h << " peer " << k << ": " << ok.error().message();
    }
  }

  // Outbound: page + payload into every peer, then a doorbell and the link message.
  for (unsigned h = 0; h < n; ++h) {
    SwitchtecNtb& d = hosts[h];
    for (unsigned k = 0; k < d.peer_count(); ++k) {
      auto w = d.peer_window(k);
      ASSERT_TRUE(w.has_value());
      PeerPage page{};
      page.magic = kSharedMagic;
      page.link_sta = 1;
      page.partition_id = h;
      page.spad[0] = 0xc0de0000u | (h << 8) | d.peer_partition(k);
      ASSERT_TRUE(f.sw.write_through(h, w->bar, w->offset, &page, sizeof page)) << f.sw.last_drop();
      const uint64_t payload = 0xabcd000000000000ull | h;
      ASSERT_TRUE(f.sw.write_through(h, w->bar, w->offset + w->size - 8, &payload, 8)) << f.sw.last_drop();
      ASSERT_TRUE(d.peer_db_set(k, 1).has_value());
    }
    ASSERT_TRUE(d.peer_msg_write(kLinkMessage, kMsgCheckLink).has_value());
  }

  for (unsigned h = 0; h < n; ++h) {
    SwitchtecNtb& d = hosts[h];
    EXPECT_EQ(d.db_read(), 1u) << "host " << h;
    const auto msgs = d.msg_read();
    for (unsigned k = 0; k < d.peer_count(); ++k) {
      const uint8_t q = d.peer_partition(k);
      PeerPage page;
      std::memcpy(&page, inbound[h][k].data(), sizeof page);
      EXPECT_EQ(page.magic, kSharedMagic) << h << "<-" << unsigned{q};
      EXPECT_EQ(page.partition_id, q);
      EXPECT_EQ(page.spad[0], 0xc0de0000u | (unsigned{q} << 8) | h);
      uint64_t payload;
      std::memcpy(&payload, inbound[h][k].data() + inbound[h][k].size() - 8, 8);
      EXPECT_EQ(payload, 0xabcd000000000000ull | q);
      if (auto slot = d.link_slot(k)) {
        bool heard = false;
        for (const InMessage& m : msgs) heard |= m.slot == *slot && m.partition == q && m.value == kMsgCheckLink;
        EXPECT_TRUE(heard) << "host " << h << " did not hear partition " << unsigned{q};
      }
    }
  }
  EXPECT_THAT(f.sw.violations(), IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(Hosts, Mesh, ::testing::Values(2u, 3u, 4u, 8u),
                         [](const ::testing::TestParamInfo<unsigned>& p) { return std::to_string(p.param) + "hosts"; });

}  // namespace
}  // namespace pbx::ntb::switchtec
