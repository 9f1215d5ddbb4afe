#include "test_device.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include "pbx/hal/ntb_device.h"

namespace pbx::hwtest {

namespace {

// Supported devices: QEMU's ivshmem, and the NTBs the drivers accept, by their own ID tables
// (hal::ntb_kind_of: Intel gen3 to gen6, AMD/Hygon, Switchtec NT endpoints by vendor and class).
std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

uint32_t read_hex(const std::string& path) { return static_cast<uint32_t>(std::strtoul(read_line(path).c_str(), nullptr, 16)); }

std::optional<DeviceKind> kind_of(uint16_t vendor, uint16_t device, uint32_t class_code) {
  if (vendor == 0x1af4 && device == 0x1110) return DeviceKind::kIvshmem;
  switch (hal::ntb_kind_of(vendor, device, class_code)) {
    case hal::NtbKind::kIntel: return DeviceKind::kIntelNtb;
    case hal::NtbKind::kAmd: return DeviceKind::kAmdNtb;
    case hal::NtbKind::kSwitchtec: return DeviceKind::kSwitchtecNtb;
    case hal::NtbKind::kAny: break;
  }
  return std::nullopt;
}

std::optional<DeviceKind> kind_of_dir(const std::string& dir) {
  return kind_of(static_cast<uint16_t>(read_hex(dir + "/vendor")), static_cast<uint16_t>(read_hex(dir + "/device")),
                 read_hex(dir + "/class"));
}

Result<TestDevice> describe(const std::string& sysfs_root, const std::string& bdf) {
  TestDevice d;
  d.bdf = bdf;
  d.sysfs = sysfs_root + "/" + bdf;
  d.vendor = static_cast<uint16_t>(read_hex(d.sysfs + "/vendor"));
  d.device = static_cast<uint16_t>(read_hex(d.sysfs + "/device"));
  const auto k = kind_of_dir(d.sysfs);
  if (!k)
    return fail(Errc::kNotSupported, "PBX_DEVICE=%s is %04x:%04x, not a supported NTB or ivshmem device", bdf.c_str(),
                d.vendor, d.device);
  d.kind = *k;
  std::error_code ec;
  const auto drv = std::filesystem::read_symlink(d.sysfs + "/driver", ec);
  if (!ec) d.driver = drv.filename().string();
  return d;
}

}  // namespace

const char* to_string(DeviceKind k) noexcept {
  switch (k) {
    case DeviceKind::kIvshmem: return "ivshmem";
    case DeviceKind::kIntelNtb: return "intel-ntb";
    case DeviceKind::kAmdNtb: return "amd-ntb";
    case DeviceKind::kSwitchtecNtb: return "switchtec-ntb";
  }
  return "?";
}

Result<TestDevice> find_test_device(const std::string& sysfs_root) {
  const char* env = std::getenv("PBX_DEVICE");
  if (env != nullptr && *env != '\0') {
    std::string bdf = env;
    if (std::count(bdf.begin(), bdf.end(), ':') == 1) bdf = "0000:" + bdf;
    if (!std::filesystem::exists(sysfs_root + "/" + bdf))
      return fail(Errc::kInvalidArgument, "PBX_DEVICE=%s: no such PCI device (see lspci -D)", env);
    return describe(sysfs_root, bdf);
  }
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(sysfs_root, ec)) {
    const std::string p = e.path().string();
    if (kind_of_dir(p))
      found.push_back(e.path().filename().string());
  }
  if (found.empty())
    return fail(Errc::kNoDevice,
                "no NTB or ivshmem device here; on NTB hardware run with PBX_DEVICE=<BDF> (the hw-emulated "
                "tier runs these tests in QEMU VMs)");
  if (found.size() > 1) {
    std::sort(found.begin(), found.end());
    std::string list;
    for (const auto& f : found) list += " " + f;
    return fail(Errc::kInvalidArgument, "several test devices found (%s ): choose one with PBX_DEVICE=<BDF>",
                list.c_str());
  }
  return describe(sysfs_root, found.front());
}

Result<MmapRegion> map_sysfs_bar(const TestDevice& dev, int bar) {
  const std::string path = dev.sysfs + "/resource" + std::to_string(bar);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_SYNC | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    return fail_errno(err, "%s: open %s%s", dev.bdf.c_str(), path.c_str(),
                      err == EACCES ? " (run as root)" : err == ENOENT ? " (the device has no such BAR)" : "");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "%s: fstat %s", dev.bdf.c_str(), path.c_str());
  const auto len = static_cast<size_t>(st.st_size);
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED)
    return fail_errno(errno, "%s: mmap %s (%zu bytes; is memory decoding enabled?)", dev.bdf.c_str(), path.c_str(),
                      len);
  return MmapRegion(p, len);
}

uint64_t peer_timeout_ns() {
  const char* s = std::getenv("PBX_HW_PEER_TIMEOUT_S");
  const unsigned long v = s != nullptr ? std::strtoul(s, nullptr, 10) : 0;
  return (v != 0 ? v : 60) * 1'000'000'000ull;
}

uint32_t run_nonce() {
  const char* s = std::getenv("PBX_HW_NONCE");
  const unsigned long v = s != nullptr ? std::strtoul(s, nullptr, 0) : 0;
  return v != 0 ? static_cast<uint32_t>(v) : 1;
}

void DeviceTest::SetUp() {
  auto d = find_test_device();
  if (!d) {
    if (d.error() == Errc::kNoDevice) GTEST_SKIP() << d.error().message();
    FAIL() << d.error().message();
  }
  dev_ = std::move(*d);
  if (std::find(kinds_.begin(), kinds_.end(), dev_.kind) == kinds_.end()) {
    std::string want;
    for (DeviceKind k : kinds_) want += std::string(want.empty() ? "" : " or ") + to_string(k);
    GTEST_SKIP() << dev_.bdf << " is an " << to_string(dev_.kind) << " device; this test needs " << want;
  }
}

}  // namespace pbx::hwtest
