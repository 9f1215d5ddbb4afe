// pbx-probe against fake sysfs trees built here: golden output for listing (text, verbose,
// numeric, JSON), the topology diagnostics, the exit statuses, and bind/unbind's writes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_sysfs.h"

namespace pbx::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kTool = PBX_PROBE_EXE;

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

// Compares with tests/tools/probe/golden/<name>; PBX_UPDATE_GOLDEN=1 rewrites the file instead.
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

FakePciDevice skx_usd() {
  FakePciDevice d;
  d.bdf = "0000:af:00.0";
  d.vendor = 0x8086;
  d.device = 0x201c;
  d.revision = 0x04;
  d.class_code = 0x068000;
  d.bars = {{0, 0xc3000000, 64 << 10, BarKind::kMem64},
            {2, 0x38000000000, 512 << 20, BarKind::kMem64Prefetch},
            {4, 0x38020000000, 512 << 20, BarKind::kMem64Prefetch}};
  d.driver = "vfio-pci";
  d.iommu_group = 42;
  d.numa_node = 1;
  d.pcie_cap = 0x90;
  d.lnkcap = 0x103;
  d.lnksta = 0x103;
  d.cfg8 = {{0xd4, 0x01}, {0xd0, 29}, {0xd1, 29}, {0xd2, 29}, {0xd3, 29}};
  d.cfg16 = {{0x1a2, 0x2103}};
  return d;
}

FakePciDevice spr_dsd() {
  FakePciDevice d;
  d.bdf = "0000:17:00.0";
  d.vendor = 0x8086;
  d.device = 0x347e;
  d.revision = 0x10;
  d.class_code = 0x068000;
  d.bars = {{0, 0xc4000000, 64 << 10, BarKind::kMem64},
            {2, 0x3a000000000, 1ull << 30, BarKind::kMem64Prefetch},
            {4, 0x3a040000000, 1ull << 30, BarKind::kMem64Prefetch}};
  d.driver = "ntb_hw_intel";
  d.iommu_group = 43;
  d.pcie_cap = 0x40;
  d.lnkcap = 0x104;
  d.lnksta = 0x104;
  d.cfg8 = {{0xc4, 30}, {0xc5, 30}, {0xc6, 30}, {0xc7, 30}};
  d.has_resource0 = true;
  d.bar0_32 = {{0xb4c0, 0x4200}};  // PPD1: B2B, DSD (SPR layout)
  d.bar0_16 = {{0xb052, 0x2104}};  // LINK_STATUS: up, 16 GT/s x16
  return d;
}

FakePciDevice ivshmem() {
  FakePciDevice d;
  d.bdf = "0000:00:06.0";
  d.vendor = 0x1af4;
  d.device = 0x1110;
  d.revision = 0x01;
  d.class_code = 0x050000;
  d.bars = {{0, 0xfea00000, 256, BarKind::kMem32},
            {1, 0xfea01000, 4096, BarKind::kMem32},
            {2, 0x800000000, 4 << 20, BarKind::kMem64Prefetch}};
  d.iommu_group = 7;
  return d;
}

FakePciDevice amd_ntb() {
  FakePciDevice d;
  d.bdf = "0000:41:00.1";
  d.vendor = 0x1022;
  d.device = 0x148b;
  d.class_code = 0x068000;
  d.bars = {{0, 0xd0000000, 1 << 20, BarKind::kMem64}, {2, 0x40000000000, 256 << 20, BarKind::kMem64Prefetch}};
  return d;
}

FakePciDevice switchtec_nt() {
  FakePciDevice d;
  d.bdf = "0000:05:00.1";
  d.vendor = 0x11f8;
  d.device = 0x8536;
  d.class_code = 0x068000;
  d.bars = {{0, 0xd1000000, 32 << 20, BarKind::kMem64}};
  d.driver = "switchtec";
  d.iommu_group = 12;
  return d;
}

FakePciDevice virtio_net() {
  FakePciDevice d;
  d.bdf = "0000:00:03.0";
  d.vendor = 0x1af4;
  d.device = 0x1041;
  d.revision = 0x01;
  d.class_code = 0x020000;
  d.bars = {{4, 0xfe000000, 16 << 10, BarKind::kMem64Prefetch}};
  d.driver = "virtio-pci";
  return d;
}

class ProbeList : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& d : {skx_usd(), spr_dsd(), ivshmem(), amd_ntb(), switchtec_nt(), virtio_net()}) sys.add(d);
  }
  ToolRun run(std::vector<std::string> args) {
    args.insert(args.begin(), {"-i", sys.ids()});
    return run_tool(kTool, args,
                    {"PBX_SYSFS_ROOT=" + sys.root().string(), "PBX_DEV_ROOT=" + (sys.root() / "dev").string(),
                     "PBX_KERNEL_RELEASE=6.1.0-13-amd64"});
  }
  FakeSysfs sys;
};

TEST_F(ProbeList, ListsSupportedDevicesInAddressOrder) {
  auto r = run({});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  expect_golden("list.txt", r.out, sys);
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("Virtio"))) << "unsupported devices are not listed";
}

