#include "report.h"

#include <unistd.h>

#include <cinttypes>

#include "pbx/ntb/intel/ids.h"
#include "report_ntb.h"

namespace pbx::probe {
namespace {

std::string hex(uint64_t v, int digits) {
  char b[32];
  std::snprintf(b, sizeof b, "%0*" PRIx64, digits, v);
  return b;
}

std::string speed(uint8_t code) { return std::string(ntb::speed_gts(code)) + " GT/s"; }

std::string bar_type(const BarReport& b) {
  if (b.io) return "io";
  std::string t = b.mem64 ? "mem64" : "mem32";
  if (b.prefetchable) t += " prefetchable";
  return t;
}

bool topology_usable(const IntelReport& ir) {
  return ir.topology && ir.topology->conn == ntb::intel::Conn::kB2b && !ir.topology->split_bar;
}

// The topology problem and its BIOS fix, from the driver's own check.
std::string topology_problem(const DeviceReport& r) {
  auto part = ntb::intel::identify(r.vendor, r.device, r.revision, r.address);
  if (!part || !r.intel || !r.intel->topology) return {};
  auto c = ntb::intel::check_topology(**part, *r.intel->topology, r.address);
  return c ? std::string() : c.error().message();
}

std::string vfio_node(const DeviceReport& r, const ReportOptions& o) {
  return o.dev_root + "/vfio/" + std::to_string(*r.iommu_group);
}

// ---- JSON ---------------------------------------------------------------------------------

std::string js(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          o += b;
        } else {
          o += c;
        }
    }
  }
  return o + "\"";
}

}  // namespace

std::string short_size(uint64_t b) {
  static constexpr const char* kUnits[] = {"", "K", "M", "G", "T", "P"};
  unsigned u = 0;
  while (u + 1 < std::size(kUnits) && b >= 1024 && b % 1024 == 0) {
    b /= 1024;
    ++u;
  }
  return std::to_string(b) + kUnits[u];
}

