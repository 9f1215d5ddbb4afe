// The postboxd protocol codec and the status page: what a client accepts, and what it refuses.
#include "pbx/hal/postboxd/protocol.h"

#include <cstring>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/hal/postboxd/status_page.h"

namespace pbx::hal::postboxd {
namespace {

using ::testing::HasSubstr;

Identity two_nodes() {
  Identity id;
  id.self = 1;
  id.node_count = 2;
  id.spad_count = 16;
  id.fd_count = 3;
  id.db_valid_mask = 0xffff;
  id.window_size = 2u << 20;
  id.status_size = StatusPage::kSize;
  id.backend = "loopback";
  id.name = "job";
  for (uint16_t k = 0; k < 2; ++k) {
    id.outbound.push_back(WireWindow{static_cast<uint32_t>(1 + k), 0, 1, 0, uint64_t{2u << 20}, 2u << 20});
    id.inbound.push_back(WireWindow{2, 0, 1, 0, uint64_t{k} * (2u << 20), 2u << 20});
  }
  return id;
}

TEST(PostboxdProtocol, AWelcomeRoundTrips) {
  const auto bytes = encode_welcome(two_nodes());
  auto id = decode_welcome(bytes, 3, "test");
  ASSERT_TRUE(id) << id.error().message();
  EXPECT_EQ(id->self, 1u);
  EXPECT_EQ(id->node_count, 2u);
  EXPECT_EQ(id->backend, "loopback");
  EXPECT_EQ(id->name, "job");
  EXPECT_EQ(id->outbound[1].fd_index, 2u);
  EXPECT_EQ(id->inbound[1].offset, 2u << 20);
  EXPECT_EQ(id->inbound[0].sparse, 1u);
}

TEST(PostboxdProtocol, AWelcomeWithBadCountsOrIndicesIsRefused) {
  const auto bytes = encode_welcome(two_nodes());
  auto e = decode_welcome(bytes, 2, "postboxd at /x");
  ASSERT_FALSE(e);
  EXPECT_THAT(e.error().message(), HasSubstr("announced 3 file descriptors but 2 arrived"));

  Identity id = two_nodes();
  id.outbound[0].fd_index = 3;  // past the table
  e = decode_welcome(encode_welcome(id), 3, "postboxd at /x");
  ASSERT_FALSE(e);
  EXPECT_THAT(e.error().message(), HasSubstr("bad outbound window for node 0"));

  id = two_nodes();
  id.inbound[1].offset = 100;  // not page aligned
  EXPECT_FALSE(decode_welcome(encode_welcome(id), 3, "x"));
  id = two_nodes();
  id.outbound[1].fd_index = 0;  // the status page is not a window
  EXPECT_FALSE(decode_welcome(encode_welcome(id), 3, "x"));

  auto cut = encode_welcome(two_nodes());
  cut.resize(cut.size() - 8);
  e = decode_welcome(cut, 3, "x");
  ASSERT_FALSE(e);
  EXPECT_THAT(e.error().message(), HasSubstr("says it has"));
}

TEST(PostboxdProtocol, AnotherVersionIsAConfigMismatchSayingSo) {
  auto bytes = encode_welcome(two_nodes());
  MsgHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  h.version = kVersion + 1;
  std::memcpy(bytes.data(), &h, sizeof h);
  auto e = decode_welcome(bytes, 3, "postboxd at /x");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), Errc::kConfigMismatch);
  EXPECT_THAT(e.error().message(), HasSubstr("run the same postbox version"));
}

TEST(PostboxdProtocol, ARefusalCarriesTheDaemonsMessage) {
  const auto bytes = encode_status(MsgType::kRefused, tl::unexpected(Error(Errc::kPermissionDenied, "join group x")));
  auto e = decode_welcome(bytes, 0, "postboxd at /x");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), Errc::kPermissionDenied);
  EXPECT_EQ(e.error().message(), "join group x");
}

TEST(PostboxdProtocol, RepliesCarryValuesOrErrors) {
  auto v = decode_status(encode_status(MsgType::kReply, uint64_t{0x1234}), "x");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 0x1234u);
  auto e = decode_status(encode_status(MsgType::kReply, tl::unexpected(Error(Errc::kLinkDown, "down"))), "x");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), Errc::kLinkDown);
  EXPECT_EQ(e.error().message(), "down");
}

TEST(PostboxdProtocol, AReplyCarriesEveryCodeThisProgramKnowsAndNoOther) {
  // errc_name() names every Errc (its switch has no default), so this follows base/error.h.
  for (uint32_t v = 1; v <= 0xff; ++v) {
    const auto code = static_cast<Errc>(v);
    const bool known = std::string(errc_name(code)) != "unknown";
    std::vector<std::byte> reply = encode_status(MsgType::kReply, tl::unexpected(Error(Errc::kIoError, "e")));
    Status s;
    std::memcpy(&s, reply.data(), sizeof s);
    s.errc = v;
    std::memcpy(reply.data(), &s, sizeof s);
    auto e = decode_status(reply, "x");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().code(), known ? code : Errc::kProtocolError) << "errc " << v;
  }
}

TEST(PostboxdProtocol, RequestsAndHellosAreCheckedBySizeAndOp) {
  Request r{header(MsgType::kRequest, sizeof(Request)), static_cast<uint16_t>(Op::kDbRead), 1, 0, 0, 0};
  EXPECT_TRUE(decode_request(encode(r)));
  r.op = 99;
  EXPECT_FALSE(decode_request(encode(r)));
  Hello h{header(MsgType::kHello, sizeof(Hello)), 42, 0};
  auto got = decode_hello(encode(h));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->pid, 42u);
  EXPECT_FALSE(decode_request(encode(h))) << "a Hello is not a Request";
}

TEST(PostboxdStatusPage, ClientsSeePublishedLinksAndTheDaemonAlive) {
  auto page = StatusPage::create(3, 1);
  ASSERT_TRUE(page) << page.error().message();
  auto client = StatusPage::attach(page->fd(), StatusPage::kSize, 3, 1);
  ASSERT_TRUE(client) << client.error().message();
  EXPECT_TRUE(client->link(1).up) << "self";
  EXPECT_FALSE(client->link(0).up);
  EXPECT_EQ(client->link(0).generation, 1u);
  page->publish(0, true, 2);
  EXPECT_TRUE(client->link(0).up);
  EXPECT_EQ(client->link(0).generation, 2u);
  EXPECT_TRUE(client->daemon_alive()) << "the creating thread holds the liveness lock";
  EXPECT_FALSE(StatusPage::attach(page->fd(), StatusPage::kSize, 2, 1)) << "another node count";
  EXPECT_FALSE(StatusPage::attach(page->fd(), 4096, 3, 1)) << "another size";
}

}  // namespace
}  // namespace pbx::hal::postboxd
