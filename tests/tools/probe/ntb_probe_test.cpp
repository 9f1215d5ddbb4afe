// pbx-probe on the NTB families beyond Intel gen3/gen4: Switchtec NT endpoints (BAR0 images of
// a switch the Switchtec model configured with the real driver: partitions, peers, LUT windows,
// requester-ID tables, crosslink, the IOMMU alias check, configuration problems), AMD NTBs
// (side and READY), and Intel Granite Rapids / Diamond Rapids. Golden output, text and JSON.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_sysfs.h"
#include "pbx/ntb/switchtec/switchtec_ntb.h"
#include "support/fake_clock.h"
#include "support/fake_pacer.h"
#include "support/ntb/switchtec_model.h"

namespace pbx::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kTool = PBX_PROBE_EXE;

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

void expect_golden(const std::string& name, const std::string& actual, const FakeSysfs& sys) {
  const std::string text = replace_all(actual, sys.root().string(), "@ROOT@");
  const std::string path = std::string(PBX_PROBE_GOLDEN_DIR) + "/" + name;
  if (std::getenv("PBX_UPDATE_GOLDEN") != nullptr) {
    FakeSysfs::write(path, text);
    return;
  }
  std::ifstream f(path);
  ASSERT_TRUE(f.good()) << "missing golden file " << path << " (run with PBX_UPDATE_GOLDEN=1 to create it)";
  std::stringstream s;
  s << f.rdbuf();
  EXPECT_EQ(text, s.str()) << "output differs from " << path << " (PBX_UPDATE_GOLDEN=1 rewrites it)";
}

FakePciDevice switchtec_function(const std::string& bdf, uint16_t device, int group) {
  FakePciDevice d;
  d.bdf = bdf;
  d.vendor = 0x11f8;
  d.device = device;
  d.class_code = 0x068000;
  d.bars = {{0, 0xd1000000, 32 << 20, BarKind::kMem64},
            {2, 0x3c000000000, 4 << 20, BarKind::kMem64Prefetch},
            {4, 0x3c000400000, 1 << 20, BarKind::kMem64Prefetch}};
  d.driver = "vfio-pci";
  d.iommu_group = group;
  d.pcie_cap = 0x40;
  d.lnkcap = 0x84;
  d.lnksta = 0x84;
  return d;
}

// A three-partition switch the drivers of all three hosts configured: requester IDs, every
// host's LUT windows in its peers' blocks, and one direct window (host 0 into partition 1's BAR4).
std::vector<uint8_t> configured_switch_image(unsigned as_partition) {
  SwitchtecModel sw(SwitchtecModelSpec::mesh(3));
  FakeClock clock;
  FakePacer pacer(clock);
  std::vector<ntb::switchtec::SwitchtecNtb> hosts;
  for (unsigned p = 0; p < 3; ++p) {
    auto d = ntb::switchtec::SwitchtecNtb::attach(sw.attach_params(p, clock, pacer));
    EXPECT_TRUE(d.has_value()) << d.error().message();
    hosts.push_back(std::move(*d));
  }
  for (unsigned p = 0; p < 3; ++p) {
    EXPECT_TRUE(hosts[p].setup_requester_ids().has_value());
    for (unsigned k = 0; k < 2; ++k)
      EXPECT_TRUE(hosts[p].inbound_set_trans(k, 0x80000000ull * (p + 1) + 0x1000000ull * k, 2 * 65536).has_value());
  }
  EXPECT_TRUE(hosts[0].direct_set_trans(0, 4, 0x200000000ull, 1 << 20).has_value());
  EXPECT_TRUE(sw.violations().empty());
  return sw.gas_image(as_partition);
}

class ProbeNtb : public ::testing::Test {
 protected:
  ToolRun run(std::vector<std::string> args) {
    args.insert(args.begin(), {"-i", sys.ids()});
    return run_tool(kTool, args,
                    {"PBX_SYSFS_ROOT=" + sys.root().string(), "PBX_DEV_ROOT=" + (sys.root() / "dev").string(),
                     "PBX_KERNEL_RELEASE=6.1.0-13-amd64"});
  }
  FakeSysfs sys;
};

