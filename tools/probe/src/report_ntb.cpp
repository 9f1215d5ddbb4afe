#include "report_ntb.h"

#include <cinttypes>

namespace pbx::probe {
namespace {

namespace sw = ntb::switchtec;

std::string hex16(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%016" PRIx64, v);
  return b;
}

std::string hexv(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%" PRIx64, v);
  return b;
}

std::string link_str(const ntb::PcieLink& l) {
  if (l.width == 0) return "down";
  return std::string(ntb::speed_gts(l.speed_code)) + " GT/s x" + std::to_string(l.width);
}

std::string proxy_str(uint8_t devfn) {
  char b[16];
  std::snprintf(b, sizeof b, "%02x.%u", devfn >> 3, devfn & 7u);
  return b;
}

const char* alias_state(sw::AliasQuirk::State s) {
  switch (s) {
    case sw::AliasQuirk::State::kCovered: return "covered";
    case sw::AliasQuirk::State::kMissing: return "missing";
    case sw::AliasQuirk::State::kUnknown: return "unknown";
  }
  return "unknown";
}

std::string peers_str(const SwitchtecReport& s) {
  std::string v;
  for (uint8_t p : s.peers) v += (v.empty() ? "" : ", ") + std::to_string(p);
  return v.empty() ? "none" : v;
}

std::string bar_str(const sw::BarEntry& b) {
  std::string v;
  if (b.lut()) v += "lut " + std::to_string(b.lut_count()) + " x " + short_size(b.lut_size());
  if (b.direct()) {
    if (!v.empty()) v += ", ";
    v += "direct " + short_size(b.direct_size()) + " -> partition " + std::to_string(b.xlate_partition()) + " at " +
         hex16(b.xlate_address());
  }
  return v.empty() ? "valid, no window" : v;
}

}  // namespace

std::string json_string(const std::string& s) {
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

void print_switchtec_text(std::FILE* out, const SwitchtecReport& s, const ReportOptions& o) {
  const auto& in = s.info;
  if (in.partition_count != 0 && in.partition_count <= sw::kMaxPartitions) {
    std::fprintf(out, "\tntb_partition: %u of %u, NT partitions %s, host bridge %s\n", in.partition_id,
                 in.partition_count, sw::partition_list(in.ep_map).c_str(), sw::format_bdf16(in.requester_id).c_str());
    if (s.peers.empty())
      std::fprintf(out, "\tntb_peers: none\n");
    else
      std::fprintf(out, "\tntb_peers: %s (%s)\n", peers_str(s).c_str(),
                   in.partition_id < sw::kMaxPartitions && in.targets[in.partition_id] != 0
                       ? "target partitions"
                       : "no target vector: the other NT partition of two");
    uint64_t xl = 0;
    for (const auto& p : s.partitions) xl |= p.xlink ? uint64_t{1} << p.id : 0;
    std::fprintf(out, "\tntb_crosslink: %s\n", xl == 0 ? "off" : ("on (partitions " + sw::partition_list(xl) + ")").c_str());
    std::string links;
    for (const auto& p : s.partitions)
      if (p.link) links += (links.empty() ? "" : ", ") + ("partition " + std::to_string(p.id) + " " + link_str(*p.link));
    if (!links.empty()) std::fprintf(out, "\tntb_link: %s\n", links.c_str());
  }
  if (!s.alias.message.empty())
    std::fprintf(out, "\tiommu_alias: %s: %s\n", alias_state(s.alias.state), s.alias.message.c_str());
  if (o.verbose) {
    for (const auto& p : s.partitions) {
      if (!p.ctrl) {
        std::fprintf(out, "\tpartition %u: not an NT partition\n", p.id);
        continue;
      }
      const auto& c = *p.ctrl;
      std::fprintf(out, "\tpartition %u: status %s (0x%08x), targets %s, lut %u (%zu on), rid %u (%zu on)", p.id,
                   sw::status_name(c.status), c.status, sw::partition_list(p.targets).c_str(), c.lut_table_entries,
                   c.luts.size(), c.req_id_table_size, c.rids.size());
      if (c.bar_error != 0 || c.lut_error != 0 || c.req_id_error != 0)
        std::fprintf(out, ", errors bar 0x%x lut 0x%x rid 0x%x", c.bar_error, c.lut_error, c.req_id_error);
      std::fputc('\n', out);
      if (!p.link_note.empty()) std::fprintf(out, "\t\tlink: %s\n", p.link_note.c_str());
      for (unsigned b = 0; b < sw::kBarEntries; ++b)
        if (c.bars[b].valid()) std::fprintf(out, "\t\tbar%u: %s\n", b, bar_str(c.bars[b]).c_str());
      for (const auto& l : c.luts)
        std::fprintf(out, "\t\tlut %u: -> partition %u at %s\n", l.index, l.partition, hex16(l.address).c_str());
      for (const auto& r : c.rids)
        std::fprintf(out, "\t\trid %u: %s -> proxy %s\n", r.index, sw::format_bdf16(r.requester).c_str(),
                     proxy_str(r.proxy_devfn).c_str());
    }
  }
  if (!s.problem.empty()) std::fprintf(out, "\tnote: %s\n", s.problem.c_str());
}

void print_amd_text(std::FILE* out, const AmdReport& a) {
  std::fprintf(out, "\tntb_side: %s node %u (SIDEINFO 0x%08x)\n", ntb::amd::to_string(a.side),
               ntb::amd::node_index(a.side), a.sideinfo);
  std::fprintf(out, "\tntb_ready: self %s, peer %s\n", a.ready ? "yes" : "no", a.peer_ready ? "yes" : "no");
}

std::string switchtec_json(const SwitchtecReport& s) {
  const auto& in = s.info;
  std::string j = "{\"partition\": " + std::to_string(in.partition_id) +
                  ", \"partition_count\": " + std::to_string(in.partition_count) + ", \"ep_map\": \"" +
                  hexv(in.ep_map) + "\", \"host_bridge\": \"" + sw::format_bdf16(in.requester_id) + "\", \"peers\": [";
  for (std::size_t i = 0; i < s.peers.size(); ++i) j += (i ? ", " : "") + std::to_string(s.peers[i]);
  j += "], \"iommu_alias\": {\"state\": \"" + std::string(alias_state(s.alias.state)) +
       "\", \"message\": " + json_string(s.alias.message) + "}";
  j += ", \"problem\": " + (s.problem.empty() ? std::string("null") : json_string(s.problem));
  j += ", \"partitions\": [";
  for (std::size_t i = 0; i < s.partitions.size(); ++i) {
    const auto& p = s.partitions[i];
    j += std::string(i ? ", " : "") + "{\"id\": " + std::to_string(p.id) + ", \"nt\": " + (p.nt ? "true" : "false") +
         ", \"targets\": \"" + hexv(p.targets) + "\", \"crosslink\": " + (p.xlink ? "true" : "false");
    j += ", \"link\": " + (p.link ? "{\"speed\": \"" + std::string(ntb::speed_gts(p.link->speed_code)) +
                                        " GT/s\", \"width\": " + std::to_string(p.link->width) + "}"
                                  : std::string("null"));
    if (p.ctrl) {
      const auto& c = *p.ctrl;
      j += ", \"status\": \"" + std::string(sw::status_name(c.status)) + "\", \"lut_entries\": " +
           std::to_string(c.lut_table_entries) + ", \"rid_entries\": " + std::to_string(c.req_id_table_size) +
           ", \"errors\": {\"bar\": " + std::to_string(c.bar_error) + ", \"lut\": " + std::to_string(c.lut_error) +
           ", \"rid\": " + std::to_string(c.req_id_error) + "}, \"bars\": [";
      bool first = true;
      for (unsigned b = 0; b < sw::kBarEntries; ++b) {
        const auto& e = c.bars[b];
        if (!e.valid()) continue;
        j += std::string(first ? "" : ", ") + "{\"bar\": " + std::to_string(b) + ", \"lut\": " +
             (e.lut() ? "{\"count\": " + std::to_string(e.lut_count()) + ", \"size\": " + std::to_string(e.lut_size()) + "}"
                      : std::string("null")) +
             ", \"direct\": " +
             (e.direct() ? "{\"size\": " + std::to_string(e.direct_size()) + ", \"partition\": " +
                               std::to_string(e.xlate_partition()) + ", \"address\": \"" + hex16(e.xlate_address()) + "\"}"
                         : std::string("null")) +
             "}";
        first = false;
      }
      j += "], \"luts\": [";
      for (std::size_t k = 0; k < c.luts.size(); ++k)
        j += std::string(k ? ", " : "") + "{\"index\": " + std::to_string(c.luts[k].index) + ", \"partition\": " +
             std::to_string(c.luts[k].partition) + ", \"address\": \"" + hex16(c.luts[k].address) + "\"}";
      j += "], \"rids\": [";
      for (std::size_t k = 0; k < c.rids.size(); ++k)
        j += std::string(k ? ", " : "") + "{\"index\": " + std::to_string(c.rids[k].index) + ", \"requester\": \"" +
             sw::format_bdf16(c.rids[k].requester) + "\", \"proxy\": \"" + proxy_str(c.rids[k].proxy_devfn) + "\"}";
      j += "]";
    }
    j += "}";
  }
  return j + "]}";
}

std::string amd_json(const AmdReport& a) {
  return std::string("{\"side\": \"") + ntb::amd::to_string(a.side) + "\", \"node\": " +
         std::to_string(ntb::amd::node_index(a.side)) + ", \"sideinfo\": \"" + hexv(a.sideinfo) +
         "\", \"ready\": " + (a.ready ? "true" : "false") + ", \"peer_ready\": " + (a.peer_ready ? "true" : "false") + "}";
}

}  // namespace pbx::probe
