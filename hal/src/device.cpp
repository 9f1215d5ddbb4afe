// The checking wrappers of hal::Device: every argument a caller can get wrong is refused here,
// with the device, the call and the valid range named, before a backend's op sees it.
#include "pbx/hal/device.h"

#include <cinttypes>

#include "pbx/base/barrier.h"

namespace pbx::hal {

Result<void> Device::check_peer(NodeIdx peer, const char* op) const {
  if (peer.v >= info_.node_count)
    return fail(Errc::kInvalidArgument, "%s: %s: node %u does not exist (the %s device has nodes 0..%u)",
                info_.name.c_str(), op, peer.v, info_.backend.c_str(), info_.node_count - 1u);
  return {};
}

Result<void> Device::check_spad(NodeIdx peer, SpadIdx idx, const char* op) const {
  if (auto ok = check_peer(peer, op); !ok) return ok;
  if (idx.v >= info_.spad_count)
    return fail(Errc::kInvalidArgument, "%s: %s: scratchpad %u does not exist: the %s device gives users scratchpads 0..%u",
                info_.name.c_str(), op, idx.v, info_.backend.c_str(), info_.spad_count - 1u);
  return {};
}

Result<void> Device::check_link(NodeIdx peer, const char* op) noexcept {
  if (peer == info_.self || do_link_status(peer).up) return {};
  return fail(Errc::kLinkDown, "%s: %s: the link to node %u is down", info_.name.c_str(), op, peer.v);
}

Result<OutboundWindow> Device::peer_mw(NodeIdx peer) {
  if (auto ok = check_peer(peer, "peer_mw"); !ok) return tl::unexpected(ok.error());
  return do_peer_mw(peer);
}

Result<InboundWindow> Device::local_mw(NodeIdx peer) {
  if (auto ok = check_peer(peer, "local_mw"); !ok) return tl::unexpected(ok.error());
  return do_local_mw(peer);
}

Result<void> Device::commit_peer_memory(NodeIdx peer, size_t off, size_t len) {
  if (auto ok = check_peer(peer, "commit_peer_memory"); !ok) return ok;
  if (off > info_.window_size || len > info_.window_size - off)
    return fail(Errc::kInvalidArgument, "%s: commit_peer_memory: [%zu, %zu) is outside the %zu-byte window",
                info_.name.c_str(), off, off + len, info_.window_size);
  return do_commit_peer_memory(peer, off, len);
}

Result<void> Device::do_commit_peer_memory(NodeIdx /*peer*/, size_t /*off*/, size_t /*len*/) { return {}; }

LinkStatus Device::link_status(NodeIdx peer) noexcept {
  if (peer.v >= info_.node_count) return {};
  if (peer == info_.self) return LinkStatus{true, 1, 0, 0};
  return do_link_status(peer);
}

Result<uint32_t> Device::spad_read(NodeIdx peer, SpadIdx idx) {
  if (auto ok = check_spad(peer, idx, "spad_read"); !ok) return tl::unexpected(ok.error());
  return do_spad_read(peer, idx);
}

Result<void> Device::peer_spad_write(NodeIdx peer, SpadIdx idx, uint32_t v) {
  if (auto ok = check_spad(peer, idx, "peer_spad_write"); !ok) return ok;
  if (auto ok = check_link(peer, "peer_spad_write"); !ok) return ok;
  return do_peer_spad_write(peer, idx, v);
}

Result<void> Device::peer_db_set(NodeIdx peer, uint64_t bits) {
  if (auto ok = check_peer(peer, "peer_db_set"); !ok) return ok;
  if ((bits & ~info_.db_valid_mask) != 0)
    return fail(Errc::kInvalidArgument,
                "%s: peer_db_set(0x%" PRIx64 "): the %s device gives users the doorbell bits 0x%" PRIx64,
                info_.name.c_str(), bits, info_.backend.c_str(), info_.db_valid_mask);
  if (auto ok = check_link(peer, "peer_db_set"); !ok) return ok;
  return do_peer_db_set(peer, bits);
}

Result<uint64_t> Device::db_read(NodeIdx peer) {
  if (auto ok = check_peer(peer, "db_read"); !ok) return tl::unexpected(ok.error());
  return do_db_read(peer);
}

Result<void> Device::db_clear(NodeIdx peer, uint64_t bits) {
  if (auto ok = check_peer(peer, "db_clear"); !ok) return ok;
  // Bits outside the mask cannot have been rung by a user: clearing them is a no-op, and
  // db_clear(peer, ~0) clears everything a user can see.
  return do_db_clear(peer, bits & info_.db_valid_mask);
}

Result<uint64_t> Device::db_wait(NodeIdx peer, uint64_t timeout_ns) {
  if (auto ok = check_peer(peer, "db_wait"); !ok) return tl::unexpected(ok.error());
  const uint64_t deadline = now_ns() + timeout_ns;
  for (;;) {
    // Armed before the look: a ring between the look and the sleep changes what db_sleep()
    // waits on (an eventfd count, a futex sequence), so it returns at once.
    const uint64_t token = db_arm(peer);
    auto bits = do_db_read(peer);
    if (!bits || *bits != 0) return bits;
    const uint64_t now = now_ns();
    if (now >= deadline) return uint64_t{0};
    if (auto slept = db_sleep(peer, token, deadline - now); !slept) return tl::unexpected(slept.error());
  }
}

Result<void> Device::db_sleep(NodeIdx /*peer*/, uint64_t /*token*/, uint64_t /*ns*/) {
  for (int i = 0; i < 64; ++i) cpu_pause();
  return {};
}

ProcessState Device::process_state(NodeIdx node, uint64_t pid) noexcept {
  if (node.v >= info_.node_count) return ProcessState::kUnknown;
  return do_process_state(node, pid);
}

Result<std::vector<NodeWindowsExport>> Device::do_export_windows() {
  return fail(Errc::kNotSupported,
              "the %s backend (%s) cannot hand its windows to other processes: open the device in each process, "
              "or use a backend that exports them (loopback, ivshmem, Intel NTB)",
              info_.backend.c_str(), info_.name.c_str());
}

}  // namespace pbx::hal