TEST_F(ProbeList, VerboseAddsClassSubsystemNumaWindowSizesAndVfioNodeAccess) {
  FakeSysfs::write(sys.root() / "dev/vfio/42", "");  // the node of the SKX's group exists
  auto r = run({"-v"});
  EXPECT_EQ(r.status, 0) << r.err;
  expect_golden("list_verbose.txt", r.out, sys);
}

TEST_F(ProbeList, NumericLeavesOutNames) {
  auto r = run({"-n"});
  EXPECT_EQ(r.status, 0) << r.err;
  expect_golden("list_numeric.txt", r.out, sys);
}

TEST_F(ProbeList, JsonHasStableKeysAndParses) {
  auto r = run({"-j"});
  EXPECT_EQ(r.status, 0) << r.err;
  expect_golden("list.json", r.out, sys);
  if (::access("/usr/bin/python3", X_OK) == 0) {
    const std::string file = (sys.root() / "out.json").string();
    FakeSysfs::write(file, r.out);
    EXPECT_EQ(std::system(("/usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' " + file).c_str()), 0)
        << "not valid JSON";
  }
}

TEST_F(ProbeList, SlotSelectsOneDevice) {
  auto r = run({"-s", "17:00.0"});
  EXPECT_EQ(r.status, 0) << r.err;
  expect_golden("list_slot.txt", r.out, sys);
}

TEST_F(ProbeList, PartialSlotMatchingNothingSaysSo) {
  auto r = run({"-s", "ff:"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "no supported NTB or ivshmem devices found matching -s ff:\n");
}

TEST_F(ProbeList, UnknownAddressIsAnErrorNamingIt) {
  auto r = run({"-s", "0000:99:00.0"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "pbx-probe: 0000:99:00.0: no such PCI device\n");
}

TEST_F(ProbeList, UnsupportedAddressIsAnErrorNamingTheDevice) {
  auto r = run({"-s", "00:03.0"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "pbx-probe: 0000:00:03.0 [1af4:1041] Red Hat, Inc. Virtio 1.0 network device: not a supported NTB or "
            "ivshmem device (pbx-probe --help lists them)\n");
}

TEST_F(ProbeList, UsageErrorsExitTwo) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"-s", "zz:zz"}, {"--bogus"}, {"-s"}, {"frobnicate"}, {"list", "extra"}, {"bind"}, {"bind", "nonsense"}}) {
    auto r = run(args);
    EXPECT_EQ(r.status, 2) << args[0];
    EXPECT_THAT(r.err, StartsWith("pbx-probe: ")) << args[0];
    EXPECT_THAT(r.err, HasSubstr("Try 'pbx-probe --help'.")) << args[0];
    EXPECT_EQ(r.out, "") << args[0];
  }
}

TEST_F(ProbeList, HelpGoesToStdoutAndExitsZero) {
  auto r = run({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, StartsWith("Usage: pbx-probe"));
  EXPECT_THAT(r.out, HasSubstr("8086:201c"));
  EXPECT_THAT(r.out, HasSubstr("1af4:1110"));
}

TEST(ProbeEmpty, NoSupportedDeviceIsAClearLineAndExitZero) {
  FakeSysfs sys;
  sys.add(virtio_net());
  const std::vector<std::string> env{"PBX_SYSFS_ROOT=" + sys.root().string()};
  auto r = run_tool(kTool, {"-i", sys.ids()}, env);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "no supported NTB or ivshmem devices found\n");
  auto j = run_tool(kTool, {"-j"}, env);
  EXPECT_EQ(j.status, 0);
  EXPECT_EQ(j.out, "{\"devices\": []}\n");
}

