// A FakeVfio machine with one Intel Skylake (gen3) NTB at 0000:af:00.0: config space with the
// PPD register (B2B, DSD side by default), BAR0 registers as plain memory (no register
// semantics: the link never trains), BAR2 and BAR4 windows of `window` bytes, 33 MSI-X
// vectors. Unit tests only.
#pragma once

#include <cstdint>

#include "support/vfio/fake_vfio.h"

namespace pbx::vfio::test {

inline constexpr uint64_t kSkxBar2Addr = 0x38000000000ull;

inline void make_skx(FakeVfio& f, uint8_t ppd = 0x11 /* B2B, DSD */, uint64_t window = 1u << 20) {
  f.bdf = "0000:af:00.0";
  f.config.assign(4096, 0);
  f.regions[VFIO_PCI_CONFIG_REGION_INDEX].size = 4096;
  f.set16(0x00, 0x8086);
  f.set16(0x02, 0x201c);
  f.set16(0x04, 0x0000);  // decoding off until the driver enables it
  f.config[0x08] = 0x04;
  f.add_bar(0, 64 * 1024, false);
  f.add_bar(2, window, true);
  f.add_bar(4, window, true);
  f.set32(0x10, 0xc3000004);  // 64-bit BAR0
  f.set32(0x18, static_cast<uint32_t>(kSkxBar2Addr) | 0xc);
  f.set32(0x1c, static_cast<uint32_t>(kSkxBar2Addr >> 32));
  f.set32(0x20, 0xc);
  f.set32(0x24, 0x3f3);
  f.config[0xd4] = ppd;
  f.msix_count = 33;
}

}  // namespace pbx::vfio::test
