#include "pbx/hal/device.h"

#include "pbx/base/barrier.h"

namespace pbx::hal {

Result<void> Device::commit_peer_memory(NodeIdx /*peer*/, size_t /*off*/, size_t /*len*/) { return {}; }

Result<uint64_t> Device::db_wait(NodeIdx peer, uint64_t timeout_ns) {
  const uint64_t deadline = now_ns() + timeout_ns;
  for (;;) {
    auto bits = db_read(peer);
    if (!bits || *bits != 0) return bits;
    if (now_ns() >= deadline) return 0;
    for (int i = 0; i < 64; ++i) cpu_pause();
  }
}

ProcessState Device::process_state(NodeIdx /*node*/, uint64_t /*pid*/) noexcept { return ProcessState::kUnknown; }

Result<std::vector<NodeWindowsExport>> Device::export_windows() {
  const DeviceInfo& i = info();
  return fail(Errc::kNotSupported,
              "the %s backend (%s) cannot hand its windows to other processes: open the device in each process, "
              "or use a backend that exports them (loopback, ivshmem, Intel NTB)",
              i.backend.c_str(), i.name.c_str());
}

}  // namespace pbx::hal
