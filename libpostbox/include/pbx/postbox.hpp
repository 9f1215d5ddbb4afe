// postbox: kernel-bypass messages between processes on NTB-linked nodes (C++ API).
//
//   auto ep = pbx::Endpoint::from_env();          // identity from pbxrun (PBX_* variables)
//   if (!ep) { fprintf(stderr, "%s\n", ep.error().message().c_str()); return 1; }
//   std::array<std::byte, 8> msg{};
//   ep->send(pbx::Rank{1, 0}, msg, /*tag=*/7);     // to node 1, local process 0
//   std::array<std::byte, 4096> buf;
//   auto info = ep->recv(buf);                     // from anyone: info->source, ->tag, ->size
//
// Semantics:
//   * Each sender->receiver pair is a one-way channel (c40): messages arrive in the order they
//     were sent, exactly once, intact; or the sender gets an error that says which were not
//     delivered (take_lost() numbers them).
//   * A peer that leaves or dies is named (Errc::kPeerGone) within Config::peer_timeout_ms by
//     every call that involves it; a process restarted under the same rank is a new
//     incarnation: channels to it resume, and nothing sent to the earlier one reaches it.
//   * send() returns once the message is in the receiver's postbox (the caller's buffer is free
//     again); it waits for room while the postbox or pool is full. try_send() never waits.
//   * Progress is made by polling inside these calls. The only thread an endpoint starts (NTB,
//     ivshmem and postboxd backends) writes its heartbeat and nothing else.
//   * Errors are values (Result<T>); no exception leaves a data-path call.
//
// Threading: an Endpoint is used by one thread at a time (it is not internally locked).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "pbx/api.h"
#include "pbx/config.hpp"

namespace pbx {

namespace hal {
class Device;
}
class Endpoint;
namespace detail {
class EndpointImpl;
PBX_API EndpointImpl& impl_of(Endpoint& ep) noexcept;  // tests and tools: the internals
}

struct RecvInfo {
  Rank source;
  uint32_t tag = 0;
  size_t size = 0;
};

// Counters, in the spirit of DPDK xstats: hot paths count, they do not log.
struct Stats {
  uint64_t tx_msgs = 0, tx_bytes = 0, tx_inline = 0, tx_pool = 0, tx_pieces = 0, tx_would_block = 0;
  uint64_t tx_ring = 0;             // messages sent through a postbox's payload ring
  uint64_t rx_msgs = 0, rx_bytes = 0, rx_pieces = 0;
  uint64_t acks_written = 0;        // ack-block stores (c32, c33)
  uint64_t ack_reads = 0;           // ack blocks read by this sender (local reads)
  uint64_t slots_reclaimed = 0;     // postbox slots freed after an ack (c16)
  uint64_t blocks_reclaimed = 0;    // pool blocks freed after an ack (c17)
  uint64_t receiver_list_walks = 0; // reclaim walks under memory pressure (c10, c28)
  uint64_t segments_created = 0;    // data segments created on first use (c31, c34)
  uint64_t ack_segments_created = 0;
  uint64_t bad_indicators = 0;      // malformed indicators from a peer (dropped, reported)
  uint64_t bad_acks = 0;            // malformed acknowledgements from a peer
  uint64_t bad_checksums = 0;       // messages whose payload failed its checksum (reported, dropped)
  uint64_t link_down_events = 0, link_resyncs = 0, lost_on_link_down = 0;
  uint64_t peers_gone = 0;          // peers that left or died
  uint64_t peer_restarts = 0;       // peers seen again as a new incarnation
  uint64_t lost_on_peer_gone = 0;   // messages not acknowledged by a peer before it left or died
  uint64_t held_messages = 0;       // messages copied into local memory (drained, or in pieces paused)
  uint64_t partials_dropped = 0;    // messages in pieces whose sender gave up, died or restarted
};

// Messages to one receiver that were sent (send() returned, or isend() completed) but will not
// be delivered: the link went down before they landed, or the receiver left or died before it
// acknowledged them (it may have received some of those). Messages to a receiver are numbered
// from 0 in the order they completed (Endpoint::messages_sent(dst) is the next number).
struct LostMessages {
  Rank dst;
  uint64_t first = 0;
  uint64_t count = 0;
  Errc reason = Errc::kLinkDown;  // kLinkDown, kPeerGone, or kProtocolError (the receiver wrote a
                                  // malformed acknowledgement: these may or may not have arrived)
};

// A received message borrowed in place (zero-copy). Valid until released (destruction or
// Endpoint::release); its memory is handed back to the sender only then. Must not outlive
// its Endpoint. A message in pieces that fits the CTS lies in one region of the sender's pool
// and is borrowed in place once its last piece has landed; a message above the CTS reuses the
// region's slices, so a view of one is a copy the endpoint assembles in its own memory (as are
// messages it drained while blocked in a send). A view into the pool of a sender that dies and
// is restarted may change under the reader: copy what must outlive its sender (recv()).
class PBX_API MessageView {
 public:
  MessageView() = default;
  MessageView(MessageView&& o) noexcept;
  MessageView& operator=(MessageView&& o) noexcept;
  MessageView(const MessageView&) = delete;
  MessageView& operator=(const MessageView&) = delete;
  ~MessageView();

