#include "bind.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "supported.h"
#include "sysfs.h"

extern char** environ;

namespace pbx::probe {
namespace {

Result<uint32_t> read_hex(const Sysfs& sys, const std::string& path) {
  auto line = sys.read_line(path);
  if (!line) return tl::unexpected(line.error());
  return static_cast<uint32_t>(std::strtoul(line->c_str(), nullptr, 16));
}

Result<void> check_device(const Sysfs& sys, const std::string& bdf, const BindOptions& o) {
  const std::string dir = sys.device_dir(bdf);
  if (!sys.exists(dir)) return fail(Errc::kNoDevice, "%s: no such PCI device (%s does not exist)", bdf.c_str(), dir.c_str());
  auto vendor = read_hex(sys, dir + "/vendor");
  auto device = read_hex(sys, dir + "/device");
  auto cls = read_hex(sys, dir + "/class");
  auto rev = read_hex(sys, dir + "/revision");
  if (!vendor || !device || !cls) return tl::unexpected(!vendor ? vendor.error() : !device ? device.error() : cls.error());
  const auto what = classify(static_cast<uint16_t>(*vendor), static_cast<uint16_t>(*device),
                             static_cast<uint8_t>(rev.value_or(0)), *cls);
  if (!what && !o.force)
    return fail(Errc::kNotSupported,
                "%s [%04x:%04x] is not a supported NTB or ivshmem device (pbx-probe --help lists them); use --force "
                "to bind it anyway",
                bdf.c_str(), *vendor, *device);
  return {};
}

Result<void> run_modprobe(const std::string& prog, const std::string& module) {
  std::vector<char*> argv{const_cast<char*>(prog.c_str()), const_cast<char*>("-q"), const_cast<char*>(module.c_str()),
                          nullptr};
  pid_t pid;
  if (int rc = ::posix_spawnp(&pid, prog.c_str(), nullptr, nullptr, argv.data(), environ); rc != 0)
    return fail_errno(rc, "run %s %s", prog.c_str(), module.c_str());
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return fail_errno(errno, "wait for %s", prog.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return fail(Errc::kIoError, "%s %s failed (exit status %d): is the module installed (linux-image/modules package), "
                                "and are you root?",
                prog.c_str(), module.c_str(), WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return {};
}

}  // namespace

Result<std::string> canonical_bdf(const std::string& s) {
  unsigned dom = 0, bus = 0, dev = 0, fn = 0;
  char tail = 0;
  if (std::sscanf(s.c_str(), "%4x:%2x:%2x.%1u%c", &dom, &bus, &dev, &fn, &tail) == 4 ||
      (dom = 0, std::sscanf(s.c_str(), "%2x:%2x.%1u%c", &bus, &dev, &fn, &tail) == 3)) {
    if (dev < 32 && fn < 8) {
      char b[16];
      std::snprintf(b, sizeof b, "%04x:%02x:%02x.%u", dom, bus, dev, fn);
      return std::string(b);
    }
  }
  return fail(Errc::kInvalidArgument, "'%s' is not a PCI address: use [domain:]bus:device.function, e.g. 0000:af:00.0",
              s.c_str());
}

Result<void> bind_device(const std::string& bdf, const BindOptions& o, std::FILE* out) {
  const Sysfs sys(o.sysfs_root);
  if (auto ok = check_device(sys, bdf, o); !ok) return ok;
  const std::string dir = sys.device_dir(bdf);
  const std::string current = sys.driver_of(bdf);
  if (current == o.driver) {
    std::fprintf(out, "%s: already bound to %s\n", bdf.c_str(), o.driver.c_str());
    return {};
  }
  if (!sys.exists(sys.driver_dir(o.driver))) {
    if (auto ok = run_modprobe(o.modprobe, o.driver); !ok) return ok;
    if (!sys.exists(sys.driver_dir(o.driver)))
      return fail(Errc::kNoDevice, "%s: driver %s is not available after loading its module (%s missing)", bdf.c_str(),
                  o.driver.c_str(), sys.driver_dir(o.driver).c_str());
    std::fprintf(out, "loaded kernel module %s\n", o.driver.c_str());
  }
  if (auto ok = sys.write(dir + "/driver_override", o.driver); !ok) return tl::unexpected(with_context(ok.error(), bdf));
  std::fprintf(out, "%s: driver_override = %s\n", bdf.c_str(), o.driver.c_str());
  if (!current.empty()) {
    if (auto ok = sys.write(dir + "/driver/unbind", bdf); !ok) return tl::unexpected(with_context(ok.error(), bdf));
    std::fprintf(out, "%s: unbound from %s\n", bdf.c_str(), current.c_str());
  }
  if (auto ok = sys.write(sys.pci_path() + "/drivers_probe", bdf); !ok)
    return tl::unexpected(with_context(ok.error(), bdf));
  const std::string now = sys.driver_of(bdf);
  if (now != o.driver)
    return fail(Errc::kIoError,
                "%s: driver_override is %s but the device is bound to %s: see `dmesg`; vfio-pci needs the IOMMU on "
                "(intel_iommu=on / amd_iommu=on on the kernel command line) or vfio's enable_unsafe_noiommu_mode",
                bdf.c_str(), o.driver.c_str(), now.empty() ? "no driver" : now.c_str());
  const auto group = sys.iommu_group_of(bdf);
  if (group)
    std::fprintf(out, "%s: bound to %s (IOMMU group %d: /dev/vfio/%d)\n", bdf.c_str(), o.driver.c_str(), *group, *group);
  else
    std::fprintf(out, "%s: bound to %s (no IOMMU group)\n", bdf.c_str(), o.driver.c_str());
  return {};
}

Result<void> unbind_device(const std::string& bdf, const BindOptions& o, std::FILE* out) {
  const Sysfs sys(o.sysfs_root);
  const std::string dir = sys.device_dir(bdf);
  if (!sys.exists(dir)) return fail(Errc::kNoDevice, "%s: no such PCI device (%s does not exist)", bdf.c_str(), dir.c_str());
  const std::string current = sys.driver_of(bdf);
  // An empty line clears driver_override.
  if (auto ok = sys.write(dir + "/driver_override", "\n"); !ok) return tl::unexpected(with_context(ok.error(), bdf));
  if (current.empty()) {
    std::fprintf(out, "%s: not bound to any driver\n", bdf.c_str());
  } else {
    if (auto ok = sys.write(dir + "/driver/unbind", bdf); !ok) return tl::unexpected(with_context(ok.error(), bdf));
    std::fprintf(out, "%s: unbound from %s\n", bdf.c_str(), current.c_str());
  }
  if (auto ok = sys.write(sys.pci_path() + "/drivers_probe", bdf); !ok)
    return tl::unexpected(with_context(ok.error(), bdf));
  const std::string now = sys.driver_of(bdf);
  std::fprintf(out, "%s: now bound to %s\n", bdf.c_str(), now.empty() ? "no driver" : now.c_str());
  return {};
}

}  // namespace pbx::probe
