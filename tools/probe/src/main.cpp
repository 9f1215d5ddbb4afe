// pbx-probe: lists the NTB and ivshmem devices postbox can use and binds them to vfio-pci.
//
// Usage by example:
//
//   # What is there? One block per device: IDs and names, driver, IOMMU group, BARs, PCIe
//   # link; for Intel NTBs the topology (back-to-back USD/DSD, node index) and the NTB link;
//   # for Switchtec NT endpoints the partitions, peers, crosslink, links and the IOMMU alias
//   # check (-v: each partition's BAR windows, LUT entries and requester-ID table); for AMD
//   # NTBs the side and the READY flags.
//   pbx-probe
//   pbx-probe -v                       # + class, subsystem, NUMA node, BIOS window sizes,
//                                      #   whether /dev/vfio/N is accessible
//   pbx-probe -s af:00.0               # one device (lspci's -s syntax; partial addresses work)
//   pbx-probe -j | jq '.devices[].ntb' # JSON with stable keys
//
//   # Hand a device to vfio-pci (as root), and give it back to its kernel driver:
//   pbx-probe bind 0000:af:00.0
//   pbx-probe unbind 0000:af:00.0
//
// Exit status: 0 done (also when no device is found: it says so), 1 failure (the message
// names the device and what to do), 2 usage error.
//
// Testing knobs (not in --help): $PBX_SYSFS_ROOT or --sysfs-root DIR (instead of /sys),
// $PBX_DEV_ROOT or --dev-root DIR (instead of /dev), --modprobe PROG, $PBX_KERNEL_RELEASE
// (instead of uname -r, for the Switchtec IOMMU alias check).
#include <getopt.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bind.h"
#include "report.h"
#include "scan.h"
#include "sysfs.h"

namespace {

constexpr const char* kUsage =
    "Usage: pbx-probe [options]              list supported NTB and ivshmem devices\n"
    "       pbx-probe [options] bind BDF     bind a device to vfio-pci (root)\n"
    "       pbx-probe [options] unbind BDF   give a device back to its kernel driver (root)\n"
    "\n"
    "Options:\n"
    "  -s, --slot [[dom:]bus:]dev.fn  only this device (a partial address selects several)\n"
    "  -v, --verbose                  also class, subsystem, NUMA node, BIOS window sizes, /dev/vfio access,\n"
    "                                 Switchtec partitions (BAR windows, LUT entries, requester IDs)\n"
    "  -n, --numeric                  numeric IDs only, no names\n"
    "  -j, --json                     JSON output with stable keys\n"
    "  -i, --ids FILE                 use FILE as the PCI ID database (pci.ids)\n"
    "      --force                    bind: also a device that is not in the list below\n"
    "  -h, --help                     this text\n"
    "\n"
    "Devices:\n"
    "  Intel Xeon NTB   8086:201c (Skylake/Cascade Lake), 8086:347e (Ice Lake, Sapphire Rapids),\n"
    "                   8086:0db4 (Granite Rapids), 8086:7868 (Diamond Rapids)\n"
    "  QEMU ivshmem     1af4:1110\n"
    "  AMD NTB          1022:145b/148b/14c0/14c3/155a/17d4/17d7, Hygon 1d94:145b\n"
    "  Switchtec        Microchip Switchtec NT endpoints (vendor 11f8 or 1055, class 0680)\n"
    "Each listed device shows the spec that opens it (`spec:`), for PBX_BACKEND=ntb PBX_DEVICE=BDF,\n"
    "postboxd --device SPEC or hal::open_device: ntb:BDF opens any NTB by what it is (intel:, amd:,\n"
    "switchtec: insist on one kind), ivshmem:BDF QEMU's ivshmem.\n"
    "\n"
    "Examples:\n"
    "  pbx-probe -v\n"
    "  pbx-probe -s af:00.0 -j\n"
    "  pbx-probe bind 0000:af:00.0\n"
    "\n"
    "Exit status: 0 done, 1 failure, 2 usage error.\n";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "pbx-probe: %s\nTry 'pbx-probe --help'.\n", msg.c_str());
  return 2;
}

int failure(const std::string& msg) {
  std::fprintf(stderr, "pbx-probe: %s\n", msg.c_str());
  return 1;
}

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : fallback;
}

enum Opt { kForce = 256, kSysfsRoot, kDevRoot, kModprobe };

}  // namespace

