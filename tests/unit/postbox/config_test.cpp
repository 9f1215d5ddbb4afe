// Config and JobShape validation: every bad value is rejected with a message naming the field
// and its limits (issue point 3 and 8).
#include <cstdlib>

#include <gtest/gtest.h>

#include "pbx/config.hpp"

namespace pbx {
namespace {

void expect_rejected(const Config& c, const std::string& field, const std::string& limit_text) {
  auto r = c.validate();
  ASSERT_FALSE(r) << field;
  EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(r.error().message().find(field), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find(limit_text), std::string::npos) << r.error().message();
}

TEST(Config, DefaultsAreValid) { EXPECT_TRUE(Config{}.validate()); }

TEST(Config, EachBadFieldIsNamedWithItsLimits) {
  Config c;
  c.postbox_slots = 100;
  expect_rejected(c, "postbox_slots = 100", "power of two in 8..4096");
  c = {};
  c.postbox_slots = 8192;
  expect_rejected(c, "postbox_slots", "8..4096");
  c = {};
  c.block_size = 48;
  expect_rejected(c, "block_size = 48", "power of two");
  c = {};
  c.pool_size = 1000;
  expect_rejected(c, "pool_size = 1000", "multiple of block_size");
  c = {};
  c.pool_size = 8ull << 30;
  expect_rejected(c, "pool_size", "4 GiB");
  c = {};
  c.cts = c.pool_size;
  expect_rejected(c, "cts", "pool_size / 2");
  c = {};
  c.cts = 1000;
  expect_rejected(c, "cts = 1000", "multiple of block_size * cts_slices");
  c = {};
  c.cts_slices = 0;
  expect_rejected(c, "cts_slices = 0", "1..64");
  c = {};
  c.inline_max = 442;
  expect_rejected(c, "inline_max = 442", "0..441");
  c = Config{};
  c.postbox_slots = 8;
  c.inline_max = 218;  // 5 lines: more than half of 8 slots
  expect_rejected(c, "inline_max = 218", "at most half the postbox");
  c = {};
  c.max_message = 0;
  expect_rejected(c, "max_message = 0", "1..2^47");
  c = {};
  c.ack_batch = c.postbox_slots;
  expect_rejected(c, "ack_batch", "postbox_slots / 2");
  c = {};
  c.timeout_ms = 0;
  expect_rejected(c, "timeout_ms = 0", "1..86400000");
  c = {};
  c.max_pending_sends = 0;
  expect_rejected(c, "max_pending_sends = 0", "1..1024");
}

TEST(Config, FromEnvironmentReadsSizesWithUnitsAndNamesBadVariables) {
  setenv("PBX_POOL_SIZE", "16M", 1);
  setenv("PBX_POSTBOX_SLOTS", "64", 1);
  auto c = Config::from_env();
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->pool_size, 16ull << 20);
  EXPECT_EQ(c->postbox_slots, 64u);
  setenv("PBX_CTS", "lots", 1);
  c = Config::from_env();
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("PBX_CTS"), std::string::npos);
  setenv("PBX_CTS", "5000", 1);  // a valid size, an invalid value: validate() names the field
  c = Config::from_env();
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("cts"), std::string::npos);
  unsetenv("PBX_POOL_SIZE");
  unsetenv("PBX_POSTBOX_SLOTS");
  unsetenv("PBX_CTS");
}

TEST(Config, ParseSize) {
  EXPECT_EQ(*parse_size("4096", "x"), 4096u);
  EXPECT_EQ(*parse_size("64K", "x"), 65536u);
  EXPECT_EQ(*parse_size("1M", "x"), 1u << 20);
  EXPECT_EQ(*parse_size("2G", "x"), 2ull << 30);
  auto bad = parse_size("12Q", "--sizes");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("--sizes"), std::string::npos);
  EXPECT_NE(bad.error().message().find("unit"), std::string::npos);
  EXPECT_FALSE(parse_size("-1", "x"));
  EXPECT_FALSE(parse_size("", "x"));
}

TEST(JobShape, InvalidShapesAndRanksAreRejected) {
  EXPECT_TRUE((JobShape{2, 4}).validate());
  auto r = JobShape{0, 1}.validate();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("1..64"), std::string::npos);
  r = JobShape{2, 0}.validate();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("1..256"), std::string::npos);
  const JobShape s{2, 3};
  EXPECT_EQ(s.flat(Rank{1, 2}), 5u);
  EXPECT_EQ(s.rank_of(4), (Rank{1, 1}));
  auto bad = s.check_rank(Rank{2, 0}, "send");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("nodes are 0..1"), std::string::npos);
  EXPECT_FALSE(s.rank_from_flat(6));
  EXPECT_EQ(*s.rank_from_flat(5), (Rank{1, 2}));
}

}  // namespace
}  // namespace pbx
