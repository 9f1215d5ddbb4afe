// The typed register windows of pbx/mmio/mmio.h, under the names the NTB drivers use.
#pragma once

#include "pbx/mmio/mmio.h"

namespace pbx::ntb {
using mmio::Access;
using mmio::MmioModel;
using mmio::Reg;
using mmio::RegArray;
using mmio::RegWindow;
}  // namespace pbx::ntb
