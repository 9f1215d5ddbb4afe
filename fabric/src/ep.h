// The provider's endpoint (FI_EP_RDM): libfabric's send, receive and tagged calls over one
// pbx::Endpoint, the process's place in its postbox job.
//
// Sending: a message up to kStageMax bytes is staged with its header (wire.h) and handed to
// pbx::Endpoint::try_send, which puts it in the receiver's postbox or says it would block;
// then the send waits in a FIFO queue and later progress sends it, in order. A larger message
// sends its header, then its payload straight from the caller's buffer with isend() as the
// pair's next message; it completes when the isend does. FI_DELIVERY_COMPLETE sends complete
// when the receiver's provider acknowledges the message (op kAck).
//
// Receiving: progress takes messages from any source (postbox keeps each pair's order): small
// ones by copy through postbox's inline fast path (try_recv), large payloads borrowed in place
// (try_recv_view); matches them against posted receives (FI_MSG and FI_TAGGED queues, in
// posting order, FI_DIRECTED_RECV by source) and copies each into the matched buffer.
// A message nobody waits for goes to the unexpected queue (copied if small, else its view is
// held, up to kMaxHeldViews, so that senders' pools do not fill), where a later receive,
// FI_PEEK or FI_CLAIM finds it.
//
// Joining: fi_enable only checks bindings and sizes the queues. The process joins its postbox
// job (pbx::Endpoint::from_env, which waits until every process of the job is up) on first use:
// a send, or progress. Applications exchange addresses (fi_getname) between fi_enable and their
// first transfer (fi_pingpong over a socket, MPI through PMIx), so a join in fi_enable would
// wait for peers that wait for this process's address. fi_getname needs no join: the rank is
// known from the launcher's variables.
//
// Progress (FI_PROGRESS_MANUAL) happens in fi_cq_read / fi_cntr_read and when a queue is full.
// Threading: FI_THREAD_DOMAIN, one thread at a time; nothing here locks. The data path neither
// allocates nor throws (pools are sized at fi_enable; unexpected entries come in chunks).
#pragma once

#include <rdma/fi_endpoint.h>
#include <rdma/fi_tagged.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "list.h"
#include "pbx/postbox.hpp"
#include "provider.h"
#include "wire.h"

namespace pbx::fabric {

class Domain;
class Av;
class Cq;
class Cntr;
class Eq;
struct Completion;

inline constexpr uint32_t kAnyRank = 0xffffffffu;
inline constexpr size_t kSmallUnexpected = 64;  // unexpected payloads up to this are copied into the entry
inline constexpr size_t kMaxHeldViews = 64;     // unexpected payloads held in place at most

struct TxReq {
  enum class State : uint8_t { kFree, kQueued, kHeaderSent, kInFlight, kAwaitAck };
  TxReq* prev = nullptr;
  TxReq* next = nullptr;
  uint32_t pool_index = 0;
  uint16_t generation = 0;
  State state = State::kFree;
  bool large = false;
  bool completion = false;  // write a completion on success
  bool want_ack = false;
  bool internal = false;    // an acknowledgement: nobody waits for it
  uint32_t dst = 0;
  uint32_t ptag = 0;        // postbox tag of what is staged
  void* context = nullptr;
  uint64_t cq_flags = 0;    // FI_SEND | FI_MSG or FI_TAGGED
  size_t staged_len = 0;    // bytes in `staged`: the header and (small messages) the payload
  std::unique_ptr<std::byte[]> staged;   // kMaxHeader + kStageMax bytes, from fi_enable
  const std::byte* payload = nullptr;    // large: the caller's buffer (or `gathered`)
  size_t payload_len = 0;
  std::unique_ptr<std::byte[]> gathered;  // large message from several iovecs (rare)
  pbx::SendHandle handle{};
};

struct RxReq {
  RxReq* prev = nullptr;
  RxReq* next = nullptr;
  uint32_t pool_index = 0;
  bool tagged = false;
  bool completion = true;
  uint32_t src = kAnyRank;
  uint64_t tag = 0, ignore = 0;
  void* context = nullptr;
  std::array<iovec, kIovLimit> iov{};
  size_t iov_count = 0;
  size_t capacity = 0;
};

struct Unexpected {
  Unexpected* prev = nullptr;
  Unexpected* next = nullptr;
  uint32_t pool_index = 0;
  uint32_t src = 0;
  wire::Header h;
  uint64_t len = 0;        // the payload's length
  bool ready = false;      // false while a large message's payload has not arrived
  RxReq* bound = nullptr;  // a receive matched before the payload arrived
  void* claim = nullptr;   // FI_CLAIM: the context that owns this message
  bool discard = false;    // FI_DISCARD before its payload arrived: drop the payload
  const std::byte* data = nullptr;
  std::byte small[kSmallUnexpected];
  std::unique_ptr<std::byte[]> heap;
  size_t heap_cap = 0;
  pbx::MessageView view;   // the payload borrowed in place
};

class Endpoint {
 public:
  static int open(Domain* domain, fi_info* info, fid_ep** out, void* context);

