// pbx-perf: its options, its errors and the JSON records it prints. (It measures speed; this
// test only checks that it runs and says what it measured, never how fast.)
#include <gtest/gtest.h>

#include "support/run_command.h"

namespace pbx {
namespace {

using test::run_command;

TEST(PbxPerf, JsonHasOneRecordPerTestAndSizeWithTheRequiredFields) {
  auto r = run_command({PBX_PERF, "--test", "lat,bw,rate", "--sizes", "8,1K", "--runs", "1", "--iters", "200",
                        "--json", "--no-compare"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.front(), '[');
  size_t records = 0;
  for (size_t pos = 0; (pos = r.out.find("{\"test\"", pos)) != std::string::npos; ++pos) ++records;
  EXPECT_EQ(records, 6u);
  for (const char* key : {"\"test\": \"lat\"", "\"test\": \"bw\"", "\"test\": \"rate\"", "\"size\": 1024",
                          "\"median_ns\"", "\"p99_ns\"", "\"msgs_per_s\"", "\"gbytes_per_s\""})
    EXPECT_NE(r.out.find(key), std::string::npos) << key << "\n" << r.out;
}

TEST(PbxPerf, CompareAddsThePeersAndTheirRatios) {
  auto r = run_command({PBX_PERF, "--test", "lat", "--sizes", "8", "--runs", "1", "--iters", "200", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\"ring_median_ns\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"ratio_vs_raw\""), std::string::npos) << r.out;
  auto table = run_command({PBX_PERF, "--test", "rate", "--sizes", "8", "--runs", "1", "--iters", "200"});
  ASSERT_EQ(table.status, 0) << table.err;
  EXPECT_NE(table.out.find("8 B message rate / ring"), std::string::npos) << table.out;
}

TEST(PbxPerf, BadOptionsAreUsageErrors) {
  struct Case {
    std::vector<std::string> args;
    const char* message;
  } cases[] = {
      {{"--test", "speed"}, "unknown test 'speed'"},
      {{"--sizes", "8,huge"}, "'huge' is not a size"},
      {{"--runs", "0"}, "--runs '0' is invalid"},
      {{"--cpus", "1"}, "give two CPUs"},
      {{"--cpus", "1,1"}, "two different CPUs"},
      {{"--frobnicate"}, "unknown option --frobnicate"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv{PBX_PERF};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = run_command(argv);
    EXPECT_EQ(r.status, 2) << c.message;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
  auto help = run_command({PBX_PERF, "--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("--json"), std::string::npos);
}

}  // namespace
}  // namespace pbx

namespace pbx {
namespace {

TEST(PbxPerf, RepeatGoesOnAndReportsFailuresAndSlowRuns) {
  auto r = test::run_command({PBX_PERF, "--no-compare", "-t", "lat,bw", "-s", "8,300K", "-i", "200", "--repeat", "2"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("--repeat 2: 0 failure(s), "), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("bw    300 KiB"), std::string::npos) << r.out;
}

TEST(PbxPerf, ChecksumRunsPostboxWithAndWithoutAndPrintsTheCost) {
  auto r = test::run_command({PBX_PERF, "--no-compare", "--checksum", "-t", "bw", "-s", "64K", "-i", "200", "-r", "1"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("with checksums: crc32c"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("+crc32c"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("for a variant: variant / postbox"), std::string::npos) << r.out;
}

// --variant runs postbox again with other settings, interleaved, as a column of its own; the
// header says which copy routine runs and how much memory postbox lays out.
TEST(PbxPerf, VariantsRunPostboxWithOtherSettingsAndTheHeaderNamesCopiesAndMemory) {
  auto r = test::run_command({PBX_PERF, "--no-compare", "-t", "bw", "-s", "4K,300K", "-i", "200", "-r", "1",
                              "--variant", "PBX_RING_MAX=0", "--variant", "PBX_COPY=sse2,PBX_COPY_NT_MIN=65536"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("PBX_RING_MAX=0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PBX_COPY=sse2,PBX_COPY"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("variant: postbox with PBX_COPY=sse2,PBX_COPY_NT_MIN=65536"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("pbx-perf: copies: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("payload ring"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("memory: a postbox process grew by at most"), std::string::npos) << r.out;
  for (const char* bad : {"CTS=2M", "PBX_CTS", "PBX_CTS="}) {
    auto u = test::run_command({PBX_PERF, "--variant", bad});
    EXPECT_EQ(u.status, 2) << bad;
    EXPECT_NE(u.err.find("give PBX_NAME=VALUE pairs"), std::string::npos) << u.err;
  }
}

}  // namespace
}  // namespace pbx
