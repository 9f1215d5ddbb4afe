// The endpoint's state and the protocol: sender side (tx.cpp), receiver side (rx.cpp: polling
// and delivering; rx_held.cpp: messages held in local memory), epochs (epoch.cpp: the start of
// a channel, link resyncs, restarted peers), peers' liveness (peers.cpp), joining and leaving
// (lifecycle.cpp).
//
// Every per-peer structure is allocated once, when the endpoint is created; the data path
// (send, receive, acknowledge, reclaim) only touches preallocated memory. What lives in other
// nodes' memory (segments, ack segments) is created there on first use (c31-c35). Heap memory
// is used on cold paths only: a large message whose receive must pause (its sender stalls, or
// a non-blocking call returns), and messages drained out of the postboxes while this process is
// blocked in a send.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
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
  kGone,       // the peer left or died (until it is restarted)
  kCorrupt,    // the peer wrote something malformed; the channel is closed
};

// Per postbox slot of a sender: the pool blocks the indicator holds (none for inline and ring
// messages), where the payload ring is free up to once it is acknowledged (ring messages), and
// whether it ends a message (a message in pieces ends with its last piece).
struct SlotShadow {
  uint32_t first_block = 0;
  uint32_t blocks = 0;
  bool ends_message = false;
  uint64_t ring_end = 0;        // ring messages: TxChannel::ring_head after this one; else 0
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
  hal::OutboundWindow ring;     // the postbox's payload ring (remote)
  uint64_t ring_head = 0;       // bytes of the ring used so far (ring position = ring_head % size)
  uint64_t ring_released = 0;   // ... and acknowledged: the ring is free from here to ring_head + size
  hal::OutboundWindow postbox_header;
  hal::InboundWindow ack;       // our ack block from this receiver (local memory, c33)
  SlotShadow* shadow = nullptr; // postbox_slots entries, indexed by seq & mask
  TxSegment* seg = nullptr;
  uint32_t blocks_held = 0;     // c18, c19: blocks of the pool this receiver holds
  ChannelState state = ChannelState::kOk;
  bool ack_follows_us = false;  // ack word 2 names our incarnation: its counts are ours
  uint16_t epoch = 0;           // the epoch of our postbox header (1.. per incarnation)
  Rank dst{};
  uint64_t target = 0;          // the receiver incarnation the epoch is for
  uint64_t messages_at_target = 0;  // `messages` when the current target incarnation began
  uint64_t lost_for_target = 0;     // of its messages, how many were reported lost
  bool target_started = false;      // the two above are set
  bool resync_owed = false;         // an outage interrupted a resync: the next epoch is one too
  // What made the channel kCorrupt (for its error message): ack words 0 and 1 as read, and
  // this side's epoch, released count, head and messages completed for the receiver.
  uint64_t bad_ack[6] = {};
  uint64_t messages = 0;        // messages completed on this channel: loss reports number them
  uint64_t unreported = 0;      // lost messages the next send reports as its error
  uint64_t next_ticket = 0;     // isend order on this channel
  uint64_t serving_ticket = 0;
  hal::InboundWindow presence;  // the receiver's presence line (local memory)
  IntrusiveList<TxChannel>::Hook hook;  // c27: place in the receiver list
};

// A message held in this process's memory, in the order of its channel: delivered before
// anything still in that channel's postbox.
struct HeldMessage {
  std::unique_ptr<HeldMessage> next;
  uint32_t tag = 0;
  uint64_t size = 0;
  std::unique_ptr<std::byte[]> data;
};

// A message above the CTS whose pieces are arriving (c22-c26, receiving side). Its bytes go
// into the buffer of the receive call that found it while that call lasts, else into heap
// memory of its own ("parked"), so that a stalled sender never holds up the receiver.
struct PartialMessage {
  bool active = false;
  bool corrupt = false;         // a piece failed its checksum: reported when the last one comes
  uint32_t tag = 0;
  uint64_t total = 0;
  uint64_t received = 0;        // bytes so far (pieces arrive in order)
  uint64_t first_seq = 0;       // sequence number of its first piece
  std::byte* dst = nullptr;     // the caller's buffer, or heap.get()
  std::unique_ptr<std::byte[]> heap;
};