  std::span<const std::byte> data() const noexcept { return {ptr_, size_}; }
  size_t size() const noexcept { return size_; }
  Rank source() const noexcept { return source_; }
  uint32_t tag() const noexcept { return tag_; }
  bool valid() const noexcept { return owner_ != nullptr; }

 private:
  friend class detail::EndpointImpl;
  detail::EndpointImpl* owner_ = nullptr;
  const std::byte* ptr_ = nullptr;
  size_t size_ = 0;
  Rank source_{};
  uint32_t tag_ = 0;
  uint32_t channel_ = 0;
  uint64_t seq_ = 0;
  uint32_t slots_ = 1;    // postbox slots the message took (its pieces), released together
  uint64_t sender_ = 0;   // the sender incarnation whose pool holds it
  void* held_ = nullptr;  // a message held in the endpoint's memory, owned by the view
  alignas(8) std::byte inline_[448] = {};  // inline messages (up to 441 bytes) are unpacked here
};

// An outstanding isend().
struct SendHandle {
  uint32_t index = 0;
  uint32_t generation = 0;
};

class PBX_API Endpoint {
 public:
  // Joins the job that pbxrun describes in the environment (PBX_BACKEND, PBX_JOB, PBX_NODES,
  // PBX_PROCS_PER_NODE, PBX_NODE, PBX_LOCAL); the config comes from `cfg` overridden by
  // PBX_* variables (Config::from_env). Waits until every process of the job is up.
  // PBX_BACKEND=postboxd uses the node's device through its node manager (socket
  // PBX_POSTBOXD_SOCKET, default /run/postbox/postboxd.sock; no PBX_JOB): PBX_NODE must be
  // the node the daemon serves.
  // PBX_BACKEND=ivshmem or ntb with PBX_DEVICE=<BDF>[,options] opens the node's device in this
  // process (one process per node, no daemon): the node index and node count come from the
  // device; PBX_NODE and PBX_NODES are optional and must agree with it (ivshmem: PBX_NODES or
  // nodes=N sets the fabric's size, default 2). See pbx/hal/factory.h for the options.
  [[nodiscard]] static Result<Endpoint> from_env(const Config& cfg = {});
  // Joins a job over a device this process opened (loopback, ivshmem, NTB): `self` is this
  // process's rank in `shape`. Waits until every process of the job is up.
  [[nodiscard]] static Result<Endpoint> create(std::unique_ptr<hal::Device> device, const JobShape& shape, Rank self,
                                 const Config& cfg = {});

