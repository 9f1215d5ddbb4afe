// A fake sysfs tree for pbx-probe tests: PCI devices with vendor/device/class files, a 4 KiB
// config space, a resource table, driver and IOMMU-group links, and optionally a BAR0 file
// (resource0) holding registers. Plus a small pci.ids and a runner for the tool.
#pragma once

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern char** environ;

namespace pbx::test {

namespace fs = std::filesystem;

// BAR kinds, as the kernel's resource file encodes them (IORESOURCE_* flags).
enum class BarKind : uint8_t { kMem32, kMem64, kMem64Prefetch, kIo };

struct FakeBar {
  unsigned index;
  uint64_t addr;
  uint64_t size;
  BarKind kind;
};

struct FakePciDevice {
  std::string bdf;
  uint16_t vendor = 0, device = 0;
  uint8_t revision = 0;
  uint32_t class_code = 0;  // 24-bit
  uint16_t command = 0x0006;
  std::vector<FakeBar> bars;
  std::string driver;                // empty: none
  std::optional<int> iommu_group;
  int numa_node = -1;
  uint8_t pcie_cap = 0;              // offset of the PCIe capability; 0: none
  uint16_t lnkcap = 0, lnksta = 0;   // speed | width << 4
  std::vector<std::pair<uint32_t, uint32_t>> cfg8;   // extra config bytes (offset, value)
  std::vector<std::pair<uint32_t, uint32_t>> cfg16;  // extra config words
  std::vector<std::pair<uint32_t, uint32_t>> bar0_32;  // registers in resource0 (offset, value)
  std::vector<std::pair<uint32_t, uint32_t>> bar0_16;
  bool has_resource0 = false;
  std::vector<uint8_t> resource0_image;  // when set: resource0 holds exactly these bytes
};

inline std::string hex(uint64_t v, int digits) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%0*llx", digits, static_cast<unsigned long long>(v));
  return b;
}

class FakeSysfs {
 public:
  FakeSysfs() {
    std::string tmpl = (fs::temp_directory_path() / "pbx-probe-XXXXXX").string();
    root_ = ::mkdtemp(tmpl.data());
    fs::create_directories(root_ / "bus/pci/devices");
    fs::create_directories(root_ / "bus/pci/drivers");
    fs::create_directories(root_ / "kernel/iommu_groups");
    fs::create_directories(root_ / "dev/vfio");
    write(root_ / "bus/pci/drivers_probe", "");
    write(root_ / "pci.ids", kPciIds);
  }
  ~FakeSysfs() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  FakeSysfs(const FakeSysfs&) = delete;
  FakeSysfs& operator=(const FakeSysfs&) = delete;