class ProbeSwitchtec : public ProbeNtb {
 protected:
  void SetUp() override {
    FakePciDevice configured = switchtec_function("0000:05:00.1", 0x4036, 20);
    configured.resource0_image = configured_switch_image(0);
    sys.add(configured);
    FakePciDevice mgmt = switchtec_function("0000:05:00.0", 0x4036, 21);
    mgmt.class_code = 0x058000;  // the management endpoint: not listed
    mgmt.driver = "switchtec";
    sys.add(mgmt);
    // A second switch whose partition 2 has no NT targets in its configuration.
    SwitchtecModelSpec s = SwitchtecModelSpec::mesh(3);
    s.device = 0x8536;
    s.partitions[2].targets = 0;
    s.partitions[1].xlink = 1;  // and partition 1 is a crosslink partition
    SwitchtecModel bare(s);
    FakePciDevice unset = switchtec_function("0000:07:00.1", 0x8536, 22);
    unset.resource0_image = bare.gas_image(2);
    sys.add(unset);
    // A third whose function has memory decoding off: the GAS is not read.
    FakePciDevice off = switchtec_function("0000:09:00.1", 0x5552, 23);
    off.command = 0;
    sys.add(off);
  }
};

TEST_F(ProbeSwitchtec, ListsPartitionsPeersLinksAndTheAliasCheck) {
  auto r = run({});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  expect_golden("switchtec.txt", r.out, sys);
  EXPECT_THAT(r.out, HasSubstr("ntb_partition: 0 of 3, NT partitions 0, 1, 2"));
  EXPECT_THAT(r.out, HasSubstr("ntb_peers: 1, 2 (target partitions)"));
  EXPECT_THAT(r.out, HasSubstr("ntb_crosslink: off"));
  EXPECT_THAT(r.out, HasSubstr("iommu_alias: covered: PFX 96xG3: kernel 6.1.0-13-amd64 aliases"));
  EXPECT_THAT(r.out, HasSubstr("partition 2 of 3 has no NT target partitions"));
  EXPECT_THAT(r.out, HasSubstr("ntb_crosslink: on (partitions 1)"));
  EXPECT_THAT(r.out, HasSubstr("memory decoding is off"));
  EXPECT_THAT(r.out, Not(HasSubstr("0000:05:00.0"))) << "the management endpoint is not an NT function";
}

TEST_F(ProbeSwitchtec, VerboseShowsWindowsLutEntriesAndRequesterIds) {
  auto r = run({"-v", "-s", "05:00.1"});
  EXPECT_EQ(r.status, 0) << r.err;
  expect_golden("switchtec_verbose.txt", r.out, sys);
  // Partition 0's block: partitions 1 and 2 programmed their ranges (entries 0.. and 16..).
  EXPECT_THAT(r.out, HasSubstr("lut 0: -> partition 1 at 0x0000000100000000"));
  EXPECT_THAT(r.out, HasSubstr("lut 16: -> partition 2 at 0x0000000180000000"));
  EXPECT_THAT(r.out, HasSubstr("rid 0: 00:00.0 -> proxy 00.0"));
  EXPECT_THAT(r.out, HasSubstr("bar4: direct 1M -> partition 0 at 0x0000000200000000"));
  EXPECT_THAT(r.out, HasSubstr("bar2: lut 32 x 64K"));
}

