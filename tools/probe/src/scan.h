// Finding supported devices with libpci and collecting what an operator needs to see: IDs and
// names, driver binding, IOMMU group, BARs, PCIe link, and for Intel NTBs the topology and the
// NTB link from the port-definition and link-status registers.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pbx/base/error.h"
#include "pbx/ntb/amd/amd_ntb.h"
#include "pbx/ntb/intel/topology.h"
#include "pbx/ntb/switchtec/gas.h"
#include "pbx/ntb/switchtec/ids.h"
#include "pbx/ntb/link_status.h"
#include "supported.h"

namespace pbx::probe {

struct BarReport {
  unsigned index = 0;
  uint64_t addr = 0;
  uint64_t size = 0;
  bool io = false;
  bool mem64 = false;
  bool prefetchable = false;
};

struct LinkReport {
  uint8_t speed = 0;  // LNKSTA speed code
  uint8_t width = 0;
  uint8_t max_speed = 0;  // LNKCAP
  uint8_t max_width = 0;
};

struct IntelReport {
  std::optional<ntb::intel::Topology> topology;
  std::string topology_register;  // "PPD (config 0xd4)", "PPD1 (BAR0 0xb4c0)"
  int ppd_hex_digits = 2;         // the register's width in hex digits
  std::optional<ntb::PcieLink> ntb_link;
  std::array<int, 4> bar_size_log2{-1, -1, -1, -1};  // IMBAR1/IMBAR2/EMBAR1/EMBAR2 sizes set by BIOS
};

// One partition of a Switchtec switch, as the GAS shows it.
struct SwitchtecPartitionReport {
  unsigned id = 0;
  bool nt = false;                 // has an NT endpoint (ep_map)
  uint64_t targets = 0;            // ntp_info target vector
  bool xlink = false;              // ntp_info xlink_enabled
  std::optional<ntb::switchtec::CtrlSnapshot> ctrl;  // NT partitions only
  std::optional<ntb::PcieLink> link;
  std::string link_note;           // why the link could not be read
};

struct SwitchtecReport {
  ntb::switchtec::RawInfo info;
  std::vector<uint8_t> peers;      // of this partition
  std::vector<SwitchtecPartitionReport> partitions;
  std::string problem;             // what in the switch configuration keeps postbox from using it
  ntb::switchtec::AliasQuirk alias;
};

struct AmdReport {
  ntb::amd::Side side = ntb::amd::Side::kPrimary;
  uint32_t sideinfo = 0;           // SIDEINFO (BAR0 0x408)
  bool ready = false;              // our side's driver is loaded (or its last shutdown was dirty)
  bool peer_ready = false;
};

struct DeviceReport {
  std::string address;  // 0000:af:00.0
  uint16_t vendor = 0, device = 0;
  uint8_t revision = 0;
  uint32_t class_code = 0;  // 24-bit
  uint16_t subsys_vendor = 0, subsys_device = 0;
  std::string vendor_name, device_name, class_name;
  Classification what;
  std::string driver;            // empty: none
  std::optional<int> iommu_group;
  int numa_node = -1;
  std::vector<BarReport> bars;
  std::optional<LinkReport> link;
  std::optional<IntelReport> intel;
  std::optional<SwitchtecReport> switchtec;
  std::optional<AmdReport> amd;
  std::vector<std::string> notes;  // why something could not be read
};

// A device that matched the address filter but is not one pbx-probe lists.
struct OtherDevice {
  std::string address;
  uint16_t vendor = 0, device = 0;
  std::string name;
};

struct ScanOptions {
  std::string sysfs_root = "/sys";
  std::string ids_file;   // pci.ids to use instead of the system's (-i)
  std::string slot;       // lspci-style [[dom:]bus:]dev.fn filter; empty: all
  bool numeric = false;   // no name lookups (-n)
  std::string kernel_release;  // for the Switchtec IOMMU alias check; empty: uname -r
};

struct ScanResult {
  std::vector<DeviceReport> devices;  // supported, sorted by address
  std::vector<OtherDevice> others;    // matched the filter, not supported
};

// Validates an lspci-style slot filter; the error says what is wrong with it.
[[nodiscard]] Result<void> check_slot_filter(const std::string& slot);
// True when the filter names one function ([[dom:]bus:]dev.fn with every part given).
bool is_full_address(const std::string& slot);

[[nodiscard]] Result<ScanResult> scan(const ScanOptions& opts);

}  // namespace pbx::probe
