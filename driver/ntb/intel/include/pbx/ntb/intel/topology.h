// Topology of an Intel NTB port from its PCIe Port Definition (PPD) register: how the port is
// connected (back-to-back NTB, transparent, NTB to root port) and which side of the cable this
// host is (USD = upstream device, DSD = downstream device). Only back-to-back is supported; the
// other settings are rejected with the BIOS setting that changes them.
//
//   gen3     config byte 0xD4   [1:0] conn (0 transparent, 1 B2B, 2 RP), bit 4 DSD, bit 6 split BAR
//   ICX      BAR0 0xB4C0 (PPD1) [9:8] conn (2 = B2B), bit 12 DSD
//   SPR+     BAR0 0xB4C0 (PPD1) [10:8] conn (2 = B2B), bit 14 DSD
#pragma once

#include <cstdint>
#include <string_view>

#include "pbx/base/error.h"
#include "pbx/ntb/intel/ids.h"

namespace pbx::ntb::intel {

enum class Side : uint8_t { kUsd, kDsd };
enum class Conn : uint8_t { kB2b, kTransparent, kRootPort, kOther };

struct Topology {
  Conn conn = Conn::kOther;
  Side side = Side::kUsd;
  bool split_bar = false;  // gen3 only
  uint32_t raw = 0;        // the PPD value read
  uint32_t conn_field = 0; // the connection-type field, unshifted
};

Topology decode_ppd(PpdLayout layout, uint32_t raw) noexcept;

// Accepts back-to-back without split BAR and returns the side; otherwise an error that names
// `where` (the device), the register and value, and the BIOS setting to change.
[[nodiscard]] Result<Side> check_topology(const PartInfo& part, const Topology& t, std::string_view where);

// Node index of this host in a two-node B2B job: USD is node 0, DSD node 1.
constexpr uint16_t node_index(Side s) noexcept { return s == Side::kUsd ? 0 : 1; }

const char* to_string(Side s) noexcept;  // "usd" / "dsd"
const char* to_string(Conn c) noexcept;  // "b2b", "transparent", "root-port", "other"

}  // namespace pbx::ntb::intel