  Endpoint(Endpoint&&) noexcept;
  Endpoint& operator=(Endpoint&&) noexcept;
  ~Endpoint();  // close() if not closed (errors are dropped: call close() to see them)

  Rank self() const noexcept;
  uint32_t rank() const noexcept;  // flat rank
  const JobShape& shape() const noexcept;
  const Config& config() const noexcept;

  // ---- sending ------------------------------------------------------------------------
  // Sends `msg` to `dst`, waiting (polling) while the postbox or pool is full, up to
  // config().timeout_ms. Messages above a piece (cts / cts_slices) go in pieces; send() returns
  // when the last piece is in the receiver's postbox.
  [[nodiscard]] Result<void> send(Rank dst, std::span<const std::byte> msg, uint32_t tag = 0) noexcept;
  // Sends if there is room now, else fails with Errc::kWouldBlock and sends nothing.
  // Messages above the CTS cannot be sent in one step: use send() or isend().
  [[nodiscard]] Result<void> try_send(Rank dst, std::span<const std::byte> msg, uint32_t tag = 0) noexcept;
  // Starts a send that completes during later calls (test/wait, or any other call). The
  // buffer must stay valid until it completes. At most config().max_pending_sends at once;
  // sends to one receiver complete in the order they were started.
  [[nodiscard]] Result<SendHandle> isend(Rank dst, std::span<const std::byte> msg, uint32_t tag = 0) noexcept;
  // true once the send completed; an error if it failed.
  [[nodiscard]] Result<bool> test(SendHandle h) noexcept;
  [[nodiscard]] Result<void> wait(SendHandle h) noexcept;
  // The next report of lost messages, oldest first (see LostMessages), or nothing. The first
  // send to that receiver after a loss also fails with the loss as its error.
  [[nodiscard]] std::optional<LostMessages> take_lost() noexcept;
  // Messages completed to `dst` so far: the number the next completed message gets.
  uint64_t messages_sent(Rank dst) const noexcept;

  // ---- receiving ----------------------------------------------------------------------
  // Receives the next message from `src` (or anyone) into `buf`, waiting up to timeout_ms.
  // If the message does not fit, fails with Errc::kBufferTooSmall and leaves it pending
  // (probe() tells its size).
  [[nodiscard]] Result<RecvInfo> recv(std::span<std::byte> buf, Rank src = kAnySource) noexcept;
  // Receives if a message is waiting, else Errc::kWouldBlock; never waits. A message above the
  // CTS whose pieces are still arriving is assembled in the endpoint's memory meanwhile (and
  // a sender that stalls holds up nobody).
  [[nodiscard]] Result<RecvInfo> try_recv(std::span<std::byte> buf, Rank src = kAnySource) noexcept;
  // Describes the next message without receiving it, or Errc::kWouldBlock.
  [[nodiscard]] Result<RecvInfo> probe(Rank src = kAnySource) noexcept;
  // Borrows the next message in place, without copying it (zero-copy receive).
  [[nodiscard]] Result<MessageView> try_recv_view(Rank src = kAnySource) noexcept;
  [[nodiscard]] Result<MessageView> recv_view(Rank src = kAnySource) noexcept;
  // Hands a borrowed message back (also done by ~MessageView).
  void release(MessageView& view) noexcept;

  // Advances outstanding sends, writes due acknowledgements, notices link changes. Returns
  // how much work it did (0 when idle). Blocking calls do this while they wait.
  int progress() noexcept;

  const Stats& stats() const noexcept;

  // Writes final acknowledgements, waits (up to timeout_ms) until this process's messages
  // were acknowledged, and leaves the job. Reports messages left unacknowledged or unreceived.
  [[nodiscard]] Result<void> close() noexcept;

 private:
  friend detail::EndpointImpl& detail::impl_of(Endpoint& ep) noexcept;
  explicit Endpoint(std::unique_ptr<detail::EndpointImpl> impl) noexcept;
  std::unique_ptr<detail::EndpointImpl> impl_;
};

}  // namespace pbx