TEST(ProbeEmpty, MissingSysfsIsAFailure) {
  auto r = run_tool(kTool, {}, {"PBX_SYSFS_ROOT=/nonexistent-pbx"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent-pbx/bus/pci/devices does not exist"));
}

TEST(ProbeEmpty, AnIncompleteSysfsEntryIsAFailureNamingTheDevice) {
  FakeSysfs sys;
  sys.add(skx_usd());
  fs::remove(sys.root() / "bus/pci/devices/0000:af:00.0/resource");
  auto r = run_tool(kTool, {}, {"PBX_SYSFS_ROOT=" + sys.root().string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("pbx-probe: read 0000:af:00.0: Cannot open "));
  EXPECT_THAT(r.err, HasSubstr("0000:af:00.0/resource"));
}

TEST(ProbeTopology, ExplainsUnusableTopologiesAndUnreadableRegisters) {
  FakeSysfs sys;
  FakePciDevice transparent = skx_usd();
  transparent.cfg8[0] = {0xd4, 0x00};
  transparent.cfg16 = {{0x1a2, 0x0000}};
  sys.add(transparent);
  FakePciDevice split = skx_usd();
  split.bdf = "0000:b0:00.0";
  split.iommu_group = 44;
  split.cfg8[0] = {0xd4, 0x51};  // B2B, DSD, split BAR
  sys.add(split);
  FakePciDevice off = spr_dsd();
  off.command = 0x0000;  // memory decoding off: BAR0 is not read
  sys.add(off);
  FakePciDevice dead = spr_dsd();
  dead.bdf = "0000:18:00.0";
  dead.revision = 0x04;  // ICX
  dead.iommu_group = 45;
  dead.bar0_32 = {{0xb4c0, 0xffffffff}};
  sys.add(dead);
  FakePciDevice preprod = spr_dsd();
  preprod.bdf = "0000:19:00.0";
  preprod.revision = 0x01;
  preprod.iommu_group = 46;
  sys.add(preprod);
  auto r = run_tool(kTool, {"-i", sys.ids()}, {"PBX_SYSFS_ROOT=" + sys.root().string()});
  EXPECT_EQ(r.status, 0) << r.err;
  expect_golden("topology.txt", r.out, sys);
  EXPECT_THAT(r.out, HasSubstr("'Non-Transparent Bridge PCIe Port Definition' to 'NTB to NTB'"));
  EXPECT_THAT(r.out, HasSubstr("'Enable SPLIT BARs' to Disabled"));
}

// ---- bind / unbind ------------------------------------------------------------------------

class ProbeBind : public ::testing::Test {
 protected:
  void SetUp() override {
    FakePciDevice d = skx_usd();
    d.driver = "ntb_hw_intel";
    sys.add(d);
    sys.add(virtio_net());
    // A modprobe stand-in: records its arguments and "loads" the driver (creates its directory).
    modprobe = (sys.root() / "modprobe").string();
    FakeSysfs::write(modprobe, "#!/bin/sh\necho \"$@\" > " + (sys.root() / "modprobe.args").string() + "\nmkdir -p " +
                                   (sys.root() / "bus/pci/drivers/vfio-pci").string() + "\n");
    ::chmod(modprobe.c_str(), 0755);
  }
  ToolRun run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--modprobe", modprobe});
    return run_tool(kTool, args, {"PBX_SYSFS_ROOT=" + sys.root().string()});
  }
  FakeSysfs sys;
  std::string modprobe;
};

TEST_F(ProbeBind, LoadsVfioPciSetsOverrideUnbindsAndProbes) {
  auto r = run({"bind", "af:00.0"});
  // The fake tree has no kernel behind it: the device cannot really bind, and the tool must say so.
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out,
            "loaded kernel module vfio-pci\n"
            "0000:af:00.0: driver_override = vfio-pci\n"
            "0000:af:00.0: unbound from ntb_hw_intel\n");
  EXPECT_THAT(r.err, HasSubstr("0000:af:00.0: driver_override is vfio-pci but the device is bound to ntb_hw_intel"));
  EXPECT_THAT(r.err, HasSubstr("intel_iommu=on"));
  EXPECT_EQ(sys.read("modprobe.args"), "-q vfio-pci\n");
  EXPECT_EQ(sys.read("bus/pci/devices/0000:af:00.0/driver_override"), "vfio-pci");
  EXPECT_EQ(sys.read("bus/pci/drivers/ntb_hw_intel/unbind"), "0000:af:00.0");
  EXPECT_EQ(sys.read("bus/pci/drivers_probe"), "0000:af:00.0");
}

TEST_F(ProbeBind, AlreadyBoundIsDoneWithoutWrites) {
  FakePciDevice d = skx_usd();
  d.bdf = "0000:b0:00.0";
  sys.add(d);  // bound to vfio-pci
  auto r = run({"bind", "0000:b0:00.0"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "0000:b0:00.0: already bound to vfio-pci\n");
  EXPECT_EQ(sys.read("bus/pci/drivers_probe"), "");
}

TEST_F(ProbeBind, RefusesUnsupportedDevicesUnlessForced) {
  auto r = run({"bind", "00:03.0"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("0000:00:03.0 [1af4:1041] is not a supported NTB or ivshmem device"));
  EXPECT_THAT(r.err, HasSubstr("--force"));
  EXPECT_EQ(sys.read("bus/pci/devices/0000:00:03.0/driver_override"), "(null)\n");
  auto f = run({"--force", "bind", "00:03.0"});
  EXPECT_THAT(f.out, HasSubstr("0000:00:03.0: unbound from virtio-pci"));
  EXPECT_EQ(sys.read("bus/pci/devices/0000:00:03.0/driver_override"), "vfio-pci");
}

TEST_F(ProbeBind, UnknownDeviceIsAnErrorNamingIt) {
  auto r = run({"bind", "0000:99:00.0"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("0000:99:00.0: no such PCI device"));
}

TEST_F(ProbeBind, UnbindClearsOverrideUnbindsAndReprobes) {
  FakePciDevice d = skx_usd();
  d.bdf = "0000:b0:00.0";
  sys.add(d);  // bound to vfio-pci
  auto r = run({"unbind", "0000:b0:00.0"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("0000:b0:00.0: unbound from vfio-pci\n"));
  EXPECT_EQ(sys.read("bus/pci/devices/0000:b0:00.0/driver_override"), "\n");
  EXPECT_EQ(sys.read("bus/pci/drivers/vfio-pci/unbind"), "0000:b0:00.0");
  EXPECT_EQ(sys.read("bus/pci/drivers_probe"), "0000:b0:00.0");
}

}  // namespace
}  // namespace pbx::test
