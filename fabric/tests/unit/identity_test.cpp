// Which job and rank the provider says it is in before joining (identity.h): pbxrun's
// variables, a PMIx launcher's, or none (then fi_getinfo finds nothing and says why).
#include "identity.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "address.h"

namespace pbx::fabric {
namespace {

class Env : public ::testing::Test {
 protected:
  static constexpr const char* kVars[] = {"PBX_BACKEND", "PBX_JOB",        "PBX_NODES", "PBX_PROCS_PER_NODE",
                                          "PBX_NODE",    "PBX_LOCAL",      "PBX_DEVICE", "PMIX_NAMESPACE",
                                          "PMIX_RANK",   "PBX_POSTBOXD_SOCKET"};
  void SetUp() override {
    for (const char* v : kVars) {
      if (const char* s = std::getenv(v)) saved_.emplace_back(v, s);
      unsetenv(v);
    }
  }
  void TearDown() override {
    for (const char* v : kVars) unsetenv(v);
    for (auto& [k, v] : saved_) setenv(k.c_str(), v.c_str(), 1);
  }
  std::vector<std::pair<std::string, std::string>> saved_;
};

TEST_F(Env, OutsideAJobSaysHowToStartOne) {
  const Identity id = identity_from_env();
  EXPECT_FALSE(id.in_job);
  EXPECT_NE(id.why_not.find("pbxrun"), std::string::npos) << id.why_not;
  EXPECT_NE(id.why_not.find("mpirun"), std::string::npos) << id.why_not;
}

TEST_F(Env, PbxrunGivesJobAndFlatRank) {
  setenv("PBX_JOB", "pbx-77", 1);
  setenv("PBX_NODES", "2", 1);
  setenv("PBX_PROCS_PER_NODE", "4", 1);
  setenv("PBX_NODE", "1", 1);
  setenv("PBX_LOCAL", "2", 1);
  const Identity id = identity_from_env();
  ASSERT_TRUE(id.in_job) << id.why_not;
  EXPECT_EQ(id.job, job_hash("pbx-77"));
  EXPECT_EQ(id.rank, 6u);
  EXPECT_EQ(id.size, 8u);
}

TEST_F(Env, PmixLauncherGivesNamespaceAndRank) {
  setenv("PMIX_NAMESPACE", "3735552001", 1);
  setenv("PMIX_RANK", "5", 1);
  const Identity id = identity_from_env();
  ASSERT_TRUE(id.in_job) << id.why_not;
  EXPECT_EQ(id.job, job_hash("3735552001"));
  EXPECT_EQ(id.rank, 5u);
  EXPECT_EQ(id.size, 0u) << "known once joined";
}

TEST_F(Env, PbxrunWinsOverPmix) {
  setenv("PMIX_NAMESPACE", "outer", 1);
  setenv("PMIX_RANK", "9", 1);
  setenv("PBX_JOB", "inner", 1);
  setenv("PBX_NODES", "1", 1);
  setenv("PBX_PROCS_PER_NODE", "2", 1);
  setenv("PBX_NODE", "0", 1);
  setenv("PBX_LOCAL", "1", 1);
  const Identity id = identity_from_env();
  EXPECT_EQ(id.job, job_hash("inner"));
  EXPECT_EQ(id.rank, 1u);
}

TEST_F(Env, NtbWithoutDeviceIsNotAJob) {
  setenv("PBX_BACKEND", "ntb", 1);
  const Identity id = identity_from_env();
  EXPECT_FALSE(id.in_job);
  EXPECT_NE(id.why_not.find("PBX_DEVICE"), std::string::npos) << id.why_not;
}

}  // namespace
}  // namespace pbx::fabric
