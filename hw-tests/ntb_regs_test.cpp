// Register-level checks on a real AMD NTB or Switchtec NT endpoint, read-only through the sysfs
// BAR0 mapping (root): nothing is written, so they are safe on a host whose link is in use.
// Skipped, saying why, without such a device (or on ivshmem / Intel, which have their own).
//
//   PBX_DEVICE=0000:41:00.1 ctest --preset release -L hw-device -R NtbRegs
#include <sys/utsname.h>

#include <atomic>
#include <cstdio>

#include <gtest/gtest.h>

#include "common/test_device.h"
#include "pbx/ntb/amd/regs.h"
#include "pbx/ntb/switchtec/gas.h"
#include "pbx/ntb/switchtec/ids.h"
#include "pbx/ntb/switchtec/topology.h"

namespace pbx::hwtest {
namespace {

namespace sw = ntb::switchtec;

class NtbRegsSwitchtec : public DeviceTest {
 protected:
  NtbRegsSwitchtec() : DeviceTest({DeviceKind::kSwitchtecNtb}) {}
};

class NtbRegsAmd : public DeviceTest {
 protected:
  NtbRegsAmd() : DeviceTest({DeviceKind::kAmdNtb}) {}
};

TEST_F(NtbRegsSwitchtec, TheGasDescribesAPartitionSetUpForNtb) {
  auto bar0 = map_sysfs_bar(dev_, 0);
  ASSERT_TRUE(bar0) << bar0.error().message();
  auto gas = sw::GasView::over(std::span<std::byte>(bar0->data(), bar0->size()), dev_.bdf);
  ASSERT_TRUE(gas) << gas.error().message();
  const sw::RawInfo info = sw::read_info(*gas);
  auto topo = sw::decode_topology(info, dev_.bdf);
  ASSERT_TRUE(topo) << topo.error().message();
  EXPECT_FALSE(topo->crosslink) << "crosslink is not driven by postbox yet";
  const sw::CtrlSnapshot own = sw::read_ctrl(*gas, topo->self);
  auto plan = sw::plan_luts(info, topo->self, own.lut_table_entries, dev_.bdf);
  EXPECT_TRUE(plan) << plan.error().message();
  auto link = sw::read_partition_link(*gas, topo->self);
  ASSERT_TRUE(link) << link.error().message();
  EXPECT_GT(link->width, 0) << "partition " << unsigned{topo->self} << " reports no link";
  RecordProperty("peers", static_cast<int>(topo->peers.size()));
}

TEST_F(NtbRegsSwitchtec, TheKernelAliasesTheProxyRequesterIds) {
  utsname u{};
  ASSERT_EQ(::uname(&u), 0);
  const auto q = sw::check_alias_quirk(dev_.vendor, dev_.device, u.release);
  EXPECT_NE(q.state, sw::AliasQuirk::State::kMissing) << q.message;
  if (q.state == sw::AliasQuirk::State::kUnknown) std::printf("note: %s\n", q.message.c_str());
}

TEST_F(NtbRegsAmd, SideinfoAnswersAndNamesASide) {
  auto bar0 = map_sysfs_bar(dev_, 0);
  ASSERT_TRUE(bar0) << bar0.error().message();
  ASSERT_GE(bar0->size(), ntb::amd::kBar0Size);
  auto load = [&](std::size_t off) {
    return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(bar0->data() + off)).load(std::memory_order_relaxed);
  };
  const uint32_t side = load(ntb::amd::Regs::sideinfo.offset);
  ASSERT_NE(side, 0xffffffffu) << dev_.bdf << ": SIDEINFO reads all ones (memory decoding off, or D3)";
  const uint32_t peer = load(ntb::amd::Regs::peer_sideinfo.offset);
  EXPECT_NE(peer, 0xffffffffu) << dev_.bdf << ": the peer's SIDEINFO (BAR0+0x808) reads all ones";
  std::printf("%s: %s side, READY %s, peer READY %s\n", dev_.bdf.c_str(),
              (side & ntb::amd::kSideMask) != 0 ? "secondary" : "primary", (side & ntb::amd::kSideReady) ? "set" : "clear",
              (peer & ntb::amd::kSideReady) ? "set" : "clear");
}

}  // namespace
}  // namespace pbx::hwtest