  // Sends, receives, and makes progress; the ops tables (ep_ops.cpp) call these.
  ssize_t send(const iovec* iov, size_t count, fi_addr_t dest, uint64_t tag, uint64_t data, void* context,
               uint64_t flags, bool tagged, bool inject_call) noexcept;
  ssize_t recv(const iovec* iov, size_t count, fi_addr_t src, uint64_t tag, uint64_t ignore, void* context,
               uint64_t flags, bool tagged) noexcept;
  ssize_t cancel(void* context) noexcept;
  void progress() noexcept;

  uint64_t tx_op_flags() const noexcept { return tx_op_flags_; }
  uint64_t rx_op_flags() const noexcept { return rx_op_flags_; }

 private:
  Endpoint(Domain* domain, const fi_info& info, void* context);
  ~Endpoint();
  int enable();
  bool ensure_joined() noexcept { return pbx_ || join(); }
  bool join() noexcept;
  int bind(fid* bfid, uint64_t flags);
  int close();

  // ---- sending (ep_tx.cpp) ----
  TxReq* take_tx() noexcept;
  void free_tx(TxReq* t) noexcept;
  size_t stage(std::byte* out, const wire::Header& h, uint32_t& ptag, const iovec* iov, size_t count,
               size_t len) noexcept;
  bool start(TxReq* t) noexcept;  // true when t left the queue (sent, in flight, or failed)
  void drain_tx() noexcept;
  void poll_in_flight() noexcept;
  void after_sent(TxReq* t) noexcept;
  void send_completed(void* context, uint64_t cq_flags, bool completion) noexcept;
  void send_failed(void* context, uint64_t cq_flags, const pbx::Error& e, const char* what) noexcept;
  void fail_tx(TxReq* t, const pbx::Error& e) noexcept;
  void on_ack(uint32_t ack_id) noexcept;
  void queue_ack(uint32_t dst, uint32_t ack_id) noexcept;
  void drain_acks() noexcept;
  void report_lost() noexcept;

  // ---- receiving (ep_rx.cpp) ----
  void poll_rx() noexcept;
  void report_rx_error(const pbx::Error& e) noexcept;
  // A message taken from postbox: copied into rx_stage_ (view == nullptr), or borrowed in place.
  struct Arrived {
    uint32_t src;
    uint32_t ptag;
    const std::byte* data;
    size_t size;
    pbx::MessageView* view;
  };
  void on_message(Arrived& m) noexcept;
  void on_payload(Arrived& m) noexcept;
  RxReq* match_posted(bool tagged, uint32_t src, uint64_t tag) noexcept;
  Unexpected* match_unexpected(bool tagged, uint32_t src, uint64_t tag, uint64_t ignore) noexcept;
  void store_unexpected(Unexpected* u, Arrived& m, size_t offset) noexcept;
  void free_unexpected(Unexpected* u) noexcept;
  void deliver(RxReq* r, const wire::Header& h, uint32_t src, const std::byte* data, size_t len) noexcept;
  void take_unexpected(RxReq* r, Unexpected* u) noexcept;
  ssize_t peek(const RxReq& want, uint64_t flags) noexcept;
  ssize_t claim(RxReq* r, uint64_t flags) noexcept;
  void fail_rx(RxReq* r, int err, int prov_errno, const std::string& message) noexcept;
  void check_peers() noexcept;
  Completion recv_completion(const RxReq& r, const wire::Header& h, uint32_t src, size_t len) const noexcept;

