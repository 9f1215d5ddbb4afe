// pbx-probe: what the BAR0 of a Switchtec NT endpoint (the switch's GAS) and of an AMD NTB
// say, read through the sysfs resource0 file mapped read-only. Nothing is written.
#pragma once

#include <string>

#include "scan.h"
#include "sysfs.h"

namespace pbx::probe {

// `decodes_memory`: the function's COMMAND has memory decoding on (else BAR0 is not read).
void read_switchtec(const Sysfs& sys, bool decodes_memory, const std::string& kernel_release, DeviceReport& r);
void read_amd(const Sysfs& sys, bool decodes_memory, DeviceReport& r);

}  // namespace pbx::probe