void print_text(std::FILE* out, const std::vector<DeviceReport>& devices, const ReportOptions& o) {
  bool first = true;
  for (const DeviceReport& r : devices) {
    if (!first) std::fputc('\n', out);
    first = false;
    std::fprintf(out, "%s", r.address.c_str());
    if (!o.numeric) std::fprintf(out, " %s %s", r.vendor_name.c_str(), r.device_name.c_str());
    std::fprintf(out, " [%04x:%04x] (rev %02x)\n", r.vendor, r.device, r.revision);

    std::fprintf(out, "\tkind: %s", r.what.kind.c_str());
    if (!r.what.part.empty())
      std::fprintf(out, " (%s, %s)", r.what.part.c_str(), r.what.part_name.c_str());
    else if (!r.what.part_name.empty())
      std::fprintf(out, " (%s)", r.what.part_name.c_str());
    if (!r.what.postbox_driver)
      std::fprintf(out, " (listed only: %s)",
                   r.what.note.empty() ? "postbox has no driver for it yet" : r.what.note.c_str());
    else if (!r.what.hal_backend)
      std::fprintf(out, " (register driver only: no HAL backend yet, a job cannot run on it)");
    std::fputc('\n', out);
    if (const std::string spec = r.what.spec(r.address); !spec.empty()) std::fprintf(out, "\tspec: %s\n", spec.c_str());
    if (r.what.postbox_driver && !r.what.note.empty()) std::fprintf(out, "\tnote: %s\n", r.what.note.c_str());
    if (o.verbose) {
      std::fprintf(out, "\tclass: %04x", r.class_code >> 8);
      if (!o.numeric) std::fprintf(out, " %s", r.class_name.c_str());
      std::fprintf(out, "\n\tsubsystem: %04x:%04x\n", r.subsys_vendor, r.subsys_device);
      if (r.numa_node >= 0) std::fprintf(out, "\tnuma_node: %d\n", r.numa_node);
    }
    std::fprintf(out, "\tdriver: %s\n", r.driver.empty() ? "none" : r.driver.c_str());
    if (r.iommu_group)
      std::fprintf(out, "\tiommu_group: %d (%s)\n", *r.iommu_group, vfio_node(r, o).c_str());
    else
      std::fprintf(out, "\tiommu_group: none\n");
    if (o.verbose && r.iommu_group) {
      const std::string node = vfio_node(r, o);
      const char* state = ::access(node.c_str(), F_OK) != 0           ? "missing: bind the device to vfio-pci"
                          : ::access(node.c_str(), R_OK | W_OK) != 0 ? "no access: install the udev rule, join group postbox"
                                                                      : "read-write";
      std::fprintf(out, "\tvfio_node: %s (%s)\n", node.c_str(), state);
    }
    for (const BarReport& b : r.bars)
      std::fprintf(out, "\tbar%u: 0x%s %s %s\n", b.index, hex(b.addr, 16).c_str(), short_size(b.size).c_str(),
                   bar_type(b).c_str());
    if (r.link)
      std::fprintf(out, "\tpcie_link: %s x%u (max %s x%u)\n", speed(r.link->speed).c_str(), r.link->width,
                   speed(r.link->max_speed).c_str(), r.link->max_width);
    if (r.intel) {
      const IntelReport& ir = *r.intel;
      if (ir.topology) {
        const auto& t = *ir.topology;
        std::fprintf(out, "\tntb_topology: %s %s", ntb::intel::to_string(t.conn), ntb::intel::to_string(t.side));
        if (t.split_bar) std::fprintf(out, " split-bar");
        if (topology_usable(ir)) std::fprintf(out, " node %u", ntb::intel::node_index(t.side));
        std::fprintf(out, " (%s = 0x%s)\n", ir.topology_register.c_str(),
                     hex(t.raw, ir.ppd_hex_digits).c_str());
      }
      if (ir.ntb_link) {
        if (ir.ntb_link->active)
          std::fprintf(out, "\tntb_link: up %s x%u\n", speed(ir.ntb_link->speed_code).c_str(), ir.ntb_link->width);
        else
          std::fprintf(out, "\tntb_link: down\n");
      }
      if (o.verbose && ir.bar_size_log2[0] >= 0) {
        static constexpr const char* kNames[4] = {"imbar1", "imbar2", "embar1", "embar2"};
        std::fprintf(out, "\tntb_bar_sizes:");
        for (int i = 0; i < 4; ++i)
          if (ir.bar_size_log2[i] >= 0 && ir.bar_size_log2[i] < 64)
            std::fprintf(out, " %s %s", kNames[i], short_size(uint64_t{1} << ir.bar_size_log2[i]).c_str());
        std::fputc('\n', out);
      }
      if (const std::string p = topology_problem(r); !p.empty()) std::fprintf(out, "\tnote: %s\n", p.c_str());
    }
    if (r.switchtec) print_switchtec_text(out, *r.switchtec, o);
    if (r.amd) print_amd_text(out, *r.amd);
    for (const std::string& n : r.notes) std::fprintf(out, "\tnote: %s\n", n.c_str());
  }
}