  const fs::path& root() const { return root_; }
  std::string ids() const { return (root_ / "pci.ids").string(); }
  std::string read(const fs::path& p) const {
    std::ifstream f(root_ / p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

  void add_driver(const std::string& name) {
    fs::create_directories(root_ / "bus/pci/drivers" / name);
    write(root_ / "bus/pci/drivers" / name / "unbind", "");
    write(root_ / "bus/pci/drivers" / name / "bind", "");
  }

  void add(const FakePciDevice& d) {
    const fs::path dir = root_ / "bus/pci/devices" / d.bdf;
    fs::create_directories(dir);
    write(dir / "vendor", hex(d.vendor, 4) + "\n");
    write(dir / "device", hex(d.device, 4) + "\n");
    write(dir / "class", hex(d.class_code, 6) + "\n");
    write(dir / "revision", hex(d.revision, 2) + "\n");
    write(dir / "subsystem_vendor", hex(d.vendor, 4) + "\n");
    write(dir / "subsystem_device", "0x0000\n");
    write(dir / "irq", "0\n");
    write(dir / "numa_node", std::to_string(d.numa_node) + "\n");
    write(dir / "driver_override", "(null)\n");

    std::array<uint8_t, 4096> cfg{};
    auto put = [&](uint32_t off, unsigned width, uint64_t v) {
      for (unsigned i = 0; i < width; ++i) cfg[off + i] = static_cast<uint8_t>(v >> (8 * i));
    };
    put(0x00, 2, d.vendor);
    put(0x02, 2, d.device);
    put(0x04, 2, d.command);
    put(0x08, 1, d.revision);
    put(0x09, 3, d.class_code);
    put(0x2c, 2, d.vendor);
    std::string resource;
    std::array<std::string, 7> lines;
    lines.fill("0x0000000000000000 0x0000000000000000 0x0000000000000000\n");
    for (const FakeBar& b : d.bars) {
      uint32_t low = 0;
      uint64_t flags = 0;
      switch (b.kind) {
        case BarKind::kMem32: low = 0x0; flags = 0x40200; break;
        case BarKind::kMem64: low = 0x4; flags = 0x140204; break;
        case BarKind::kMem64Prefetch: low = 0xc; flags = 0x14220c; break;
        case BarKind::kIo: low = 0x1; flags = 0x40101; break;
      }
      put(0x10 + 4 * b.index, 4, (b.addr & 0xfffffff0u) | low);
      if (b.kind == BarKind::kMem64 || b.kind == BarKind::kMem64Prefetch) put(0x14 + 4 * b.index, 4, b.addr >> 32);
      lines[b.index] = hex(b.addr, 16) + " " + hex(b.addr + b.size - 1, 16) + " " + hex(flags, 16) + "\n";
    }
    for (const auto& l : lines) resource += l;
    write(dir / "resource", resource);
    if (d.pcie_cap != 0) {
      put(0x06, 2, 0x0010);
      put(0x34, 1, d.pcie_cap);
      put(d.pcie_cap, 2, 0x0010);
      put(d.pcie_cap + 2u, 2, 0x0002);
      put(d.pcie_cap + 0x0cu, 4, d.lnkcap);
      put(d.pcie_cap + 0x12u, 2, d.lnksta);
    }
    for (auto [off, v] : d.cfg8) put(off, 1, v);
    for (auto [off, v] : d.cfg16) put(off, 2, v);
    std::ofstream(dir / "config", std::ios::binary).write(reinterpret_cast<const char*>(cfg.data()), cfg.size());

    if (!d.resource0_image.empty()) {
      std::ofstream(dir / "resource0", std::ios::binary)
          .write(reinterpret_cast<const char*>(d.resource0_image.data()),
                 static_cast<std::streamsize>(d.resource0_image.size()));
    } else if (d.has_resource0) {
      std::vector<uint8_t> bar0(64 * 1024, 0);
      for (auto [off, v] : d.bar0_32)
        for (unsigned i = 0; i < 4; ++i) bar0[off + i] = static_cast<uint8_t>(v >> (8 * i));
      for (auto [off, v] : d.bar0_16)
        for (unsigned i = 0; i < 2; ++i) bar0[off + i] = static_cast<uint8_t>(v >> (8 * i));
      std::ofstream(dir / "resource0", std::ios::binary).write(reinterpret_cast<const char*>(bar0.data()), bar0.size());
    }
    if (!d.driver.empty()) {
      add_driver(d.driver);
      fs::create_directory_symlink("../../drivers/" + d.driver, dir / "driver");
    }
    if (d.iommu_group) {
      const fs::path g = root_ / "kernel/iommu_groups" / std::to_string(*d.iommu_group);
      fs::create_directories(g / "devices");
      fs::create_directory_symlink("../../../bus/pci/devices/" + d.bdf, g / "devices" / d.bdf);
      fs::create_directory_symlink("../../../../kernel/iommu_groups/" + std::to_string(*d.iommu_group),
                                   dir / "iommu_group");
    }
  }

  static void write(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }

  static constexpr const char* kPciIds =
      "8086  Intel Corporation\n"
      "\t201c  Sky Lake-E Non-Transparent Bridge Registers\n"
      "\t347e  Ice Lake Xeon Non-Transparent Bridge\n"
      "1022  Advanced Micro Devices, Inc. [AMD]\n"
      "\t148b  Starship/Matisse Non-Transparent Bridge\n"
      "11f8  PMC-Sierra Inc.\n"
      "\t8536  PM8536 PFX 96xG3 PCIe Fanout Switch\n"
      "1af4  Red Hat, Inc.\n"
      "\t1041  Virtio 1.0 network device\n"
      "\t1110  Inter-VM shared memory\n"
      "C 02  Network controller\n"
      "\t00  Ethernet controller\n"
      "C 05  Memory controller\n"
      "\t00  RAM memory\n"
      "C 06  Bridge\n"
      "\t80  Bridge\n";

 private:
  fs::path root_;
};

struct ToolRun {
  int status = -1;  // exit status
  std::string out, err;
};

// Runs the tool with `args`, the given extra environment, and stdout/stderr captured in files.
inline ToolRun run_tool(const std::string& exe, const std::vector<std::string>& args,
                        const std::vector<std::string>& env_extra = {}) {
  char out_t[] = "/tmp/pbx-probe-out-XXXXXX";
  char err_t[] = "/tmp/pbx-probe-err-XXXXXX";
  const int out_fd = ::mkstemp(out_t);
  const int err_fd = ::mkstemp(err_t);
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  for (const auto& e : env_extra) env.push_back(e);
  std::vector<char*> argv{const_cast<char*>(exe.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  ToolRun r;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execve(exe.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto slurp = [](const char* p) {
    std::ifstream f(p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  };
  r.out = slurp(out_t);
  r.err = slurp(err_t);
  ::close(out_fd);
  ::close(err_fd);
  ::unlink(out_t);
  ::unlink(err_t);
  return r;
}

}  // namespace pbx::test
