#include "scan.h"

extern "C" {
#include <pci/pci.h>
}

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csetjmp>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <tuple>

#include "pbx/base/unique_fd.h"
#include "pbx/ntb/intel/ids.h"
#include "pbx/ntb/intel/regs.h"
#include "scan_ntb.h"
#include "sysfs.h"

namespace pbx::probe {
namespace {

namespace g3 = ntb::intel::gen3;
namespace g4 = ntb::intel::gen4;

// libpci reports fatal errors through a callback declared noreturn, whose default prints and
// calls exit(). We jump back to the guarded call instead and turn the message into an Error.
// Only libpci's C frames lie between setjmp and longjmp.
std::jmp_buf* g_pci_jump = nullptr;
char g_pci_error[512];

[[noreturn]] void on_pci_error(char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(g_pci_error, sizeof g_pci_error, fmt, ap);
  va_end(ap);
  std::longjmp(*g_pci_jump, 1);
}

void on_pci_warning(char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fputs("pbx-probe: libpci: ", stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
}

void on_pci_debug(char*, ...) {}

// Runs fn(arg); a libpci fatal error makes it return false (message in g_pci_error).
bool pci_guarded(void (*fn)(void*), void* arg) {
  std::jmp_buf env;
  g_pci_jump = &env;
  if (setjmp(env) != 0) {
    g_pci_jump = nullptr;
    return false;
  }
  fn(arg);
  g_pci_jump = nullptr;
  return true;
}

struct PciAccessDeleter {
  void operator()(pci_access* a) const noexcept { pci_cleanup(a); }
};
using PciAccess = std::unique_ptr<pci_access, PciAccessDeleter>;

std::string format_bdf(const pci_dev* d) {
  char b[32];
  std::snprintf(b, sizeof b, "%04x:%02x:%02x.%d", static_cast<unsigned>(d->domain), d->bus, d->dev, d->func);
  return b;
}

std::optional<uint32_t> cfg_read(pci_dev* d, int off, int width) {
  u8 buf[4] = {};
  if (pci_read_block(d, off, buf, width) == 0) return std::nullopt;
  uint32_t v = 0;
  for (int i = 0; i < width; ++i) v |= uint32_t{buf[i]} << (8 * i);
  return v;
}

// BAR0 registers read through the sysfs resource0 file, mapped read-only.
class Bar0Reader {
 public:
  static Result<Bar0Reader> open(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno(errno, "open %s", path.c_str());
    void* p = ::mmap(nullptr, ntb::intel::kBar0Size, PROT_READ, MAP_SHARED, fd.get(), 0);
    if (p == MAP_FAILED) return fail_errno(errno, "mmap %s", path.c_str());
    Bar0Reader r;
    r.map_ = MmapRegion(p, ntb::intel::kBar0Size);
    return r;
  }
  template <class T>
  T read(std::size_t off) const {
    // One MMIO read of the register's width; nothing is ordered against it.
    return std::atomic_ref<T>(*reinterpret_cast<T*>(map_.data() + off)).load(std::memory_order_relaxed);  // NOLINT
  }

 private:
  MmapRegion map_;
};

void read_intel(pci_dev* d, const Sysfs& sys, DeviceReport& r) {
  IntelReport ir;
  auto part = ntb::intel::identify(r.vendor, r.device, r.revision, r.address);
  if (!part) {
    r.intel = ir;
    return;
  }
  const ntb::intel::PartInfo& p = **part;
  if (p.regs == ntb::intel::Gen::kGen3) {
    ir.topology_register = "PPD (config 0xd4)";
    const uint32_t size_regs[4] = {g3::kCfgImbar1Sz, g3::kCfgImbar2Sz, g3::kCfgEmbar1Sz, g3::kCfgEmbar2Sz};
    auto ppd = cfg_read(d, g3::kCfgPpd, 1);
    if (!ppd) {
      r.notes.push_back("topology and NTB link: config space beyond 64 bytes is readable only by root");
    } else {
      ir.topology = ntb::intel::decode_ppd(p.ppd, *ppd);
      if (auto l = cfg_read(d, g3::kCfgLinkStatus, 2)) ir.ntb_link = ntb::decode_lnksta(static_cast<uint16_t>(*l));
      for (int i = 0; i < 4; ++i)
        if (auto s = cfg_read(d, static_cast<int>(size_regs[i]), 1)) ir.bar_size_log2[i] = static_cast<int>(*s);
    }
  } else {
    ir.topology_register = "PPD1 (BAR0 0xb4c0)";
    ir.ppd_hex_digits = 8;
    const uint32_t size_regs[4] = {g4::kCfgImbar23Sz, g4::kCfgImbar45Sz, g4::kCfgEmbar23Sz, g4::kCfgEmbar45Sz};
    for (int i = 0; i < 4; ++i)
      if (auto s = cfg_read(d, static_cast<int>(size_regs[i]), 1)) ir.bar_size_log2[i] = static_cast<int>(*s);
    // Topology and link status live in BAR0 on gen4: read them only if the device decodes memory.
    auto cmd = cfg_read(d, PCI_COMMAND, 2);
    if (!cmd || (*cmd & PCI_COMMAND_MEMORY) == 0) {
      r.notes.push_back("topology and NTB link: in BAR0, and the device's memory decoding is off (bind it and "
                        "open it with postbox, or read again while it is in use)");
    } else if (auto bar0 = Bar0Reader::open(sys.device_dir(r.address) + "/resource0"); !bar0) {
      r.notes.push_back("topology and NTB link: in BAR0, which needs root to read (" + bar0.error().message() + ")");
    } else {
      const uint32_t ppd1 = bar0->read<uint32_t>(g4::Regs::ppd1.offset);
      if (ppd1 == 0xffffffffu) {
        r.notes.push_back("topology and NTB link: BAR0 reads all ones (device in D3 or not answering)");
      } else {
        ir.topology = ntb::intel::decode_ppd(p.ppd, ppd1);
        ir.ntb_link = ntb::decode_lnksta(bar0->read<uint16_t>(g4::Regs::link_status.offset));
      }
    }
  }
  r.intel = ir;
}

void read_link(pci_dev* d, DeviceReport& r) {
  pci_cap* cap = pci_find_cap(d, PCI_CAP_ID_EXP, PCI_CAP_NORMAL);
  if (cap == nullptr) {
    if (!cfg_read(d, 0x40, 4)) r.notes.push_back("PCIe link: config space beyond 64 bytes is readable only by root");
    return;
  }
  auto lnkcap = cfg_read(d, static_cast<int>(cap->addr) + PCI_EXP_LNKCAP, 4);
  auto lnksta = cfg_read(d, static_cast<int>(cap->addr) + PCI_EXP_LNKSTA, 2);
  if (!lnkcap || !lnksta) return;
  LinkReport l;
  l.speed = static_cast<uint8_t>(*lnksta & PCI_EXP_LNKSTA_SPEED);
  l.width = static_cast<uint8_t>((*lnksta & PCI_EXP_LNKSTA_WIDTH) >> 4);
  l.max_speed = static_cast<uint8_t>(*lnkcap & PCI_EXP_LNKCAP_SPEED);
  l.max_width = static_cast<uint8_t>((*lnkcap & PCI_EXP_LNKCAP_WIDTH) >> 4);
  r.link = l;
}

// A name from the PCI ID database, or "<fallback> <id>" when it has none.
std::string lookup(pci_access* a, int flags, int x, int y, bool no_hwdb, const char* fallback, int id) {
  char buf[256];
  const int f = flags | PCI_LOOKUP_NO_NUMBERS | (no_hwdb ? PCI_LOOKUP_NO_HWDB : 0);
  if (const char* n = pci_lookup_name(a, buf, sizeof buf, f, x, y); n != nullptr) return n;
  std::snprintf(buf, sizeof buf, "%s %04x", fallback, static_cast<unsigned>(id));
  return buf;
}

struct ScanArgs {
  pci_access* acc;
};

}  // namespace

Result<void> check_slot_filter(const std::string& slot) {
  pci_filter f;
  pci_filter_init(nullptr, &f);
  std::string s = slot;
  if (const char* err = pci_filter_parse_slot(&f, s.data()); err != nullptr)
    return fail(Errc::kInvalidArgument, "-s %s: %s (expected [[domain:]bus:]device.function, e.g. 0000:af:00.0)",
                slot.c_str(), err);
  return {};
}

bool is_full_address(const std::string& slot) {
  pci_filter f;
  pci_filter_init(nullptr, &f);
  std::string s = slot;
  if (pci_filter_parse_slot(&f, s.data()) != nullptr) return false;
  return f.bus >= 0 && f.slot >= 0 && f.func >= 0;
}

Result<ScanResult> scan(const ScanOptions& opts) {
  Sysfs sys(opts.sysfs_root);
  PciAccess acc(pci_alloc());
  acc->method = PCI_ACCESS_SYS_BUS_PCI;
  acc->error = on_pci_error;
  acc->warning = on_pci_warning;
  acc->debug = on_pci_debug;
  std::string sysfs_path = sys.pci_path();
  pci_set_param(acc.get(), const_cast<char*>("sysfs.path"), sysfs_path.data());
  std::string ids = opts.ids_file;
  if (!ids.empty()) pci_set_name_list_path(acc.get(), ids.data(), 0);
  if (!sys.exists(sysfs_path + "/devices"))
    return fail(Errc::kNoDevice, "%s/devices does not exist: is sysfs mounted (or PBX_SYSFS_ROOT right)?",
                sysfs_path.c_str());

  ScanArgs args{acc.get()};
  if (!pci_guarded([](void* p) { pci_init(static_cast<ScanArgs*>(p)->acc); }, &args) ||
      !pci_guarded([](void* p) { pci_scan_bus(static_cast<ScanArgs*>(p)->acc); }, &args))
    return fail(Errc::kIoError, "scan PCI devices in %s: %s", sysfs_path.c_str(), g_pci_error);

  pci_filter filter;
  pci_filter_init(acc.get(), &filter);
  std::string slot = opts.slot;
  if (!slot.empty()) {
    if (const char* err = pci_filter_parse_slot(&filter, slot.data()); err != nullptr)
      return fail(Errc::kInvalidArgument, "-s %s: %s", opts.slot.c_str(), err);
  }

  ScanResult out;
  const bool no_hwdb = !opts.ids_file.empty();
  for (pci_dev* d = acc->devices; d != nullptr; d = d->next) {
    if (!pci_filter_match(&filter, d)) continue;
    struct FillArgs {
      pci_dev* d;
    } fa{d};
    if (!pci_guarded(
            [](void* p) {
              pci_fill_info(static_cast<FillArgs*>(p)->d, PCI_FILL_IDENT | PCI_FILL_BASES | PCI_FILL_SIZES |
                                                              PCI_FILL_IO_FLAGS | PCI_FILL_CLASS | PCI_FILL_CLASS_EXT |
                                                              PCI_FILL_SUBSYS | PCI_FILL_NUMA_NODE | PCI_FILL_CAPS);
            },
            &fa))
      return fail(Errc::kIoError, "read %s: %s", format_bdf(d).c_str(), g_pci_error);

    const std::string bdf = format_bdf(d);
    const uint32_t class_code = (uint32_t{d->device_class} << 8) | d->prog_if;
    auto what = classify(d->vendor_id, d->device_id, d->rev_id, class_code);
    if (!what) {
      OtherDevice o{bdf, d->vendor_id, d->device_id, ""};
      if (!opts.numeric)
        o.name = lookup(acc.get(), PCI_LOOKUP_VENDOR, d->vendor_id, 0, no_hwdb, "Vendor", d->vendor_id) + " " +
                 lookup(acc.get(), PCI_LOOKUP_DEVICE, d->vendor_id, d->device_id, no_hwdb, "Device", d->device_id);
      out.others.push_back(std::move(o));
      continue;
    }
    DeviceReport r;
    r.address = bdf;
    r.vendor = d->vendor_id;
    r.device = d->device_id;
    r.revision = d->rev_id;
    r.class_code = class_code;
    r.subsys_vendor = d->subsys_vendor_id;
    r.subsys_device = d->subsys_id;
    r.what = *what;
    if (!opts.numeric) {
      r.vendor_name = lookup(acc.get(), PCI_LOOKUP_VENDOR, d->vendor_id, 0, no_hwdb, "Vendor", d->vendor_id);
      r.device_name = lookup(acc.get(), PCI_LOOKUP_DEVICE, d->vendor_id, d->device_id, no_hwdb, "Device", d->device_id);
      r.class_name = lookup(acc.get(), PCI_LOOKUP_CLASS, d->device_class, 0, no_hwdb, "Class", d->device_class);
    }
    r.driver = sys.driver_of(bdf);
    r.iommu_group = sys.iommu_group_of(bdf);
    r.numa_node = d->numa_node;
    for (unsigned i = 0; i < 6; ++i) {
      if (d->size[i] == 0) continue;
      BarReport b;
      b.index = i;
      const auto flags = d->flags[i];
      b.io = (flags & PCI_IORESOURCE_IO) != 0 || (d->base_addr[i] & PCI_BASE_ADDRESS_SPACE_IO) != 0;
      b.addr = d->base_addr[i] & (b.io ? PCI_ADDR_IO_MASK : PCI_ADDR_MEM_MASK);
      b.size = d->size[i];
      b.mem64 = !b.io && ((flags & PCI_IORESOURCE_MEM_64) != 0 ||
                          (d->base_addr[i] & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64);
      b.prefetchable = !b.io && ((flags & PCI_IORESOURCE_PREFETCH) != 0 || (d->base_addr[i] & PCI_BASE_ADDRESS_MEM_PREFETCH) != 0);
      r.bars.push_back(b);
    }
    read_link(d, r);
    if (r.what.family == Family::kIntelNtb) read_intel(d, sys, r);
    if (r.what.family == Family::kSwitchtecNtb || r.what.family == Family::kAmdNtb) {
      const auto cmd = cfg_read(d, PCI_COMMAND, 2);
      const bool decodes = cmd && (*cmd & PCI_COMMAND_MEMORY) != 0;
      if (r.what.family == Family::kSwitchtecNtb)
        read_switchtec(sys, decodes, opts.kernel_release, r);
      else
        read_amd(sys, decodes, r);
    }
    out.devices.push_back(std::move(r));
  }
  // "%04x:%02x:%02x.%d" strings sort in address order.
  std::sort(out.devices.begin(), out.devices.end(),
            [](const DeviceReport& x, const DeviceReport& y) { return x.address < y.address; });
  std::sort(out.others.begin(), out.others.end(),
            [](const OtherDevice& x, const OtherDevice& y) { return x.address < y.address; });
  return out;
}

}  // namespace pbx::probe