void print_json(std::FILE* out, const std::vector<DeviceReport>& devices, const ReportOptions& o) {
  std::fputs("{\"devices\": [", out);
  bool first = true;
  for (const DeviceReport& r : devices) {
    std::fputs(first ? "\n" : ",\n", out);
    first = false;
    std::fprintf(out, "  {\"address\": %s, \"vendor_id\": \"%04x\", \"device_id\": \"%04x\", \"revision\": \"%02x\", "
                      "\"class\": \"%06x\", \"subsystem\": \"%04x:%04x\"",
                 js(r.address).c_str(), r.vendor, r.device, r.revision, r.class_code, r.subsys_vendor, r.subsys_device);
    if (!o.numeric)
      std::fprintf(out, ", \"vendor\": %s, \"device\": %s", js(r.vendor_name).c_str(), js(r.device_name).c_str());
    std::fprintf(out, ", \"kind\": %s, \"part\": %s, \"postbox_driver\": %s, \"hal_backend\": %s",
                 js(r.what.kind).c_str(), r.what.part.empty() ? "null" : js(r.what.part).c_str(),
                 r.what.postbox_driver ? "true" : "false", r.what.hal_backend ? "true" : "false");
    const std::string spec = r.what.spec(r.address);
    std::fprintf(out, ", \"spec\": %s", spec.empty() ? "null" : js(spec).c_str());
    std::fprintf(out, ", \"driver\": %s", r.driver.empty() ? "null" : js(r.driver).c_str());
    if (r.iommu_group)
      std::fprintf(out, ", \"iommu_group\": %d, \"vfio_node\": %s", *r.iommu_group, js(vfio_node(r, o)).c_str());
    else
      std::fputs(", \"iommu_group\": null, \"vfio_node\": null", out);
    std::fprintf(out, ", \"numa_node\": %d", r.numa_node);
    std::fputs(", \"bars\": [", out);
    for (std::size_t i = 0; i < r.bars.size(); ++i) {
      const BarReport& b = r.bars[i];
      std::fprintf(out, "%s{\"bar\": %u, \"address\": \"0x%s\", \"size\": %" PRIu64 ", \"type\": \"%s\", "
                        "\"64bit\": %s, \"prefetchable\": %s}",
                   i == 0 ? "" : ", ", b.index, hex(b.addr, 16).c_str(), b.size, b.io ? "io" : "mem",
                   b.mem64 ? "true" : "false", b.prefetchable ? "true" : "false");
    }
    std::fputs("]", out);
    if (r.link)
      std::fprintf(out, ", \"pcie_link\": {\"speed\": \"%s\", \"width\": %u, \"max_speed\": \"%s\", \"max_width\": %u}",
                   speed(r.link->speed).c_str(), r.link->width, speed(r.link->max_speed).c_str(), r.link->max_width);
    else
      std::fputs(", \"pcie_link\": null", out);
    if (r.intel && (r.intel->topology || r.intel->ntb_link)) {
      const IntelReport& ir = *r.intel;
      std::fputs(", \"ntb\": {", out);
      if (ir.topology) {
        const auto& t = *ir.topology;
        std::fprintf(out, "\"topology\": \"%s\", \"side\": \"%s\", \"split_bar\": %s, \"ppd\": \"0x%x\", \"node\": ",
                     ntb::intel::to_string(t.conn), ntb::intel::to_string(t.side), t.split_bar ? "true" : "false", t.raw);
        if (topology_usable(ir))
          std::fprintf(out, "%u", ntb::intel::node_index(t.side));
        else
          std::fputs("null", out);
      } else {
        std::fputs("\"topology\": null", out);
      }
      if (ir.ntb_link) {
        if (ir.ntb_link->active)
          std::fprintf(out, ", \"link\": {\"up\": true, \"speed\": \"%s\", \"width\": %u}",
                       speed(ir.ntb_link->speed_code).c_str(), ir.ntb_link->width);
        else
          std::fputs(", \"link\": {\"up\": false}", out);
      } else {
        std::fputs(", \"link\": null", out);
      }
      std::fputs("}", out);
    } else {
      std::fputs(", \"ntb\": null", out);
    }
    std::fprintf(out, ", \"switchtec\": %s", r.switchtec ? switchtec_json(*r.switchtec).c_str() : "null");
    std::fprintf(out, ", \"amd\": %s", r.amd ? amd_json(*r.amd).c_str() : "null");
    // The topology problem first, then the rest (built in order: g++ 12 -O3 warns falsely about
    // a null dereference in vector::insert at the front).
    std::vector<std::string> notes;
    if (std::string p = topology_problem(r); !p.empty()) notes.push_back(std::move(p));
    for (const std::string& n : r.notes) notes.push_back(n);
    std::fputs(", \"notes\": [", out);
    for (std::size_t i = 0; i < notes.size(); ++i) std::fprintf(out, "%s%s", i == 0 ? "" : ", ", js(notes[i]).c_str());
    std::fputs("]}", out);
  }
  std::fputs(first ? "]}\n" : "\n]}\n", out);
}

}  // namespace pbx::probe
