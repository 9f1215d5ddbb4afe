// pbxrun: identities, exit status, crash reports, clean-up, argument errors.
#include <sys/stat.h>

#include <set>

#include <gtest/gtest.h>

#include "support/job_name.h"
#include "support/run_command.h"

namespace pbx {
namespace {

using test::run_command;

bool job_files_exist(const std::string& job) {
  struct stat st {};
  return stat(("/dev/shm/pbx." + job + ".ctl").c_str(), &st) == 0 ||
         stat(("/dev/shm/pbx." + job + ".node0").c_str(), &st) == 0;
}

TEST(Pbxrun, GivesEveryProcessItsIdentityAndCleansUp) {
  const std::string job = test::unique_job_name("run");
  auto r = run_command({PBXRUN, "-N", "3", "-n", "2", "--job", job, "--", "sh", "-c",
                        "echo $PBX_RANK $PBX_NODE $PBX_LOCAL $PBX_NODES $PBX_PROCS_PER_NODE $PBX_SIZE $PBX_JOB; "
                        "test -e /dev/shm/pbx.$PBX_JOB.ctl"});
  EXPECT_EQ(r.status, 0) << r.err;
  std::set<std::string> lines;
  size_t pos = 0;
  while ((pos = r.out.find('\n')) != std::string::npos) {
    lines.insert(r.out.substr(0, pos));
    r.out.erase(0, pos + 1);
  }
  std::set<std::string> want;
  for (int rank = 0; rank < 6; ++rank)
    want.insert(std::to_string(rank) + " " + std::to_string(rank / 2) + " " + std::to_string(rank % 2) + " 3 2 6 " + job);
  EXPECT_EQ(lines, want);
  EXPECT_FALSE(job_files_exist(job));
}

TEST(Pbxrun, RunsTheExamplesThroughTheCAndCppApis) {
  auto r = run_command({PBXRUN, "-N", "2", "-n", "2", "--", EXAMPLE_RING});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("token after 3 laps: 12 (expected 12)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rank 1 got \"hello from rank 0\""), std::string::npos) << r.out;
  r = run_command({PBXRUN, "-N", "3", "-n", "1", "--cpus", "0", "--", EXAMPLE_RING_C});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("rank 0 got \"hello from rank 2\" from (2, 0)"), std::string::npos) << r.out;
}

TEST(Pbxrun, ExitsWithTheWorstStatusAndNamesTheRank) {
  auto r = run_command({PBXRUN, "-N", "2", "-n", "2", "--", "sh", "-c", "exit $(( $PBX_RANK == 3 ? 7 : 0 ))"});
  EXPECT_EQ(r.status, 7);
  EXPECT_NE(r.err.find("rank 3 (node 1, local 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("exited with status 7"), std::string::npos) << r.err;
}

TEST(Pbxrun, ACrashIsReportedByRankAndSignalAndTheOthersAreStopped) {
  const std::string job = test::unique_job_name("crash");
  // Rank 1 crashes; the others would wait forever (read from a pipe nobody writes to).
  auto r = run_command({PBXRUN, "-N", "2", "-n", "2", "--job", job, "--", "sh", "-c",
                        "if [ $PBX_RANK = 1 ]; then kill -SEGV $$; fi; exec cat /dev/zero > /dev/null"});
  EXPECT_EQ(r.status, 128 + 11);
  EXPECT_NE(r.err.find("rank 1 (node 0, local 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("killed by signal 11"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("stopping the other 3 process(es)"), std::string::npos) << r.err;
  EXPECT_FALSE(job_files_exist(job));
}

TEST(Pbxrun, BadArgumentsAreUsageErrors) {
  struct Case {
    std::vector<std::string> args;
    const char* message;
  } cases[] = {
      {{"-n", "1", "--", "true"}, "give the job's shape"},
      {{"-N", "0", "-n", "1", "--", "true"}, "-N (nodes) '0' is invalid: use a number in 1..64"},
      {{"-N", "65", "-n", "1", "--", "true"}, "1..64"},
      {{"-N", "2", "-n", "x", "--", "true"}, "-n (processes per node) 'x' is invalid"},
      {{"-N", "2", "-n", "1"}, "give the program to run"},
      {{"-N", "2", "-n", "1", "--bogus", "--", "true"}, "unknown option --bogus"},
      {{"-N", "2", "-n", "1", "--backend", "ntb", "--", "true"}, "postboxd"},
      {{"-N", "2", "-n", "1", "--cpus", "3-1", "--", "true"}, "goes backwards"},
      {{"-N", "2", "-n", "1", "--window-size", "12Q", "--", "true"}, "unknown unit"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv{PBXRUN};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = run_command(argv);
    EXPECT_EQ(r.status, 2) << c.message;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
  auto help = run_command({PBXRUN, "--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("usage: pbxrun"), std::string::npos);
}

TEST(Pbxrun, AProgramThatCannotRunIsReported) {
  auto r = run_command({PBXRUN, "-N", "1", "-n", "1", "--", "/nonexistent/program"});
  EXPECT_EQ(r.status, 127);
  EXPECT_NE(r.err.find("cannot run '/nonexistent/program': No such file or directory"), std::string::npos) << r.err;
}

TEST(Pbxrun, CleanupRemovesWhatACrashedJobLeftBehind) {
  const std::string job = test::unique_job_name("stale");
  // A job killed with SIGKILL cannot clean up; simulate its leftovers with a second pbxrun
  // holding the name, then clean up by name.
  auto make = run_command({PBXRUN, "-N", "1", "-n", "1", "--job", job, "--", "sh", "-c",
                           "cp /dev/shm/pbx.$PBX_JOB.ctl /dev/shm/pbx.$PBX_JOB.ctl.keep"});
  ASSERT_EQ(make.status, 0) << make.err;
  ASSERT_EQ(std::rename(("/dev/shm/pbx." + job + ".ctl.keep").c_str(), ("/dev/shm/pbx." + job + ".ctl").c_str()), 0);
  auto again = run_command({PBXRUN, "-N", "1", "-n", "1", "--job", job, "--", "true"});
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.err.find("pbxrun --cleanup " + job), std::string::npos) << again.err;
  auto clean = run_command({PBXRUN, "--cleanup", job});
  EXPECT_EQ(clean.status, 0) << clean.err;
  EXPECT_FALSE(job_files_exist(job));
}

TEST(Pbxrun, PostboxSettingsReachEveryProcessAndMismatchesAreCaught) {
  // Every process sees the same PBX_* settings through the environment...
  auto r = run_command({PBXRUN, "-N", "2", "-n", "1", "--", EXAMPLE_RING}, {"PBX_POOL_SIZE=2M", "PBX_CTS=64K"});
  EXPECT_EQ(r.status, 0) << r.err;
  // ...and one that differs is named by the others.
  r = run_command({PBXRUN, "-N", "2", "-n", "1", "--", "sh", "-c",
                   "if [ $PBX_RANK = 1 ]; then export PBX_POSTBOX_SLOTS=64; fi; export PBX_TIMEOUT_MS=3000; exec " +
                       std::string(EXAMPLE_RING)});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("different postbox configuration"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace pbx
