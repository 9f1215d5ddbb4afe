// udev/70-postbox-vfio.rules: its PCI IDs (and the Switchtec vendor/class matches) follow the
// drivers' tables, every line is
// well-formed udev syntax, and its two shell snippets do what they claim when run against a
// fake sysfs tree (the group check picks only groups with a supported device; the re-probe
// unbinds a kernel driver but leaves vfio-pci alone).
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/ntb/amd/ids.h"
#include "pbx/ntb/intel/ids.h"
#include "supported.h"

namespace pbx {
namespace {

namespace fs = std::filesystem;
using Id = std::pair<unsigned, unsigned>;

std::vector<std::string> rule_lines() {
  std::ifstream f(PBX_UDEV_RULES);
  EXPECT_TRUE(f.good()) << PBX_UDEV_RULES;
  std::vector<std::string> lines;
  for (std::string l; std::getline(f, l);) lines.push_back(l);
  return lines;
}

std::set<Id> expected_ids() {
  std::set<Id> ids;
  for (probe::PciId id : probe::vfio_bind_ids()) ids.insert({id.vendor, id.device});
  return ids;
}

std::set<Id> expected_classes() {
  std::set<Id> c;
  for (probe::PciClassMatch m : probe::vfio_bind_classes()) c.insert({m.vendor, m.class_code});
  return c;
}

TEST(UdevRules, PciMatchesAreTheDriversSupportedIds) {
  const std::regex match(R"re(ATTR\{vendor\}=="0x([0-9a-f]{4})", ATTR\{device\}=="0x([0-9a-f]{4})")re");
  std::set<Id> in_rules;
  for (const auto& l : rule_lines())
    for (std::sregex_iterator it(l.begin(), l.end(), match), end; it != end; ++it)
      in_rules.insert({std::stoul((*it)[1], nullptr, 16), std::stoul((*it)[2], nullptr, 16)});
  EXPECT_EQ(in_rules, expected_ids());
  for (uint16_t d : ntb::intel::supported_device_ids()) EXPECT_TRUE(in_rules.count({0x8086, d})) << std::hex << d;
  for (const auto& p : ntb::amd::parts()) EXPECT_TRUE(in_rules.count({p.vendor, p.device})) << std::hex << p.device;
  EXPECT_TRUE(in_rules.count({0x1af4, 0x1110}));
}

TEST(UdevRules, SwitchtecNtEndpointsAreMatchedByVendorAndClass) {
  const std::regex match(R"re(ATTR\{vendor\}=="0x([0-9a-f]{4})", ATTR\{class\}=="0x([0-9a-f]{6})")re");
  std::set<Id> in_rules;
  for (const auto& l : rule_lines())
    for (std::sregex_iterator it(l.begin(), l.end(), match), end; it != end; ++it)
      in_rules.insert({std::stoul((*it)[1], nullptr, 16), std::stoul((*it)[2], nullptr, 16)});
  EXPECT_EQ(in_rules, expected_classes());
  EXPECT_TRUE(in_rules.count({0x11f8, 0x068000}));
  EXPECT_FALSE(in_rules.count({0x11f8, 0x058000})) << "never the management endpoint";
}

std::string snippet(const std::string& key) {
  // KEY="/bin/sh -c '<script>'"
  for (const auto& l : rule_lines()) {
    const auto at = l.find(key + "=\"/bin/sh -c '");
    if (at == std::string::npos) continue;
    const auto begin = at + key.size() + std::string("=\"/bin/sh -c '").size();
    const auto end = l.find("'\"", begin);
    if (end != std::string::npos) return l.substr(begin, end - begin);
  }
  ADD_FAILURE() << "no " << key << " shell snippet in the rules";
  return {};
}

TEST(UdevRules, VfioGroupCheckListsTheSameIds) {
  const std::string prog = snippet("PROGRAM");
  const std::regex pair(R"(0x([0-9a-f]{4}):0x([0-9a-f]{4})(?![0-9a-f]))");
  std::set<Id> in_case;
  for (std::sregex_iterator it(prog.begin(), prog.end(), pair), end; it != end; ++it)
    in_case.insert({std::stoul((*it)[1], nullptr, 16), std::stoul((*it)[2], nullptr, 16)});
  EXPECT_EQ(in_case, expected_ids());
  const std::regex cls(R"(0x([0-9a-f]{4}):0x([0-9a-f]{6}))");
  std::set<Id> in_class;
  for (std::sregex_iterator it(prog.begin(), prog.end(), cls), end; it != end; ++it)
    in_class.insert({std::stoul((*it)[1], nullptr, 16), std::stoul((*it)[2], nullptr, 16)});
  EXPECT_EQ(in_class, expected_classes());
}

// Minimal udev syntax check: KEY[{attr}] OP "value" pairs separated by commas.
TEST(UdevRules, EveryLineIsWellFormed) {
  const std::regex pair_re(R"re(\s*([A-Z_]+(\{[^}]+\})?)\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*)re");
  const std::set<std::string> keys{"ACTION", "SUBSYSTEM", "KERNEL", "ATTR", "PROGRAM", "GROUP", "MODE", "RUN", "GOTO", "LABEL"};
  std::set<std::string> labels, gotos;
  for (const auto& l : rule_lines()) {
    if (l.empty() || l[0] == '#') continue;
    std::string rest = l;
    while (!rest.empty()) {
      std::smatch m;
      ASSERT_TRUE(std::regex_search(rest, m, pair_re, std::regex_constants::match_continuous)) << "bad rule: " << l;
      std::string key = m[1];
      key = key.substr(0, key.find('{'));
      EXPECT_TRUE(keys.count(key)) << "unexpected key " << key << " in: " << l;
      if (key == "LABEL") labels.insert(m[4]);
      if (key == "GOTO") gotos.insert(m[4]);
      rest = m.suffix();
      if (!rest.empty()) {
        ASSERT_EQ(rest[0], ',') << "missing comma in: " << l;
        rest.erase(0, 1);
      }
    }
  }
  EXPECT_EQ(labels, gotos) << "every GOTO needs its LABEL and every LABEL a GOTO";
}

class UdevScripts : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string t = (fs::temp_directory_path() / "pbx-udev-XXXXXX").string();
    root = ::mkdtemp(t.data());
    fs::create_directories(root / "bus/pci/devices");
    fs::create_directories(root / "bus/pci/drivers");
    fs::create_directories(root / "kernel/iommu_groups");
    std::ofstream(root / "bus/pci/drivers_probe");
  }
  void TearDown() override { fs::remove_all(root); }

