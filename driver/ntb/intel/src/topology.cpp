#include "pbx/ntb/intel/topology.h"

#include "pbx/ntb/intel/regs.h"

namespace pbx::ntb::intel {

const char* to_string(Side s) noexcept { return s == Side::kUsd ? "usd" : "dsd"; }

const char* to_string(Conn c) noexcept {
  switch (c) {
    case Conn::kB2b: return "b2b";
    case Conn::kTransparent: return "transparent";
    case Conn::kRootPort: return "root-port";
    case Conn::kOther: return "other";
  }
  return "?";
}

Topology decode_ppd(PpdLayout layout, uint32_t raw) noexcept {
  Topology t;
  t.raw = raw;
  switch (layout) {
    case PpdLayout::kGen3Config:
      t.conn_field = raw & gen3::kPpdConnMask;
      t.conn = t.conn_field == gen3::kPpdConnB2b           ? Conn::kB2b
               : t.conn_field == gen3::kPpdConnTransparent ? Conn::kTransparent
               : t.conn_field == gen3::kPpdConnRp          ? Conn::kRootPort
                                                           : Conn::kOther;
      t.side = (raw & gen3::kPpdDsd) != 0 ? Side::kDsd : Side::kUsd;
      t.split_bar = (raw & gen3::kPpdSplitBar) != 0;
      break;
    case PpdLayout::kIcxMmio:
      t.conn_field = raw & gen4::kIcxPpdConnMask;
      t.conn = t.conn_field == gen4::kPpdConnB2b ? Conn::kB2b : Conn::kOther;
      t.side = (raw & gen4::kIcxPpdDsd) != 0 ? Side::kDsd : Side::kUsd;
      break;
    case PpdLayout::kSprMmio:
      t.conn_field = raw & gen4::kSprPpdConnMask;
      t.conn = t.conn_field == gen4::kPpdConnB2b ? Conn::kB2b : Conn::kOther;
      t.side = (raw & gen4::kSprPpdDsd) != 0 ? Side::kDsd : Side::kUsd;
      break;
  }
  return t;
}

Result<Side> check_topology(const PartInfo& part, const Topology& t, std::string_view where) {
  const int wl = static_cast<int>(where.size());
  const char* reg = part.ppd == PpdLayout::kGen3Config ? "PPD (config 0xd4)" : "PPD1 (BAR0 0xb4c0)";
  constexpr const char* kFix =
      "set BIOS 'Non-Transparent Bridge PCIe Port Definition' to 'NTB to NTB' on both hosts, and 'Crosslink "
      "Control override' to USD/DSP on one host and DSD/USP on the other";
  if (t.raw == 0xffffffffu)
    return fail(Errc::kIoError,
                "%.*s: %s reads 0xffffffff: the device does not answer (memory decoding off, or the device is in "
                "D3 or gone); re-bind it to vfio-pci and retry",
                wl, where.data(), reg);
  switch (t.conn) {
    case Conn::kB2b: break;
    case Conn::kTransparent:
      return fail(Errc::kNotSupported,
                  "%.*s (%s): %s = 0x%02x: the port is a transparent bridge, not an NTB; postbox needs a "
                  "back-to-back NTB: %s",
                  wl, where.data(), part.code, reg, t.raw, kFix);
    case Conn::kRootPort:
      return fail(Errc::kNotSupported,
                  "%.*s (%s): %s = 0x%02x: the port is an NTB connected to a root port (NTB-RP); postbox supports "
                  "only back-to-back (NTB to NTB): %s",
                  wl, where.data(), part.code, reg, t.raw, kFix);
    case Conn::kOther:
      return fail(Errc::kNotSupported,
                  "%.*s (%s): %s = 0x%08x: connection type 0x%x is not back-to-back (B2B = 0x%x); postbox supports "
                  "only NTB to NTB: %s",
                  wl, where.data(), part.code, reg, t.raw, t.conn_field,
                  part.ppd == PpdLayout::kGen3Config ? unsigned{gen3::kPpdConnB2b} : unsigned{gen4::kPpdConnB2b},
                  kFix);
  }
  if (t.split_bar)
    return fail(Errc::kNotSupported,
                "%.*s (%s): %s = 0x%02x: split-BAR mode is on (BAR4 split into BAR4 and BAR5); postbox uses BAR2 and "
                "a 64-bit BAR4: set BIOS 'Enable SPLIT BARs' to Disabled",
                wl, where.data(), part.code, reg, t.raw);
  return t.side;
}

}  // namespace pbx::ntb::intel
