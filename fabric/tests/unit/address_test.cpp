// Fabric addresses (address.h): 16 bytes naming a job and a rank, their text form, and the
// node names fi_getinfo and fi_av_insertsvc accept.
#include "address.h"

#include <gtest/gtest.h>

#include <cstring>

namespace pbx::fabric {
namespace {

TEST(Address, DecodesWhatItEncodes) {
  Address a;
  a.job = job_hash("pbx-1234");
  a.rank = 5;
  auto got = decode_address(&a, sizeof a);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->job, a.job);
  EXPECT_EQ(got->rank, 5u);
}

TEST(Address, RefusesWhatIsNotOne) {
  Address a;
  a.rank = 1;
  EXPECT_FALSE(decode_address(&a, 8).has_value()) << "too short";
  Address bad = a;
  bad.magic = 0;
  EXPECT_FALSE(decode_address(&bad, sizeof bad).has_value()) << "no magic";
  bad = a;
  bad.version = 2;
  EXPECT_FALSE(decode_address(&bad, sizeof bad).has_value()) << "another version";
  bad = a;
  bad.rank = Address::kUnknownRank;
  EXPECT_FALSE(decode_address(&bad, sizeof bad).has_value()) << "no rank";
  EXPECT_FALSE(decode_address(nullptr, 16).has_value());
}

TEST(Address, JobHashIsStableAndSpreads) {
  EXPECT_EQ(job_hash("pmix-42"), job_hash("pmix-42"));
  EXPECT_NE(job_hash("pmix-42"), job_hash("pmix-43"));
}

TEST(Address, TextFormRoundTripsThroughNodeNames) {
  Address a;
  a.job = 0x00c0ffee;
  a.rank = 17;
  const std::string s = to_string(a);
  EXPECT_EQ(s, "postbox://00c0ffee/17");
  auto back = parse_node(s, 1234);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->job, 0x00c0ffeeu);
  EXPECT_EQ(back->rank, 17u);
}

TEST(Address, BareRankNamesARankOfThisJob) {
  auto a = parse_node("3", 0xabcd);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->job, 0xabcdu);
  EXPECT_EQ(a->rank, 3u);
}

TEST(Address, HostNamesAndIpAddressesAreNotPostboxAddresses) {
  for (const char* node : {"localhost", "127.0.0.1", "g00n13s", "", "postbox://zz/1", "postbox://12/", "-1", "4294967295"})
    EXPECT_FALSE(parse_node(node, 1).has_value()) << node;
}

}  // namespace
}  // namespace pbx::fabric
