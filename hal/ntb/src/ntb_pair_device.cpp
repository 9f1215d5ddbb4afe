// NtbPairDevice: the windows, scratchpads and doorbells the two-host NTB backends (Intel, AMD)
// share, instantiated for both drivers at the end.
#include "pbx/hal/detail/ntb_pair_device.h"

#include <algorithm>

#include "pbx/hal/amd_ntb.h"
#include "pbx/hal/intel_ntb.h"

namespace pbx::hal {

namespace {

constexpr uint64_t kIovaFloor = uint64_t{1} << 32;  // above the 32-bit MSI / legacy DMA range

}  // namespace

template <PairNtbDriver Driver, PairNtbPort Port>
Result<void> NtbPairDevice<Driver, Port>::attach_driver(const std::string& name) {
  if (auto ok = port_->enable_device(); !ok) return tl::unexpected(with_context(ok.error(), name + ": enable device"));
  auto n = Driver::attach(port_->attach_params());
  if (!n) return tl::unexpected(n.error());
  ntb_.emplace(std::move(*n));
  return {};
}

template <PairNtbDriver Driver, PairNtbPort Port>
Result<void> NtbPairDevice<Driver, Port>::setup_inbound(const std::string& name, const std::string& memfd_prefix,
                                                        uint64_t ws, PagePolicy pages, uint64_t align) {
  auto in = LocalMemory::allocate(memfd_prefix + "-inbound", ws, pages);
  if (!in) return tl::unexpected(with_context(in.error(), name + ": inbound window memory"));
  inbound_ = std::move(*in);
  // Traffic between this node's processes: ordinary pages, touched only where segments are made.
  auto self_mem = LocalMemory::allocate(memfd_prefix + "-self", ws, PagePolicy::kSmall, /*populate=*/false);
  if (!self_mem) return tl::unexpected(with_context(self_mem.error(), name + ": window to self"));
  self_window_ = std::move(*self_mem);
  iova_ = (std::max(kIovaFloor, align) + align - 1) & ~(align - 1);
  if (auto ok = port_->map_dma(inbound_.span(), iova_); !ok)
    return tl::unexpected(with_context(ok.error(), name + ": DMA-map the inbound window (an IOMMU is needed: VFIO "
                                                          "type1, not no-IOMMU mode)"));
  dma_mapped_ = true;
  if (auto ok = ntb_->mw_set_trans(0, iova_, ws); !ok) return ok;
  trans_set_ = true;
  return {};
}

template <PairNtbDriver Driver, PairNtbPort Port>
void NtbPairDevice<Driver, Port>::close_inbound() noexcept {
  // Close the translation before the memory behind it goes away, then unmap the DMA.
  if (trans_set_) (void)ntb_->mw_clear_trans(0);
  if (dma_mapped_) port_->unmap_dma(iova_);
}

template <PairNtbDriver Driver, PairNtbPort Port>
Result<std::vector<NodeWindowsExport>> NtbPairDevice<Driver, Port>::export_pair_windows(
    Result<MappableFile> outbound) const {
  if (!outbound) return tl::unexpected(with_context(outbound.error(), info_.name + ": export the outbound window"));
  const uint64_t ws = info_.window_size;
  const WindowExport self{self_window_.fd(), 0, ws, MemType::kWriteBack, /*sparse=*/true};
  std::vector<NodeWindowsExport> out(info_.node_count);
  out[info_.self.v] = {self, self};
  out[other().v].outbound = {outbound->fd, outbound->offset, ws, outbound->mem_type, false};
  out[other().v].inbound = {inbound_.fd(), 0, ws, MemType::kWriteBack, false};  // populated at open
  return out;
}

template <PairNtbDriver Driver, PairNtbPort Port>
Result<OutboundWindow> NtbPairDevice<Driver, Port>::do_peer_mw(NodeIdx peer) {
  if (peer == info_.self) return OutboundWindow(self_window_.span().data(), info_.window_size, MemType::kWriteBack);
  return OutboundWindow(outbound_.data(), info_.window_size, info_.outbound_mem_type);
}

template <PairNtbDriver Driver, PairNtbPort Port>
Result<InboundWindow> NtbPairDevice<Driver, Port>::do_local_mw(NodeIdx peer) {
  if (peer == info_.self) return InboundWindow(self_window_.span().data(), info_.window_size);
  return InboundWindow(inbound_.span().data(), info_.window_size);
}

template <PairNtbDriver Driver, PairNtbPort Port>
Result<uint32_t> NtbPairDevice<Driver, Port>::do_spad_read(NodeIdx peer, SpadIdx idx) {
  if (peer == info_.self) return self_spads_[idx.v];
  return ntb_->spad_read(idx.v);
}

template <PairNtbDriver Driver, PairNtbPort Port>
Result<void> NtbPairDevice<Driver, Port>::do_peer_spad_write(NodeIdx peer, SpadIdx idx, uint32_t v) {
  if (peer == info_.self) {
    self_spads_[idx.v] = v;
    return {};
  }
  return ntb_->peer_spad_write(idx.v, v);
}

template <PairNtbDriver Driver, PairNtbPort Port>
Result<void> NtbPairDevice<Driver, Port>::do_peer_db_set(NodeIdx peer, uint64_t bits) {
  if (peer == info_.self) {
    self_db_ |= bits;
    return {};
  }
  return ntb_->peer_db_set(bits);  // flushes earlier window stores before the ring
}

template <PairNtbDriver Driver, PairNtbPort Port>
Result<uint64_t> NtbPairDevice<Driver, Port>::do_db_read(NodeIdx peer) {
  if (peer == info_.self) return self_db_;
  return ntb_->db_read() & info_.db_valid_mask;
}

template <PairNtbDriver Driver, PairNtbPort Port>
Result<void> NtbPairDevice<Driver, Port>::do_db_clear(NodeIdx peer, uint64_t bits) {
  // (Bits outside db_valid_mask were masked off by Device::db_clear: the handshake's bit stays.)
  if (peer == info_.self) {
    self_db_ &= ~bits;
    return {};
  }
  return ntb_->db_clear(bits);
}

template class NtbPairDevice<ntb::intel::IntelNtb, IntelNtbPort>;
template class NtbPairDevice<ntb::amd::AmdNtb, AmdNtbPort>;

}  // namespace pbx::hal
