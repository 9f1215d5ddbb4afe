// The Switchtec HAL backend over a SwitchtecNtbPort: the job (which partitions are nodes), the
// windows (our own block's LUT ranges onto the peers' memory, one DMA-mapped buffer of slots for
// theirs), interrupts, teardown and the exported windows. The link state machine, scratchpads
// and doorbells are in switchtec_link.cpp.
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>

#include "new_epoch.h"
#include "pbx/hal/detail/switchtec_page.h"
#include "pbx/hal/switchtec_ntb.h"

namespace pbx::hal {

namespace sw = ntb::switchtec;
namespace pg = switchtec_page;

namespace {

constexpr size_t kPage = 4096;
constexpr size_t k2M = size_t{2} << 20;

std::string size_str(uint64_t b) {
  char s[32];
  if (b >= (1u << 20) && b % (1u << 20) == 0) std::snprintf(s, sizeof s, "%" PRIu64 " MiB", b >> 20);
  else if (b >= 1024 && b % 1024 == 0) std::snprintf(s, sizeof s, "%" PRIu64 " KiB", b >> 10);
  else std::snprintf(s, sizeof s, "%" PRIu64 " bytes", b);
  return s;
}

std::string partitions_str(const std::vector<uint8_t>& v) {
  uint64_t m = 0;
  for (uint8_t p : v) m |= uint64_t{1} << p;
  return sw::partition_list(m);
}

constexpr const char* kConfigFix =
    "the switch configuration (ChipLink or Microchip's configuration tools, written with switchtec-user's fw-update, "
    "then a switch reset)";

}  // namespace

Result<void> SwitchtecNtbOptions::validate() const {
  if (window_size % kPage != 0)
    return fail(Errc::kInvalidArgument,
                "switchtec: window_size = %zu must be 0 (the most every window holds) or a multiple of 4 KiB",
                window_size);
  if (link_check_ns == 0 || reannounce_ns == 0)
    return fail(Errc::kInvalidArgument, "switchtec: link_check_ns and reannounce_ns must not be 0");
  return {};
}

Result<uint16_t> SwitchtecNtbPort::enable_vectors(uint16_t /*count*/) { return uint16_t{0}; }

Result<bool> SwitchtecNtbPort::wait(uint16_t /*vector*/, uint64_t /*timeout_ns*/) { return false; }

Result<MappableFile> SwitchtecNtbPort::window_file(unsigned bar) {
  return fail(Errc::kNotSupported, "%s: this Switchtec port cannot hand its BAR%u to other processes", name().c_str(),
              bar);
}

SwitchtecNtbDevice::SwitchtecNtbDevice(std::unique_ptr<SwitchtecNtbPort> port, const SwitchtecNtbOptions& opts)
    : port_(std::move(port)),
      opts_(opts),
      clock_(opts.clock != nullptr ? opts.clock : &default_clock_),
      pacer_(opts.pacer != nullptr ? opts.pacer : &default_pacer_) {}

Result<std::unique_ptr<SwitchtecNtbDevice>> SwitchtecNtbDevice::attach(std::unique_ptr<SwitchtecNtbPort> port,
                                                                       const SwitchtecNtbOptions& opts) {
  return detail::attach_backend<SwitchtecNtbDevice>(std::move(port), opts);
}

Result<void> SwitchtecNtbDevice::init() {
  const std::string name = port_->name();
  if (auto ok = port_->enable_device(); !ok) return tl::unexpected(with_context(ok.error(), name + ": enable device"));
  auto params = port_->attach_params();
  params.clock = clock_;
  params.pacer = pacer_;
  params.timing = opts_.timing;
  auto s = sw::SwitchtecNtb::attach(params);
  if (!s) return tl::unexpected(s.error());
  sw_.emplace(std::move(*s));
  if (auto ok = plan_job(); !ok) return ok;
  // The switch forwards our stores only from requester IDs in our partition's table.
  if (auto rids = sw_->setup_requester_ids(); !rids) return tl::unexpected(rids.error());
  if (auto ok = setup_windows(); !ok) return ok;
  setup_interrupts();

  // A number new at every open, so that peers tell a restarted host from the old one.
  epoch_ = detail::new_epoch();
  info_.backend = "switchtec";
  info_.name = name;
  info_.spad_count = pg::kUserSpads;
  info_.db_valid_mask = (uint64_t{1} << pg::kDbBits) - 1;
  info_.outbound_mem_type = port_->window_mem_type();
  for (Peer& p : peers_)
    if (p.pidx >= 0) announce(p);
  // "Look at my page" to every peer that has a message slot; the others find it by polling.
  (void)sw_->peer_msg_write(sw::kLinkMessage, sw::kMsgCheckLink);
  next_check_ns_ = clock_->now_ns();
  return {};
}

// The job: our partition and its targets, each of which must target all the others; the
// window slot size B every host derives from the same registers.
Result<void> SwitchtecNtbDevice::plan_job() {
  const char* nm = sw_->name().c_str();
  const sw::Topology& t = sw_->topology();
  const sw::RawInfo info = sw::read_info(sw_->gas());
  partitions_ = t.peers;
  partitions_.push_back(t.self);
  std::sort(partitions_.begin(), partitions_.end());
  for (uint8_t q : t.peers) {
    std::vector<uint8_t> theirs = sw::peers_of(info, q);
    theirs.push_back(q);
    std::sort(theirs.begin(), theirs.end());
    if (theirs != partitions_)
      return fail(Errc::kNotSupported,
                  "%s: partition %u's job is partitions %s, but partition %u (one of them) reaches partitions %s: "
                  "postbox needs every partition of a job to list all the others as NT targets (a full mesh), so "
                  "that every host numbers the nodes alike; change the targets of partition %u in %s",
                  nm, t.self, partitions_str(partitions_).c_str(), q, partitions_str(theirs).c_str(), q, kConfigFix);
  }
  // B: the smallest range of LUT entries any partition of the job gives one peer.
  uint64_t slot = ~uint64_t{0};
  uint8_t smallest = t.self;
  for (uint8_t p : partitions_) {
    const uint16_t entries = sw_->gas().ctrl(p).read(sw::CtrlRegs::lut_table_entries);
    auto plan = sw::plan_luts(info, p, entries, sw_->name());
    if (!plan) return tl::unexpected(plan.error());
    const uint64_t range = uint64_t{plan->per_peer} * sw_->lut_size();
    if (range < slot) {
      slot = range;
      smallest = p;
    }
  }
  if (slot < 2 * kPage)
    return fail(Errc::kNotSupported,
                "%s: partition %u gives each of its peers %s of LUT windows: postbox needs at least 8 KiB per peer (a "
                "4 KiB control page and a window); raise 'Maximum Number of NT Lut Entries' of partition %u in %s",
                nm, smallest, size_str(slot).c_str(), smallest, kConfigFix);
  slot_ = static_cast<size_t>(slot);
  const size_t most = slot_ - kPage;
  if (opts_.window_size > most)
    return fail(Errc::kInvalidArgument,
                "%s: window_size %s is more than a window holds: partition %u gives each peer %s of LUT windows, "
                "%s of them for postbox after the 4 KiB control page; use window=%zu or less (0: all of it), or raise "
                "'Maximum Number of NT Lut Entries' of partition %u in %s",
                nm, size_str(opts_.window_size).c_str(), smallest, size_str(slot_).c_str(), size_str(most).c_str(),
                most, smallest, kConfigFix);
  info_.window_size = opts_.window_size != 0 ? opts_.window_size : most;
  info_.node_count = static_cast<uint16_t>(partitions_.size());
  peers_.assign(partitions_.size(), Peer{});
  for (uint16_t n = 0; n < partitions_.size(); ++n) {
    peers_[n].partition = partitions_[n];
    if (partitions_[n] == t.self) info_.self = NodeIdx(n);
  }
  for (unsigned k = 0; k < sw_->peer_count(); ++k) {
    const auto n = static_cast<size_t>(std::find(partitions_.begin(), partitions_.end(), sw_->peer_partition(k)) -
                                       partitions_.begin());
    peers_[n].pidx = static_cast<int>(k);
  }
  return {};
}

Result<void> SwitchtecNtbDevice::setup_windows() {
  const std::string& name = sw_->name();
  const char* nm = name.c_str();
  const size_t n = partitions_.size();
  // Our ranges: all in the BAR whose start holds the LUT windows.
  auto w0 = sw_->peer_window(0);
  if (!w0) return tl::unexpected(w0.error());
  auto bar = port_->map_window_bar(w0->bar);
  if (!bar) return tl::unexpected(with_context(bar.error(), name + ": map BAR" + std::to_string(w0->bar)));
  bar_ = *bar;
  for (Peer& p : peers_) {
    if (p.pidx < 0) continue;
    auto w = sw_->peer_window(static_cast<unsigned>(p.pidx));
    if (!w) return tl::unexpected(w.error());
    if (w->offset + slot_ > bar_.size())
      return fail(Errc::kInvalidArgument, "%s: BAR%u maps %zu bytes, less than the LUT windows to partition %u need",
                  nm, w->bar, bar_.size(), p.partition);
    p.out_page = bar_.data() + w->offset;
  }

  // Inbound: one buffer of n slots (rounded up to 2 MiB so that hugepages can back it); what
  // node k writes lands in slot k. Zeroed: nothing of an earlier run reads as a page or a segment.
  const size_t bytes = (n * slot_ + k2M - 1) / k2M * k2M;
  auto in = LocalMemory::allocate("pbx-switchtec-inbound", bytes, opts_.pages);
  if (!in) return tl::unexpected(with_context(in.error(), name + ": inbound window memory"));
  inbound_ = std::move(*in);
  for (size_t k = 0; k < n; ++k) peers_[k].in_page = inbound_.span().data() + k * slot_;
  if (auto ok = port_->map_dma(inbound_.span(), kIovaBase); !ok)
    return tl::unexpected(with_context(ok.error(), name + ": DMA-map the inbound windows (an IOMMU is needed: VFIO "
                                                          "type1, not no-IOMMU mode)"));
  dma_mapped_ = true;

  // Our block's range for each peer leads to our slot in its buffer.
  std::vector<sw::SwitchtecNtb::OutboundTrans> t(sw_->peer_count());
  for (auto& e : t) e = {kIovaBase + uint64_t{info_.self.v} * slot_, slot_};
  if (auto ok = sw_->outbound_set_trans(t); !ok) return ok;
  windows_set_ = true;
  return {};
}

// Doorbells and messages on two MSI-X vectors other than the partition's event vector, where
// the port has interrupts; else doorbells are polled.
void SwitchtecNtbDevice::setup_interrupts() noexcept {
  const uint16_t ev = sw_->event_vector();
  uint8_t v[2];
  unsigned found = 0;
  for (uint8_t i = 0; found < 2; ++i)
    if (i != ev) v[found++] = i;
  auto count = port_->enable_vectors(static_cast<uint16_t>(std::max(v[0], v[1]) + 1));
  if (!count || *count <= std::max(v[0], v[1])) return;
  if (!sw_->map_vectors(v[0], v[1]) || !sw_->db_clear_mask(1)) return;
  db_vector_ = v[0];
  interrupts_ = true;
}

SwitchtecNtbDevice::~SwitchtecNtbDevice() {
  if (!sw_) return;
  if (epoch_ != 0) leave();
  // Our BAR no longer reaches the peers; then the memory they write goes (their stores until
  // they see our page say "closed" meet the IOMMU).
  if (windows_set_) (void)sw_->outbound_set_trans(std::vector<sw::SwitchtecNtb::OutboundTrans>(sw_->peer_count()));
  if (dma_mapped_) port_->unmap_dma(kIovaBase);
}

Result<OutboundWindow> SwitchtecNtbDevice::do_peer_mw(NodeIdx peer) {
  if (peer == info_.self)
    return OutboundWindow(inbound_.span().data() + peer.v * slot_ + kPage, info_.window_size, MemType::kWriteBack);
  return OutboundWindow(peers_[peer.v].out_page + kPage, info_.window_size, info_.outbound_mem_type);
}

Result<InboundWindow> SwitchtecNtbDevice::do_local_mw(NodeIdx peer) {
  return InboundWindow(peers_[peer.v].in_page + kPage, info_.window_size);
}

Result<std::vector<NodeWindowsExport>> SwitchtecNtbDevice::do_export_windows() {
  auto w0 = sw_->peer_window(0);
  if (!w0) return tl::unexpected(w0.error());
  auto bar = port_->window_file(w0->bar);
  if (!bar) return tl::unexpected(with_context(bar.error(), info_.name + ": export the outbound windows"));
  const uint64_t ws = info_.window_size;
  std::vector<NodeWindowsExport> out(info_.node_count);
  for (uint16_t k = 0; k < info_.node_count; ++k) {
    const WindowExport in{inbound_.fd(), k * slot_ + kPage, ws, MemType::kWriteBack, false};
    out[k].inbound = in;
    if (k == info_.self.v) {
      out[k].outbound = in;
      continue;
    }
    const auto off = static_cast<uint64_t>(peers_[k].out_page - bar_.data());
    out[k].outbound = {bar->fd, bar->offset + off + kPage, ws, bar->mem_type, false};
  }
  return out;
}

}  // namespace pbx::hal
