// A FakeVfio machine with one ivshmem device: BAR0 registers (0x100 bytes), BAR2 shared memory
// (prefetchable, as QEMU declares it), MSI-X vectors like ivshmem-doorbell. Unit tests only.
#pragma once

#include <cstring>

#include "support/vfio/fake_vfio.h"

namespace pbx::vfio::test {

// `shared` backs BAR2 when given (several fake VMs on one memory); `vectors` = 0 models
// ivshmem-plain.
inline void make_ivshmem(FakeVfio& f, uint16_t iv_position, uint64_t shm_size, uint32_t vectors = 2,
                         std::byte* shared = nullptr) {
  f.set16(0x00, 0x1af4);
  f.set16(0x02, 0x1110);
  f.config[0x08] = 1;  // revision 1 (QEMU >= 2.6)
  f.add_bar(0, 0x100, /*prefetchable=*/false);
  f.add_bar(2, shm_size, /*prefetchable=*/true, shared);
  f.msix_count = vectors;
  const uint32_t pos = iv_position;
  std::memcpy(f.bar_memory(0) + 0x8, &pos, 4);
}

// The last value written to the Doorbell register of a fake ivshmem.
inline uint32_t doorbell_register(FakeVfio& f) {
  uint32_t v;
  std::memcpy(&v, f.bar_memory(0) + 0xc, 4);
  return v;
}

}  // namespace pbx::vfio::test