TEST_F(ProbeSwitchtec, JsonHasTheSameFacts) {
  auto r = run({"-j"});
  EXPECT_EQ(r.status, 0) << r.err;
  expect_golden("switchtec.json", r.out, sys);
  if (::access("/usr/bin/python3", X_OK) == 0) {
    const std::string file = (sys.root() / "out.json").string();
    FakeSysfs::write(file, r.out);
    const std::string check =
        "import json,sys; d=json.load(open(sys.argv[1]))['devices']; s=d[0]['switchtec']; "
        "assert s['peers']==[1,2], s; assert s['partitions'][0]['luts'][0]['partition']==1; "
        "assert d[1]['switchtec']['problem'] is not None; assert d[0]['hal_backend'] is True; "
        "assert d[0]['spec']=='ntb:0000:05:00.1'";
    EXPECT_EQ(std::system(("/usr/bin/python3 -c \"" + check + "\" " + file).c_str()), 0) << r.out;
  }
}

TEST_F(ProbeNtb, AmdShowsItsSideAndTheReadyFlags) {
  FakePciDevice d;
  d.bdf = "0000:41:00.1";
  d.vendor = 0x1022;
  d.device = 0x148b;
  d.class_code = 0x068000;
  d.bars = {{0, 0xd0000000, 1 << 20, BarKind::kMem64}, {2, 0x40000000000, 256 << 20, BarKind::kMem64Prefetch},
            {4, 0x40010000000, 256 << 20, BarKind::kMem64Prefetch}};
  d.driver = "vfio-pci";
  d.iommu_group = 30;
  d.has_resource0 = true;
  d.bar0_32 = {{0x408, 0x3}, {0x808, 0x0}};  // secondary, READY set; the primary's READY clear
  sys.add(d);
  auto r = run({});
  EXPECT_EQ(r.status, 0) << r.err;
  expect_golden("amd.txt", r.out, sys);
  EXPECT_THAT(r.out, HasSubstr("ntb_side: secondary node 1 (SIDEINFO 0x00000003)"));
  EXPECT_THAT(r.out, HasSubstr("ntb_ready: self yes, peer no"));
  auto j = run({"-j"});
  EXPECT_THAT(j.out, HasSubstr("\"amd\": {\"side\": \"secondary\", \"node\": 1, \"sideinfo\": \"0x3\", \"ready\": true"));
}

TEST_F(ProbeNtb, GraniteAndDiamondRapidsShowTheirTopology) {
  for (auto [bdf, device, ppd1] : {std::tuple{"0000:20:00.0", 0x0db4, 0x4200u}, std::tuple{"0000:21:00.0", 0x7868, 0x0200u}}) {
    FakePciDevice d;
    d.bdf = bdf;
    d.vendor = 0x8086;
    d.device = static_cast<uint16_t>(device);
    d.class_code = 0x068000;
    d.bars = {{0, 0xc5000000, 64 << 10, BarKind::kMem64}, {2, 0x3b000000000, 1ull << 30, BarKind::kMem64Prefetch},
              {4, 0x3b040000000, 1ull << 30, BarKind::kMem64Prefetch}};
    d.driver = "vfio-pci";
    d.iommu_group = 40;
    d.cfg8 = {{0xc4, 30}, {0xc5, 30}, {0xc6, 30}, {0xc7, 30}};
    d.has_resource0 = true;
    d.bar0_32 = {{0xb4c0, ppd1}};
    d.bar0_16 = {{0xb052, 0x2105}};  // up, 32 GT/s x16
    sys.add(d);
  }
  auto r = run({"-v"});
  EXPECT_EQ(r.status, 0) << r.err;
  expect_golden("intel_gnr_dmr.txt", r.out, sys);
  EXPECT_THAT(r.out, HasSubstr("kind: intel-gen4 (GNR, Granite Rapids)"));
  EXPECT_THAT(r.out, HasSubstr("ntb_topology: b2b dsd node 1 (PPD1 (BAR0 0xb4c0) = 0x00004200)"));
  EXPECT_THAT(r.out, HasSubstr("kind: intel-gen4 (DMR, Diamond Rapids)"));
  EXPECT_THAT(r.out, HasSubstr("ntb_link: up 32 GT/s x16"));
}

}  // namespace
}  // namespace pbx::test
