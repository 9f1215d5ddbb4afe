// pbx-probe output: stable "key: value" text (one block per device) and JSON with stable keys.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "scan.h"

namespace pbx::probe {

struct ReportOptions {
  bool verbose = false;
  bool numeric = false;
  std::string dev_root = "/dev";  // where /dev/vfio/N is checked (-v)
};

void print_text(std::FILE* out, const std::vector<DeviceReport>& devices, const ReportOptions& o);
void print_json(std::FILE* out, const std::vector<DeviceReport>& devices, const ReportOptions& o);

// lspci-style size: "64K", "512M", "16G"; bytes when not a whole unit.
std::string short_size(uint64_t bytes);

}  // namespace pbx::probe
