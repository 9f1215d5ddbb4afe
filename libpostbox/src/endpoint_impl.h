// The endpoint's state and the protocol: sender side (tx.cpp), receiver side (rx.cpp),
// joining, links and leaving (lifecycle.cpp).
//
// Every per-peer structure is allocated once, when the endpoint is created; the data path
// (send, receive, acknowledge, reclaim) only touches preallocated memory. What lives in other
// nodes' memory (segments, ack segments) is created there on first use (c31-c35).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "layout.h"
#include "pbx/hal/device.h"
#include "pbx/postbox.hpp"
#include "pool_allocator.h"
#include "receiver_list.h"
#include "wire.h"

namespace pbx::detail {

enum class ChannelState : uint8_t {
  kOk,
  kLinkDown,   // the link to the peer's node is down
  kResyncing,  // the link came back: waiting for the receiver to adopt the new epoch
  kCorrupt,    // the peer wrote something malformed; the channel is closed
};

// Pool blocks held by one in-flight indicator (none for inline messages).
struct SlotShadow {
  uint32_t first_block = 0;
  uint32_t blocks = 0;
};

// This process's data segment on one node (c1, c14): its postboxes and its buffer pool.
struct TxSegment {
  hal::OutboundWindow win;  // the segment, inside the node's window from our node
  PoolAllocator pool;
  uint16_t node = 0;
  bool created = false;     // header written (c31: on first use)
};

// This process -> one receiver: a simplex channel (c40).
struct TxChannel {
  uint64_t head = 0;            // sequence number of the next indicator
  // The fast path may send while head < fast_until: set by the slow path when the channel is
  // healthy (released + half the postbox), zeroed by anything that needs the slow path.
  uint64_t fast_until = 0;
  uint64_t released = 0;        // receiver's released count, as last read from its ack block
  hal::OutboundWindow slots;    // the receiver's postbox slots in our segment (remote)
  hal::OutboundWindow postbox_header;
  hal::InboundWindow ack;       // our ack block from this receiver (local memory, c33)
  SlotShadow* shadow = nullptr; // postbox_slots entries, indexed by seq & mask
  TxSegment* seg = nullptr;
  uint32_t blocks_held = 0;     // c18, c19: blocks of the pool this receiver holds
  ChannelState state = ChannelState::kOk;
  Rank dst{};
  uint64_t epoch = 0;           // postbox epoch: bumped at each link resync
  uint64_t resync_start = 0;    // first sequence number of the current epoch
  uint64_t lost_unreported = 0; // lost in a link outage; reported by the next send
  uint64_t next_ticket = 0;     // isend order on this channel
  uint64_t serving_ticket = 0;
  hal::InboundWindow presence;  // the receiver's presence line (local memory)
  IntrusiveList<TxChannel>::Hook hook;  // c27: place in the receiver list
};

// One sender -> this process.
struct RxChannel {
  uint64_t expected = 0;        // sequence number of the next indicator to deliver
  uint64_t released = 0;        // contiguous released prefix (the sender may reuse it)
  uint64_t acked = 0;           // `released` as last written to the ack block
  uint64_t epoch = 0;           // postbox epoch adopted
  hal::InboundWindow slots;     // our postbox slots in the sender's segment (local)
  hal::InboundWindow postbox_header;
  hal::InboundWindow pool;      // the sender's buffer pool (local)
  hal::InboundWindow seg_header;
  hal::OutboundWindow ack;      // our ack block on the sender's node (remote, one line)
  uint64_t* release_bits = nullptr;  // postbox_slots bits: out-of-order releases (views)
  ChannelState state = ChannelState::kOk;
  bool active = false;          // the sender's segment exists and was checked
  bool ack_now = false;         // the sender asked for an immediate acknowledgement
  Rank src{};
  uint32_t views_out = 0;
  uint32_t out_of_order = 0;    // bits set in release_bits
  // After a link resync: once `expected` reaches skip_from, it jumps to skip_to (the
  // messages in between never landed; the sender was told they were lost).
  uint64_t skip_from = UINT64_MAX, skip_to = 0;
  uint64_t delivered_at_epoch = 0;  // reported with the epoch
};

// A decoded, bounds-checked indicator.
struct Indicator {
  wire::Kind kind = wire::Kind::kInline;
  uint8_t flags = 0;
  uint32_t tag = 0;
  uint64_t len = 0;        // bytes in this indicator (inline, pool message, or piece)
  uint64_t pool_off = 0;   // byte offset in the sender's pool (pool, piece)
  uint64_t msg_off = 0;    // piece: offset of the piece in the message
  uint64_t total = 0;      // message length (== len unless a piece)
  uint64_t words[8] = {};
};

enum class Peek : uint8_t { kNone, kReady, kBad };
// Result of the receive fast path's look at one postbox.
enum class Fast : uint8_t { kNone, kDelivered, kSlow };

// An outstanding isend() (and the state of a message going in pieces).
struct SendRequest {
  const std::byte* data = nullptr;
  uint64_t size = 0;
  uint64_t sent = 0;
  uint32_t tag = 0;
  uint32_t generation = 0;
  TxChannel* ch = nullptr;
  uint64_t ticket = 0;
  bool in_use = false;
  bool done = false;
  bool large = false;
  bool region_held = false;
  uint32_t region_first = 0, region_blocks = 0;
  uint32_t next_slice = 0;
  uint64_t slice_seq[64] = {};  // sequence number of the piece in each slice (+1; 0 = empty)
  Errc error = Errc::kCancelled;
  std::string error_message;
};

class EndpointImpl {
 public:
  static Result<std::unique_ptr<EndpointImpl>> create(std::unique_ptr<hal::Device> dev, const JobShape& shape,
                                                      Rank self, const Config& cfg);
  ~EndpointImpl();
  EndpointImpl(const EndpointImpl&) = delete;
  EndpointImpl& operator=(const EndpointImpl&) = delete;

