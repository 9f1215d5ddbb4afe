// pbx-probe output for Switchtec NT endpoints (partitions, targets, crosslink, links, LUT
// windows, requester-ID tables, the IOMMU alias check) and AMD NTBs (side, READY).
#pragma once

#include <cstdio>
#include <string>

#include "report.h"
#include "scan.h"

namespace pbx::probe {

void print_switchtec_text(std::FILE* out, const SwitchtecReport& s, const ReportOptions& o);
void print_amd_text(std::FILE* out, const AmdReport& a);
// The value of the "switchtec" / "amd" JSON keys.
std::string switchtec_json(const SwitchtecReport& s);
std::string amd_json(const AmdReport& a);
// A JSON string literal.
std::string json_string(const std::string& s);

}  // namespace pbx::probe
