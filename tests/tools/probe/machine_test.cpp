// pbx-probe on this machine's real sysfs: it runs and exits 0 whether or not an NTB is present
// (CI machines and this VM have none; they have virtio devices).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_sysfs.h"

namespace pbx::test {
namespace {

using ::testing::StartsWith;

TEST(ProbeOnThisMachine, ListsAndExitsZero) {
  auto r = run_tool(PBX_PROBE_EXE, {}, {"PBX_SYSFS_ROOT="});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
}

TEST(ProbeOnThisMachine, JsonExitsZero) {
  auto r = run_tool(PBX_PROBE_EXE, {"-j", "-v"}, {"PBX_SYSFS_ROOT="});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("{\"devices\": ["));
}

}  // namespace
}  // namespace pbx::test