  Rank self() const noexcept { return self_; }
  const JobShape& shape() const noexcept { return layout_.shape(); }
  const Config& config() const noexcept { return layout_.config(); }
  const Stats& stats() const noexcept { return stats_; }
  const Layout& layout() const noexcept { return layout_; }

  // Sending (tx.cpp).
  Result<void> send(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept;
  Result<void> try_send(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept;
  Result<SendHandle> isend(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept;
  Result<bool> test(SendHandle h) noexcept;
  Result<void> wait(SendHandle h) noexcept;

  // Receiving (rx.cpp).
  Result<RecvInfo> recv(std::span<std::byte> buf, Rank src, bool blocking) noexcept;
  Result<RecvInfo> probe(Rank src) noexcept;
  Result<MessageView> recv_view(Rank src, bool blocking) noexcept;
  void release(MessageView& v) noexcept;

  int progress() noexcept;
  Result<void> close() noexcept;

  // Tests: record every access to outbound windows (nullptr to stop).
  void set_recorder(hal::AccessRecorder* rec) noexcept;
  // Tests: sender-side bookkeeping.
  std::vector<Rank> receiver_list_order() const;
  uint32_t blocks_held(Rank dst) const noexcept { return tx_[shape().flat(dst)].blocks_held; }
  uint32_t pool_free_blocks(uint16_t node) const noexcept { return segs_[node].pool.free_blocks(); }
  uint64_t unacknowledged(Rank dst) const noexcept {
    const TxChannel& t = tx_[shape().flat(dst)];
    return t.head - t.released;
  }
  hal::Device& device() noexcept { return *dev_; }

 private:
  EndpointImpl() = default;

  // ---- tx.cpp ----
  bool try_send_fast(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept;
  Result<void> try_send_slow(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept;
  Result<void> send_slow(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept;
  void send_inline(TxChannel& ch, const std::byte* data, size_t n, uint32_t tag, uint8_t flags) noexcept;
  Result<TxChannel*> tx_channel(Rank dst, std::span<const std::byte> msg, const char* op) noexcept;
  Result<void> tx_admit(TxChannel& ch) noexcept;
  Result<void> tx_one(TxChannel& ch, const std::byte* data, size_t n, uint32_t tag) noexcept;
  Result<bool> tx_large_step(SendRequest& r) noexcept;
  void publish(TxChannel& ch, const uint64_t (&w)[8], hal::StoreKind kind) noexcept;
  Result<void> ensure_segment(TxSegment& seg) noexcept;
  bool refresh_acks(TxChannel& ch) noexcept;
  void reclaim(TxChannel& ch, uint64_t new_released) noexcept;
  bool reclaim_for_node(const TxSegment& seg) noexcept;
  void charge_blocks(TxChannel& ch, uint32_t blocks) noexcept;
  Error channel_error(const TxChannel& ch, const char* op) const;
  void abort_large(SendRequest& r) noexcept;
  void finish_request(SendRequest& r, Result<void> res) noexcept;
  int progress_requests() noexcept;
  SendRequest* find_request(SendHandle h) noexcept;
  Result<SendRequest*> start_request(TxChannel& ch, std::span<const std::byte> msg, uint32_t tag) noexcept;

  // ---- rx.cpp ----
  Fast recv_inline_fast(RxChannel& ch, std::span<std::byte> buf, RecvInfo& info) noexcept;
  Fast poll_fast(Rank src, std::span<std::byte> buf, RecvInfo& info, RxChannel*& ch) noexcept;
  Result<RecvInfo> recv_wait(std::span<std::byte> buf, Rank src, bool blocking) noexcept;
  RxChannel& rx_channel(Rank src) noexcept { return rx_[size_t{src.node} * ppn_ + src.local]; }
  bool try_activate(RxChannel& ch) noexcept;
  Peek peek(RxChannel& ch, Indicator& ind) noexcept;
  Peek find_ready(Rank src, RxChannel*& out, Indicator& ind) noexcept;
  Result<RecvInfo> deliver(RxChannel& ch, const Indicator& ind, std::span<std::byte> buf) noexcept;
  Result<RecvInfo> receive_pieces(RxChannel& ch, Indicator ind, std::span<std::byte> buf) noexcept;
  void consume(RxChannel& ch, uint8_t flags) noexcept;
  void advance_expected(RxChannel& ch) noexcept {
    if (++ch.expected == ch.skip_from) [[unlikely]] {
      ch.expected = ch.skip_to;
      ch.skip_from = UINT64_MAX;
    }
  }
  void release_seq(RxChannel& ch, uint64_t seq) noexcept;
  void write_ack(RxChannel& ch) noexcept;
  void write_idle_acks() noexcept;
  void on_bad_indicator(RxChannel& ch, const char* what, uint64_t value, uint64_t limit) noexcept;
  void scan_segments() noexcept;
  void check_epoch(RxChannel& ch) noexcept;
  void write_resync_ack(RxChannel& ch) noexcept;
  Result<RecvInfo> take_pending_error() noexcept;
  void idle_poll() noexcept;

  // ---- lifecycle.cpp ----
  Result<void> join() noexcept;
  void write_presence(uint16_t node, uint64_t state) noexcept;
  uint64_t presence_state(Rank r) const noexcept;
  void check_links() noexcept;
  void on_link_down(uint16_t node) noexcept;
  void on_link_up(uint16_t node) noexcept;
  void maybe_check_links() noexcept {
    if ((++ops_ & 4095) == 0) check_links();
  }
  // Blocking waits read the clock and look at links and peers every 1024 spins, starting
  // after the first 1023: a message or ack that comes within them (a ping-pong reply) is not
  // kept waiting behind a clock read and a link check.
  static constexpr bool wait_check_due(uint32_t spin) noexcept { return (spin & 1023) == 1023; }
  // Error for a blocking call that waits on `peer` (or on anyone when peer is kAnySource).
  Result<void> wait_check(uint64_t deadline, Rank peer, const char* op, const char* waiting_for) noexcept;

  // Hot copies of layout values.
  uint16_t nodes_ = 0, ppn_ = 0;
  uint32_t slots_mask_ = 0, half_slots_ = 0, inline_max_ = 0, ack_batch_ = 0;
  unsigned slots_log2_ = 0;

  std::unique_ptr<hal::Device> dev_;
  Layout layout_;
  Rank self_{};
  uint32_t self_flat_ = 0;
  uint64_t incarnation_ = 0;
  std::vector<hal::OutboundWindow> out_;  // per node: its window from our node
  std::vector<hal::InboundWindow> in_;    // per node: our node's window from it
  std::vector<TxSegment> segs_;           // per node
  std::vector<TxChannel> tx_;             // per flat rank
  std::vector<RxChannel> rx_;             // per flat rank
  std::vector<SlotShadow> shadows_;       // tx_.size() x postbox_slots
  std::vector<uint64_t> release_bits_;    // rx_.size() x postbox_slots / 64
  std::vector<RxChannel*> active_;        // rx channels whose segment exists (capacity reserved)
  std::vector<uint8_t> ack_segment_created_;  // per node
  std::vector<uint32_t> link_generation_;     // per node, as last seen
  std::vector<SendRequest> requests_;
  IntrusiveList<TxChannel> receiver_list_;
  uint32_t pending_requests_ = 0;
  uint32_t request_generation_ = 0;
  uint32_t resyncing_ = 0;      // tx channels waiting for a receiver to adopt a new epoch
  uint32_t rr_cursor_ = 0;      // round-robin start in active_
  uint32_t idle_polls_ = 0;
  uint64_t ops_ = 0;
  bool closed_ = false;
  Stats stats_;
  // Errors found while polling (a malformed indicator), reported by the next receive call.
  std::vector<Error> pending_errors_;
};

}  // namespace pbx::detail