  void device(const std::string& bdf, const char* vendor, const char* dev, const std::string& driver, int group,
              const char* cls = "0x068000") {
    const fs::path d = root / "bus/pci/devices" / bdf;
    fs::create_directories(d);
    std::ofstream(d / "vendor") << vendor << "\n";
    std::ofstream(d / "device") << dev << "\n";
    std::ofstream(d / "class") << cls << "\n";
    if (!driver.empty()) {
      fs::create_directories(root / "bus/pci/drivers" / driver);
      std::ofstream(root / "bus/pci/drivers" / driver / "unbind");
      fs::create_directory_symlink("../../drivers/" + driver, d / "driver");
    }
    const fs::path g = root / "kernel/iommu_groups" / std::to_string(group) / "devices";
    fs::create_directories(g);
    fs::create_directory_symlink(d, g / bdf);
  }

  // Runs a snippet as udev would: $$ -> $, %k / %n substituted, /sys pointing at the fake tree.
  int run(std::string script, const std::string& k, const std::string& n) {
    auto replace = [&](const std::string& from, const std::string& to) {
      for (auto p = script.find(from); p != std::string::npos; p = script.find(from, p + to.size()))
        script.replace(p, from.size(), to);
    };
    replace("$$", "$");
    replace("%k", k);
    replace("%n", n);
    replace("/sys/", root.string() + "/");
    const int status = std::system(("/bin/sh -c '" + script + "'").c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string read(const fs::path& p) {
    std::ifstream f(root / p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

  fs::path root;
};

TEST_F(UdevScripts, GroupCheckAcceptsOnlyGroupsWithASupportedDevice) {
  device("0000:af:00.0", "0x8086", "0x201c", "vfio-pci", 42);
  device("0000:00:03.0", "0x1af4", "0x1041", "virtio-pci", 7);
  device("0000:00:04.0", "0x1af4", "0x1041", "", 9);
  device("0000:00:05.0", "0x1af4", "0x1110", "vfio-pci", 9);
  const std::string prog = snippet("PROGRAM");
  EXPECT_EQ(run(prog, "42", "42"), 0);
  EXPECT_EQ(run(prog, "noiommu-42", "42"), 0);
  EXPECT_EQ(run(prog, "7", "7"), 1);
  EXPECT_EQ(run(prog, "9", "9"), 0);
  EXPECT_EQ(run(prog, "13", "13"), 1) << "a group that does not exist";
}

TEST_F(UdevScripts, GroupCheckTakesSwitchtecNtEndpointsAndAmdButNotTheManagementEndpoint) {
  device("0000:05:00.1", "0x11f8", "0x4036", "vfio-pci", 20);              // NT endpoint
  device("0000:05:00.0", "0x11f8", "0x4036", "switchtec", 21, "0x058000"); // management endpoint
  device("0000:06:00.1", "0x11f8", "0x6000", "", 22);                      // a newer switch: by class
  device("0000:41:00.1", "0x1022", "0x148b", "vfio-pci", 23);
  const std::string prog = snippet("PROGRAM");
  EXPECT_EQ(run(prog, "20", "20"), 0);
  EXPECT_EQ(run(prog, "21", "21"), 1);
  EXPECT_EQ(run(prog, "22", "22"), 0);
  EXPECT_EQ(run(prog, "23", "23"), 0);
}

TEST_F(UdevScripts, ReprobeUnbindsAKernelDriverButNotVfioPci) {
  device("0000:af:00.0", "0x8086", "0x201c", "ntb_hw_intel", 42);
  device("0000:b0:00.0", "0x8086", "0x201c", "vfio-pci", 43);
  device("0000:b1:00.0", "0x8086", "0x347e", "", 44);
  const std::string run_sh = snippet("RUN+");
  EXPECT_EQ(run(run_sh, "0000:af:00.0", "0"), 0);
  EXPECT_EQ(read("bus/pci/drivers/ntb_hw_intel/unbind"), "0000:af:00.0\n");
  EXPECT_EQ(read("bus/pci/drivers_probe"), "0000:af:00.0\n");
  EXPECT_EQ(run(run_sh, "0000:b0:00.0", "0"), 0);
  EXPECT_EQ(read("bus/pci/drivers/vfio-pci/unbind"), "") << "already on vfio-pci: untouched";
  EXPECT_EQ(read("bus/pci/drivers_probe"), "0000:af:00.0\n");
  EXPECT_EQ(run(run_sh, "0000:b1:00.0", "0"), 0);
  EXPECT_EQ(read("bus/pci/drivers_probe"), "0000:b1:00.0\n") << "no driver: just probe";
}

}  // namespace
}  // namespace pbx