int main(int argc, char** argv) {
  pbx::probe::ScanOptions scan_opts;
  pbx::probe::ReportOptions report_opts;
  pbx::probe::BindOptions bind_opts;
  scan_opts.sysfs_root = pbx::probe::Sysfs::default_root();
  scan_opts.kernel_release = env_or("PBX_KERNEL_RELEASE", "");
  report_opts.dev_root = env_or("PBX_DEV_ROOT", "/dev");
  bool json = false;

  static const option kLong[] = {
      {"slot", required_argument, nullptr, 's'},     {"verbose", no_argument, nullptr, 'v'},
      {"numeric", no_argument, nullptr, 'n'},        {"json", no_argument, nullptr, 'j'},
      {"ids", required_argument, nullptr, 'i'},      {"help", no_argument, nullptr, 'h'},
      {"force", no_argument, nullptr, kForce},       {"sysfs-root", required_argument, nullptr, kSysfsRoot},
      {"dev-root", required_argument, nullptr, kDevRoot}, {"modprobe", required_argument, nullptr, kModprobe},
      {nullptr, 0, nullptr, 0}};
  opterr = 0;
  for (;;) {
    const int c = getopt_long(argc, argv, ":s:vnji:h", kLong, nullptr);
    if (c == -1) break;
    switch (c) {
      case 's': scan_opts.slot = optarg; break;
      case 'v': report_opts.verbose = true; break;
      case 'n': scan_opts.numeric = report_opts.numeric = true; break;
      case 'j': json = true; break;
      case 'i': scan_opts.ids_file = optarg; break;
      case 'h': std::fputs(kUsage, stdout); return 0;
      case kForce: bind_opts.force = true; break;
      case kSysfsRoot: scan_opts.sysfs_root = optarg; break;
      case kDevRoot: report_opts.dev_root = optarg; break;
      case kModprobe: bind_opts.modprobe = optarg; break;
      case ':': return usage_error(std::string("option ") + argv[optind - 1] + " needs an argument");
      default: return usage_error(std::string("unknown option ") + argv[optind - 1]);
    }
  }
  std::vector<std::string> args(argv + optind, argv + argc);
  bind_opts.sysfs_root = scan_opts.sysfs_root;

  // bind / unbind BDF
  if (!args.empty() && (args[0] == "bind" || args[0] == "unbind")) {
    if (args.size() != 2) return usage_error(args[0] + " takes one device address (e.g. 0000:af:00.0)");
    auto bdf = pbx::probe::canonical_bdf(args[1]);
    if (!bdf) return usage_error(bdf.error().message());
    auto r = args[0] == "bind" ? pbx::probe::bind_device(*bdf, bind_opts, stdout)
                               : pbx::probe::unbind_device(*bdf, bind_opts, stdout);
    return r ? 0 : failure(r.error().message());
  }
  if (!args.empty() && args[0] != "list") return usage_error("unknown command '" + args[0] + "' (list, bind, unbind)");
  if (args.size() > 1) return usage_error("unexpected argument '" + args[1] + "'");

  // list
  if (!scan_opts.slot.empty()) {
    if (auto ok = pbx::probe::check_slot_filter(scan_opts.slot); !ok) return usage_error(ok.error().message());
  }
  auto found = pbx::probe::scan(scan_opts);
  if (!found) return failure(found.error().message());
  if (found->devices.empty() && pbx::probe::is_full_address(scan_opts.slot)) {
    if (found->others.empty()) return failure(scan_opts.slot + ": no such PCI device");
    const auto& o = found->others.front();
    char ids[16];
    std::snprintf(ids, sizeof ids, "[%04x:%04x]", o.vendor, o.device);
    return failure(o.address + " " + ids + (o.name.empty() ? "" : " " + o.name) +
                   ": not a supported NTB or ivshmem device (pbx-probe --help lists them)");
  }
  if (json) {
    pbx::probe::print_json(stdout, found->devices, report_opts);
  } else if (found->devices.empty()) {
    if (scan_opts.slot.empty())
      std::puts("no supported NTB or ivshmem devices found");
    else
      std::printf("no supported NTB or ivshmem devices found matching -s %s\n", scan_opts.slot.c_str());
  } else {
    pbx::probe::print_text(stdout, found->devices, report_opts);
  }
  return std::fflush(stdout) == 0 ? 0 : failure("write to standard output failed");
}