  // ---- ops-table glue (ep.cpp) ----
  static int op_close(fid* f);
  static int op_bind(fid* f, fid* bfid, uint64_t flags);
  static int op_control(fid* f, int command, void* arg);
  static ssize_t op_cancel(fid_t f, void* context);
  static int op_getopt(fid_t f, int level, int optname, void* optval, size_t* optlen);
  static int op_setopt(fid_t f, int level, int optname, const void* optval, size_t optlen);
  static ssize_t op_rx_size_left(fid_ep* ep);
  static ssize_t op_tx_size_left(fid_ep* ep);
  static int op_getname(fid_t f, void* addr, size_t* addrlen);

  Handle<fid_ep, Endpoint> h_;
  Domain* domain_;
  uint64_t caps_;
  uint64_t tx_op_flags_, rx_op_flags_;
  size_t tx_size_, rx_size_;
  bool directed_;        // FI_DIRECTED_RECV: receives match their source address
  Av* av_ = nullptr;
  Cq* tx_cq_ = nullptr;
  Cq* rx_cq_ = nullptr;
  bool tx_selective_ = false, rx_selective_ = false;
  Cntr* send_cntr_ = nullptr;
  Cntr* recv_cntr_ = nullptr;
  Eq* eq_ = nullptr;

  bool enabled_ = false;               // fi_enable succeeded
  bool join_failed_ = false;           // the join failed (reported once in the CQ)
  std::optional<pbx::Endpoint> pbx_;   // joined on first use
  uint32_t self_ = 0;                  // flat rank
  uint32_t job_size_ = 0;
  uint32_t max_in_flight_ = 0;         // postbox's max_pending_sends
  std::vector<pbx::Rank> ranks_;       // flat rank -> (node, local), from the job's shape
  uint16_t procs_per_node_ = 1;
  uint32_t flat_rank(pbx::Rank r) const noexcept { return uint32_t{r.node} * procs_per_node_ + r.local; }

  Pool<TxReq> tx_pool_;
  List<TxReq> tx_queue_;     // waiting to be handed to postbox, in posting order
  List<TxReq> in_flight_;    // large payloads in postbox's isend
  List<TxReq> await_ack_;    // FI_DELIVERY_COMPLETE sends waiting for the receiver's ack
  std::vector<std::pair<uint32_t, uint32_t>> acks_;  // (dst, ack id) to send; control path
  std::unique_ptr<std::byte[]> stage_;               // the fast path's staging buffer

  Pool<RxReq> rx_pool_;
  List<RxReq> posted_msg_, posted_tagged_;
  Pool<Unexpected> ux_pool_;
  List<Unexpected> unexpected_msg_, unexpected_tagged_, claimed_;
  size_t held_views_ = 0;
  struct Pending {         // a large message whose payload is the source's next message
    bool active = false;
    wire::Header h;
    RxReq* rx = nullptr;
    Unexpected* ux = nullptr;
  };
  std::vector<Pending> pending_;  // by source rank
  uint32_t pending_payloads_ = 0;  // sources whose next message is a payload
  // Receives small messages by copy, through postbox's inline fast path: everything but
  // payloads fits (header + kStageMax). Payloads, and anything while one is expected, come as views.
  std::unique_ptr<std::byte[]> rx_stage_;
  uint64_t rx_completions_ = 0;  // receives completed (or failed): progress returns after one
  uint32_t idle_polls_ = 0;
  uint64_t next_peer_check_ns_ = 0;
  uint64_t foreign_messages_ = 0;  // postbox messages that were not the provider's (dropped)
};

}  // namespace pbx::fabric