// One sender -> this process.
struct RxChannel {
  uint64_t expected = 0;        // sequence number of the next indicator to deliver
  uint64_t released = 0;        // contiguous released prefix (the sender may reuse it)
  uint64_t acked = 0;           // `released` as last written to the ack block
  hal::InboundWindow slots;     // our postbox slots in the sender's segment (local)
  hal::InboundWindow ring;      // our postbox's payload ring (local)
  hal::InboundWindow postbox_header;
  hal::InboundWindow pool;      // the sender's buffer pool (local)
  hal::InboundWindow seg_header;
  hal::OutboundWindow ack;      // our ack block on the sender's node (remote, one line)
  uint64_t* release_bits = nullptr;  // postbox_slots bits: out-of-order releases (views)
  uint64_t sender = 0;          // the sender incarnation whose segment we follow (0: none yet)
  uint64_t taken = 0;           // messages of `sender` taken (ack word 1)
  uint16_t epoch = 0;           // the epoch adopted (0: none: the slots are not read)
  ChannelState state = ChannelState::kOk;  // kOk or kCorrupt
  bool active = false;          // an epoch was adopted: the channel is polled
  bool ack_follows = false;     // ack word 2 holds `sender`
  bool ack_now = false;         // the sender asked for an immediate acknowledgement
  Rank src{};
  uint32_t views_out = 0;
  uint32_t out_of_order = 0;    // bits set in release_bits
  bool listed = false;          // in active_ (once followed, for good)
  bool slow_counted = false;    // counted in rx_slow_ (held messages or a partial one)
  PartialMessage partial;
  std::unique_ptr<HeldMessage> held;  // oldest first
  HeldMessage* held_tail = nullptr;
};

// Out-of-order release bits of an RxChannel, one per postbox slot (index = seq & mask).
inline bool bit_test(const uint64_t* bits, uint64_t idx) { return ((bits[idx / 64] >> (idx % 64)) & 1) != 0; }
inline void bit_set(uint64_t* bits, uint64_t idx) { bits[idx / 64] |= uint64_t{1} << (idx % 64); }
inline void bit_clear(uint64_t* bits, uint64_t idx) { bits[idx / 64] &= ~(uint64_t{1} << (idx % 64)); }

// What this process knows of another process of the job (peers.cpp).
struct PeerState {
  uint64_t incarnation = 0;     // as last read from its presence line (0: not seen)
  uint64_t pid = 0;
  uint64_t heartbeat = 0;
  uint64_t heartbeat_seen_ns = 0;  // when `heartbeat` last changed
  bool gone = false;            // left (closed) or died; until a new incarnation comes up
  bool died = false;
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

// What a receive call wants from the next message of a channel (rx.cpp, rx_held.cpp).
enum class Want : uint8_t {
  kCopy,   // into the caller's buffer (recv, try_recv)
  kView,   // borrowed in place or from held memory (recv_view)
  kProbe,  // its description only (probe)
  kDrain,  // into held memory, so that its sender can go on (inside blocking calls)
};
enum class Took : uint8_t {
  kNothing,    // nothing (more) from this channel now
  kDelivered,  // info (and the buffer or view) filled
  kPending,    // a message in pieces is arriving: more will come
  kError,      // an error for this message only (err filled)
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
  uint64_t incarnation() const noexcept { return incarnation_; }

