// The typed register windows of pbx/base/mmio.h, under the names the NTB drivers use.
#pragma once

#include "pbx/base/mmio.h"

namespace pbx::ntb {
using mmio::Access;
using mmio::MmioModel;
using mmio::Reg;
using mmio::RegArray;
using mmio::RegWindow;
}  // namespace pbx::ntb
