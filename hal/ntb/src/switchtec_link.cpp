// The Switchtec HAL backend: the link to each peer from the pages (announce, read, acknowledge),
// the partitions' link state and message registers, scratchpads and doorbells in the pages.
#include <atomic>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>

#include "pbx/base/barrier.h"
#include "pbx/hal/detail/switchtec_page.h"
#include "pbx/hal/switchtec_ntb.h"

namespace pbx::hal {

namespace sw = ntb::switchtec;
namespace pg = switchtec_page;

namespace {

// Stores into a page through the window BAR (posted writes; ordered by wc_flush()).
template <class T>
void put(std::byte* page, size_t off, T v, std::memory_order mo = std::memory_order_relaxed) noexcept {
  std::atomic_ref<T>(*reinterpret_cast<T*>(page + off)).store(v, mo);  // NOLINT: window memory is raw bytes
}

// Loads from a page in our memory that a peer writes.
template <class T>
T get(const std::byte* page, size_t off, std::memory_order mo = std::memory_order_relaxed) noexcept {
  // atomic_ref needs a non-const object; loads never write.
  return std::atomic_ref<T>(*const_cast<T*>(reinterpret_cast<const T*>(page + off))).load(mo);  // NOLINT
}

[[gnu::format(printf, 2, 3)]] void note(std::string& out, const char* fmt, ...) noexcept {
  char b[384];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  out = b;
}

}  // namespace

// Writes our page at `p`: everything, then the magic/link_sta word that makes it valid.
void SwitchtecNtbDevice::announce(Peer& p) noexcept {
  std::byte* page = p.out_page;
  if (!p.page_written) {
    // Our first page since this open: the counters and scratchpads of an earlier run go.
    put<uint64_t>(page, pg::kWord0, pg::word0(false));
    for (unsigned i = 0; i < pg::kDbBits; ++i) put<uint32_t>(page, pg::spad_off(pg::kSpadDb + i), 0);
    for (unsigned i = 0; i < pg::kUserSpads; ++i) put<uint32_t>(page, pg::spad_off(i), 0);
    p.page_written = true;
  }
  put<uint32_t>(page, pg::kPartition, sw_->self_partition());
  put<uint64_t>(page, pg::kWindowSize, info_.window_size);
  put<uint32_t>(page, pg::spad_off(pg::kSpadVersion), pg::kPostboxMagic);
  put<uint32_t>(page, pg::spad_off(pg::kSpadEpoch), epoch_);
  put<uint32_t>(page, pg::spad_off(pg::kSpadAck), p.peer_epoch);
  wc_flush();  // the fields land before the word that makes them valid
  // Release: pairs with the acquire load of word 0 in the peer's poll_page().
  put<uint64_t>(page, pg::kWord0, pg::word0(true), std::memory_order_release);
  wc_flush();  // out now, not when the write-combining buffer happens to drain
  p.last_announce_ns = clock_->now_ns();
}

void SwitchtecNtbDevice::set_up(Peer& p, bool up) noexcept {
  if (up) p.why.clear();
  if (p.up == up) return;
  p.up = up;
  ++p.generation;
}

// Reads the page peer `p` wrote into our memory and moves its link state.
void SwitchtecNtbDevice::poll_page(Peer& p) noexcept {
  const char* nm = info_.name.c_str();
  const unsigned q = p.partition;
  // Acquire: pairs with the release store of word 0 in the peer's announce().
  const uint64_t w0 = get<uint64_t>(p.in_page, pg::kWord0, std::memory_order_acquire);
  // Not up, and our page may have gone out before the peer's memory was there: write it again
  // now and then.
  auto waiting = [&] {
    set_up(p, false);
    if (clock_->now_ns() - p.last_announce_ns >= opts_.reannounce_ns) announce(p);
  };
  if (static_cast<uint32_t>(w0) != sw::kSharedMagic) {
    note(p.why,
         "%s: no page from partition %u yet: its host has not opened its NT endpoint with postbox, or its stores do "
         "not reach this host (its requester IDs, or the IOMMU alias for the switch's proxy IDs)",
         nm, q);
    return waiting();
  }
  if ((w0 >> 32) == 0) {
    note(p.why, "%s: partition %u closed its device", nm, q);
    return set_up(p, false);
  }
  const auto version = get<uint32_t>(p.in_page, pg::spad_off(pg::kSpadVersion));
  const auto epoch = get<uint32_t>(p.in_page, pg::spad_off(pg::kSpadEpoch));
  const auto ack = get<uint32_t>(p.in_page, pg::spad_off(pg::kSpadAck));
  const auto partition = get<uint32_t>(p.in_page, pg::kPartition);
  const auto window = get<uint64_t>(p.in_page, pg::kWindowSize);
  if (version != pg::kPostboxMagic) {
    note(p.why,
         "%s: partition %u's page is not postbox's (0x%08x, not 0x%08x): another driver (Linux's ntb_hw_switchtec?) "
         "or another postbox build runs there; run the same postbox build on every host",
         nm, q, version, pg::kPostboxMagic);
    return set_up(p, false);
  }
  if (partition != q) {
    note(p.why,
         "%s: the page in partition %u's slot was written by partition %u: its LUT entries lead to the wrong place; "
         "run the same postbox build on every host",
         nm, q, partition);
    return set_up(p, false);
  }
  if (epoch == 0) {
    note(p.why, "%s: partition %u's page has no epoch yet", nm, q);
    return waiting();
  }
  if (epoch != p.peer_epoch) {
    // A new incarnation (or the first one we see): whatever we had with the old one is over.
    set_up(p, false);
    p.peer_epoch = epoch;
    p.db_seen.fill(0);  // its counters started again at 0
    announce(p);        // acknowledge it
  }
  if (window != info_.window_size) {
    note(p.why,
         "%s: window sizes differ: %zu bytes here, %" PRIu64 " on partition %u: give every host the same window= "
         "option (or none)",
         nm, info_.window_size, window, q);
    return set_up(p, false);
  }
  if (ack != epoch_) {
    note(p.why, "%s: partition %u has not acknowledged our page yet (its host has not polled its link since)", nm, q);
    return waiting();
  }
  if (!p.hw_active) {
    note(p.why, "%s: partition %u's link to the switch is down", nm, q);
    return set_up(p, false);
  }
  set_up(p, true);
}

// Every link_check_ns: the partitions' links to the switch, and the message registers (any
// message says "look at my page", which poll_page does on every call anyway: they are cleared).
void SwitchtecNtbDevice::check_hardware() noexcept {
  for (Peer& p : peers_) {
    if (p.pidx < 0) continue;
    auto l = sw_->peer_link(static_cast<unsigned>(p.pidx));
    p.hw_active = !l || l->active;  // a GAS that cannot be read says nothing about the link
    if (l) p.link = *l;
  }
  for (const sw::InMessage& m : sw_->msg_read()) (void)sw_->msg_clear(m.slot);
  next_check_ns_ = clock_->now_ns() + opts_.link_check_ns;
}

void SwitchtecNtbDevice::leave() noexcept {
  for (Peer& p : peers_) {
    if (p.pidx < 0 || !p.page_written) continue;
    // Release: our last stores land before the peer reads "closed".
    put<uint64_t>(p.out_page, pg::kWord0, pg::word0(false), std::memory_order_release);
  }
  wc_flush();
  (void)sw_->peer_msg_write(sw::kLinkMessage, sw::kMsgLinkDown);
  for (Peer& p : peers_)
    if (p.pidx >= 0) (void)sw_->peer_db_set(static_cast<unsigned>(p.pidx), 1);
}

LinkStatus SwitchtecNtbDevice::do_link_status(NodeIdx peer) noexcept {
  if (clock_->now_ns() >= next_check_ns_) check_hardware();
  Peer& p = peers_[peer.v];
  poll_page(p);
  const bool up = p.up;
  return LinkStatus{up, p.generation, up ? p.link.speed_code : uint8_t{0}, up ? p.link.width : uint8_t{0}};
}

std::string SwitchtecNtbDevice::link_diagnostic(NodeIdx peer) const {
  if (peer.v >= peers_.size() || peer == info_.self) return {};
  return peers_[peer.v].up ? std::string() : peers_[peer.v].why;
}

// ---- scratchpads and doorbells, in the pages -------------------------------------------------

Result<uint32_t> SwitchtecNtbDevice::do_spad_read(NodeIdx peer, SpadIdx idx) {
  if (peer == info_.self) return self_spads_[idx.v];
  // Acquire: pairs with the flush after the peer's store in its peer_spad_write().
  return get<uint32_t>(peers_[peer.v].in_page, pg::spad_off(idx.v), std::memory_order_acquire);
}

Result<void> SwitchtecNtbDevice::do_peer_spad_write(NodeIdx peer, SpadIdx idx, uint32_t v) {
  if (peer == info_.self) {
    self_spads_[idx.v] = v;
    return {};
  }
  wc_flush();  // earlier stores land first
  put<uint32_t>(peers_[peer.v].out_page, pg::spad_off(idx.v), v);
  wc_flush();
  return {};
}

Result<void> SwitchtecNtbDevice::do_peer_db_set(NodeIdx peer, uint64_t bits) {
  if (peer == info_.self) {
    self_db_ |= bits;
    return {};
  }
  Peer& p = peers_[peer.v];
  wc_flush();  // earlier window stores land before the counters that announce them
  for (unsigned i = 0; i < pg::kDbBits; ++i)
    if ((bits >> i & 1) != 0) put<uint32_t>(p.out_page, pg::spad_off(pg::kSpadDb + i), ++p.db_out[i]);
  // The hardware doorbell only wakes the peer (it cannot tell who rang); it flushes the
  // counters before it rings.
  return sw_->peer_db_set(static_cast<unsigned>(p.pidx), 1);
}

Result<uint64_t> SwitchtecNtbDevice::do_db_read(NodeIdx peer) {
  if (peer == info_.self) return self_db_;
  const Peer& p = peers_[peer.v];
  uint64_t bits = 0;
  for (unsigned i = 0; i < pg::kDbBits; ++i)
    // Acquire: pairs with the flush before the ringing peer's hardware doorbell.
    if (get<uint32_t>(p.in_page, pg::spad_off(pg::kSpadDb + i), std::memory_order_acquire) != p.db_seen[i])
      bits |= uint64_t{1} << i;
  return bits;
}

Result<void> SwitchtecNtbDevice::do_db_clear(NodeIdx peer, uint64_t bits) {
  if (peer == info_.self) {
    self_db_ &= ~bits;
    return {};
  }
  Peer& p = peers_[peer.v];
  for (unsigned i = 0; i < pg::kDbBits; ++i)
    if ((bits >> i & 1) != 0) p.db_seen[i] = get<uint32_t>(p.in_page, pg::spad_off(pg::kSpadDb + i));
  return {};
}

uint64_t SwitchtecNtbDevice::db_arm(NodeIdx peer) noexcept {
  // The hardware bit goes before the look at the counters: a ring after this interrupts again.
  if (interrupts_ && peer != info_.self) (void)sw_->db_clear(1);
  return 0;
}

Result<void> SwitchtecNtbDevice::db_sleep(NodeIdx peer, uint64_t token, uint64_t ns) {
  if (!interrupts_ || peer == info_.self) return Device::db_sleep(peer, token, ns);
  // Any peer's ring fires the vector: the caller looks at its counters again.
  auto fired = port_->wait(db_vector_, ns);
  if (!fired) return tl::unexpected(fired.error());
  return {};
}

}  // namespace pbx::hal