  // Sending (tx.cpp).
  Result<void> send(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept;
  Result<void> try_send(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept;
  Result<SendHandle> isend(Rank dst, std::span<const std::byte> msg, uint32_t tag) noexcept;
  Result<bool> test(SendHandle h) noexcept;
  Result<void> wait(SendHandle h) noexcept;
  std::optional<LostMessages> take_lost() noexcept;
  uint64_t messages_sent(Rank dst) const noexcept { return tx_[shape().flat(dst)].messages; }

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
  bool send_ring(TxChannel& ch, const std::byte* data, size_t n, uint32_t tag, uint8_t flags) noexcept;
  Result<TxChannel*> tx_channel(Rank dst, std::span<const std::byte> msg, const char* op) noexcept;
  Result<void> tx_admit(TxChannel& ch) noexcept;
  Result<void> tx_one(TxChannel& ch, const std::byte* data, size_t n, uint32_t tag) noexcept;
  Result<bool> tx_large_step(SendRequest& r) noexcept;
  uint64_t write_payload(hal::OutboundWindow& area, uint64_t off, const std::byte* data, uint64_t n) noexcept;
  void publish(TxChannel& ch, const uint64_t (&w)[8], hal::StoreKind kind) noexcept;
  Result<void> ensure_segment(TxSegment& seg) noexcept;
  void clear_postboxes(TxSegment& seg) noexcept;
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
  // Messages that end in slots [from, to) of `ch` (loss accounting).
  uint64_t message_ends(const TxChannel& ch, uint64_t from, uint64_t to) const noexcept;
  void report_lost(TxChannel& ch, uint64_t count, Errc reason) noexcept;

  // ---- rx.cpp ----
  Fast recv_fast(RxChannel& ch, std::span<std::byte> buf, RecvInfo& info) noexcept;
  Fast poll_fast(Rank src, std::span<std::byte> buf, RecvInfo& info) noexcept;
  Result<RecvInfo> recv_wait(std::span<std::byte> buf, Rank src, bool blocking) noexcept;
  RxChannel& rx_channel(Rank src) noexcept { return rx_[size_t{src.node} * ppn_ + src.local]; }
  Peek peek(RxChannel& ch, wire::Indicator& ind) noexcept { return peek_at(ch, ch.expected, ind); }
  // The indicator of sequence number `seq` (at most a postbox ahead of ch.expected).
  Peek peek_at(RxChannel& ch, uint64_t seq, wire::Indicator& ind) noexcept;
  // The next message of `ch` for `want` (rx_held.cpp has the held and partial parts).
  Took take(RxChannel& ch, Want want, std::span<std::byte> buf, RecvInfo& info, MessageView* view, Error& err) noexcept;
  // The next message from `src`, or from any channel in round-robin order.
  Took take_from(Rank src, Want want, std::span<std::byte> buf, RecvInfo& info, MessageView* view, Error& err,
                 RxChannel** from) noexcept;
  Took take_indicator(RxChannel& ch, const wire::Indicator& ind, Want want, std::span<std::byte> buf,
                      RecvInfo& info, MessageView* view, Error& err) noexcept;
  // Marks the next `slots` sequence numbers of `ch` (one message) as taken.
  void consume(RxChannel& ch, uint8_t flags, uint32_t slots = 1) noexcept;
  // Unpacks line k of an n-byte inline message from slot `seq` of `ch` into dst; false if a
  // word of it has not landed yet.
  bool unpack_line(const RxChannel& ch, uint64_t seq, size_t n, size_t k, std::byte* dst) const noexcept;
  bool unpack_line_at(const RxChannel& ch, size_t off, uint8_t check, size_t n, size_t k,
                      std::byte* dst) const noexcept;
  // Whether every continuation line of the inline message whose indicator is next in `ch` has
  // landed (a message of one line: always).
  bool inline_landed(const RxChannel& ch, size_t n) const noexcept;
  // Unpacks the inline message whose indicator `ind` is next in `ch` (every line landed).
  void unpack_inline(const RxChannel& ch, const wire::Indicator& ind, std::byte* dst) const noexcept;
  void release_seq(RxChannel& ch, uint64_t seq) noexcept;
  void mark_released(RxChannel& ch, uint64_t seq) noexcept;
  Error buffer_too_small(const RxChannel& ch, uint64_t size, size_t have) const;
  // A view of `ch`'s message: in place (held == nullptr; the caller sets its bytes), or owning
  // a held message.
  void fill_view(MessageView& v, const RxChannel& ch, uint32_t tag, uint64_t size, uint64_t seq,
                 HeldMessage* held) noexcept;
  Error checksum_error(const RxChannel& ch, uint64_t size, uint32_t tag, const char* op) noexcept;
  void write_ack(RxChannel& ch) noexcept;
  void write_idle_acks() noexcept;
  void on_bad_indicator(RxChannel& ch, const wire::Refusal& why) noexcept;
  bool copy_checked(const RxChannel& ch, const wire::Indicator& ind, std::byte* dst) noexcept;
  bool sender_restarted(const RxChannel& ch) const noexcept {
    return ch.seg_header.load64(wire::seg::kIncarnation) != ch.sender;
  }
  void idle_poll() noexcept;
  bool others_waiting(const RxChannel* except) const noexcept;
  void push_error(Error e) noexcept;
  Result<RecvInfo> take_pending_error() noexcept;
  Result<RecvInfo> peer_gone_error(Rank src, const char* op) noexcept;

  // ---- rx_held.cpp ----
  void hold(RxChannel& ch, std::unique_ptr<HeldMessage> m) noexcept;
  std::unique_ptr<HeldMessage> unhold(RxChannel& ch) noexcept;
  Took take_held(RxChannel& ch, Want want, std::span<std::byte> buf, RecvInfo& info, MessageView* view,
                 Error& err) noexcept;
  Took start_partial(RxChannel& ch, const wire::Indicator& ind, Want want, std::span<std::byte> buf, RecvInfo& info,
                     MessageView* view, Error& err) noexcept;
  // A view of a message in pieces that fits one CTS region, borrowed in place once every piece
  // has landed (kNothing until then; the pieces stay in the postbox).
  Took view_pieces(RxChannel& ch, const wire::Indicator& first, MessageView& view, Error& err) noexcept;
  Took pull_pieces(RxChannel& ch, Want want, std::span<std::byte> buf, RecvInfo& info, MessageView* view,
                   Error& err) noexcept;
  bool park(RxChannel& ch) noexcept;
  void park_partials_in(std::span<std::byte> buf) noexcept;
  void drop_partial(RxChannel& ch, const char* why) noexcept;
  // Keeps rx_slow_ (channels the receive fast path must leave to take()) in step with `ch`.
  void refresh_slow(RxChannel& ch) noexcept;
  // Copies whatever has arrived out of the postboxes into held memory (up to hold_limit), so
  // that senders blocked on this process can go on. Returns whether it took anything.
  bool drain_incoming() noexcept;

  // ---- epoch.cpp ----
  void scan_channels() noexcept;
  void follow_segment(RxChannel& ch) noexcept;
  void check_epoch(RxChannel& ch) noexcept;
  void adopt_epoch(RxChannel& ch, const wire::PostboxHeader& h) noexcept;
  void write_adoption_ack(RxChannel& ch) noexcept;
  void start_epoch(TxChannel& ch, uint64_t target) noexcept;
  void reset_rx_channel(RxChannel& ch) noexcept;

  // ---- peers.cpp ----
  void check_peers(uint64_t now) noexcept;
  void maybe_check_peers() noexcept;
  void on_peer_gone(uint32_t flat, bool died) noexcept;
  void on_peer_restart(uint32_t flat, const wire::Presence& p) noexcept;
  wire::Presence read_presence(Rank r) const noexcept;
  // Whether `r` is gone, after one more look at its presence line when it seems so (it may
  // have come back as a new incarnation since the last peer check).
  bool peer_gone(Rank r) noexcept;
  void fail_requests(TxChannel& t, const Error& e) noexcept;
  void start_beacon();
  void stop_beacon() noexcept;
  uint32_t beat_period_ms() const noexcept;
  void write_heartbeat() noexcept;

  // ---- lifecycle.cpp ----
  Result<void> join() noexcept;
  void write_presence(uint16_t node, uint64_t state) noexcept;
  void check_links() noexcept;
  void on_link_down(uint16_t node) noexcept;
  void on_link_up(uint16_t node) noexcept;
  void rewrite_node_lines(uint16_t node) noexcept;
  void maybe_check_links() noexcept {
    if ((++ops_ & 4095) == 0) check_links();
  }
  // The polling loop of a blocking call (send, wait, recv, recv_view), between two attempts
  // that found nothing: every 1024th spin (after the first 1023, so that a message or ack that
  // comes within them, a ping-pong reply, is not kept waiting behind a clock read) it reads the
  // clock and looks at links and peers; the call fails after timeout_ms without news. News
  // (restart()) starts the time-out again.
  class BlockingWait {
   public:
    BlockingWait(EndpointImpl& ep, Rank peer, const char* op, const char* waiting_for) noexcept
        : ep_(ep), peer_(peer), op_(op), waiting_for_(waiting_for) {}
    // The error that ends the wait, if any.
    [[nodiscard]] Result<void> check() noexcept {
      if ((spin_++ & 1023) != 1023) return {};
      if (deadline_ == 0) deadline_ = now_ns() + uint64_t{ep_.config().timeout_ms} * 1'000'000;
      return ep_.wait_check(deadline_, peer_, op_, waiting_for_);
    }
    void restart() noexcept { deadline_ = 0; }
    // Past the first 1023 spins: blocked long enough to take in what others sent us.
    bool long_wait() const noexcept { return spin_ >= 1024; }
    // Between two spins of a blocking send: progress, and when blocked for a while, take in
    // what others sent us, so that a sender blocked on us (maybe the very receiver we wait
    // for) can go on.
    void send_idle() noexcept {
      ep_.progress();
      if (long_wait() && ep_.drain_incoming()) restart();
      cpu_pause();
    }

   private:
    EndpointImpl& ep_;
    Rank peer_;
    const char* op_;
    const char* waiting_for_;
    uint32_t spin_ = 0;
    uint64_t deadline_ = 0;
  };
  // Error for a blocking call that waits on `peer` (or on anyone when peer is kAnySource).
  Result<void> wait_check(uint64_t deadline, Rank peer, const char* op, const char* waiting_for) noexcept;

  // Where sequence number `seq` lies in a postbox's slots (sender's and receiver's alike).
  size_t slot_off(uint64_t seq) const noexcept { return static_cast<size_t>(seq & slots_mask_) * wire::kLine; }

  // Hot copies of layout values.
  uint16_t nodes_ = 0, ppn_ = 0;
  uint32_t slots_mask_ = 0, half_slots_ = 0, inline_max_ = 0, ack_batch_ = 0;
  uint32_t ring_max_ = 0;       // the largest message the fast path sends through a payload ring
  uint32_t fast_max_ = 0;       // the largest message the send fast path takes (inline or ring)
  uint64_t ring_mask_ = 0;      // ring_size - 1
  unsigned slots_log2_ = 0;
  bool checksum_ = false;
  wire::IndicatorLimits limits_;

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
  std::vector<PeerState> peers_;          // per flat rank
  std::vector<SlotShadow> shadows_;       // tx_.size() x postbox_slots
  std::vector<uint64_t> release_bits_;    // rx_.size() x postbox_slots / 64
  std::vector<RxChannel*> active_;        // rx channels with an adopted epoch (capacity reserved)
  std::vector<uint8_t> ack_segment_created_;  // per node
  // Per node, as check_links() last saw them. Only check_links() asks the device: on loopback,
  // asking is what switches a window between the node's memory and a dead end, so every
  // other part reads these (a second asker would change the windows under check_links()).
  std::vector<uint32_t> link_generation_;
  std::vector<uint8_t> link_up_;
  std::vector<SendRequest> requests_;
  IntrusiveList<TxChannel> receiver_list_;
  uint32_t pending_requests_ = 0;
  uint32_t request_generation_ = 0;
  uint32_t resyncing_ = 0;      // tx channels waiting for a receiver to adopt a new epoch
  uint32_t rr_cursor_ = 0;      // round-robin start in active_
  uint32_t idle_polls_ = 0;
  uint32_t rx_slow_ = 0;        // channels with held messages or a partial one: no fast path
  RxChannel* partial_in_buf_ = nullptr;  // whose message in pieces fills the current call's buffer
  uint64_t held_bytes_ = 0;     // bytes of held messages and parked partials
  uint64_t ops_ = 0;
  uint64_t next_peer_check_ns_ = 0;
  uint64_t peer_check_period_ns_ = 0;
  bool closed_ = false;
  bool hold_unlimited_ = false; // adopting an epoch: every landed message is taken in
  uint32_t peer_polls_ = 0;
  Stats stats_;
  // Errors found while polling (a malformed indicator), reported by the next receive call.
  std::vector<Error> pending_errors_;
  std::deque<LostMessages> lost_;
  // Heartbeats (backends that cannot tell a process's death otherwise): a thread that only
  // bumps this process's presence lines.
  std::thread beacon_;
  std::mutex beacon_mu_;
  std::condition_variable beacon_cv_;
  bool beacon_stop_ = false;            // guarded by beacon_mu_
  bool beat_in_calls_ = false;          // no beacon thread: check_peers() beats
  uint64_t beats_ = 0;                  // written by one side only (the thread or the calls)
  uint64_t next_beat_ns_ = 0;
  std::vector<hal::OutboundWindow> beacon_lines_;  // our presence line in every node (no recorder)
};

// Marks the next message of `ch` (its `slots` sequence numbers) as taken, and acknowledges in
// batches (c32); in the header because the hot receive path and the cold ones (rx_held.cpp)
// share it.
[[gnu::always_inline]] inline void EndpointImpl::consume(RxChannel& ch, uint8_t flags, uint32_t slots) noexcept {
  const uint64_t seq = ch.expected;
  ch.expected += slots;
  if ((flags & wire::flag::kAckNow) != 0) ch.ack_now = true;
  if (seq != ch.released || ch.out_of_order != 0) [[unlikely]] {
    for (uint32_t k = 1; k < slots; ++k) mark_released(ch, seq + k - 1);
    release_seq(ch, seq + slots - 1);
    return;
  }
  ch.released += slots;  // in order, nothing borrowed: the common case
  if (ch.ack_now || ch.released - ch.acked >= ack_batch_) write_ack(ch);
}

}  // namespace pbx::detail
