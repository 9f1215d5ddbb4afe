// Joining a job, link changes and resync, leaving. Cold paths: plain and readable.
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <string>

#include "endpoint_impl.h"

namespace pbx::detail {

using hal::NodeIdx;
using hal::StoreKind;

namespace {
// "(1, 0)". (Built with snprintf: g++ 12 -O3 misreports string concatenation, -Wrestrict.)
std::string rank_str(Rank r) {
  char b[32];
  std::snprintf(b, sizeof b, "(%u, %u)", r.node, r.local);
  return b;
}

std::string rank_list(const std::vector<Rank>& ranks) {
  std::string s;
  for (size_t i = 0; i < ranks.size() && i < 8; ++i) {
    if (i != 0) s += ", ";
    s += rank_str(ranks[i]);
  }
  if (ranks.size() > 8) {
    char b[48];
    std::snprintf(b, sizeof b, " and %zu more", ranks.size() - 8);
    s += b;
  }
  return s;
}

[[gnu::format(printf, 2, 3)]] void add_problem(std::string& problems, const char* fmt, ...) {
  char b[256];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  problems += b;
}

void short_nap() {
  timespec ts{0, 50'000};  // control path only: waiting for other processes to start
  nanosleep(&ts, nullptr);
}
}  // namespace

Result<std::unique_ptr<EndpointImpl>> EndpointImpl::create(std::unique_ptr<hal::Device> dev, const JobShape& shape,
                                                           Rank self, const Config& cfg) {
  if (!dev) return fail(Errc::kInvalidArgument, "Endpoint::create: no device");
  if (auto ok = shape.validate(); !ok) return tl::unexpected(ok.error());
  if (auto ok = shape.check_rank(self, "Endpoint::create"); !ok) return tl::unexpected(ok.error());
  const hal::DeviceInfo& info = dev->info();
  if (info.node_count != shape.nodes)
    return fail(Errc::kInvalidArgument, "Endpoint::create: the job has %u nodes but the %s device '%s' connects %u",
                shape.nodes, info.backend.c_str(), info.name.c_str(), info.node_count);
  if (info.self.v != self.node)
    return fail(Errc::kInvalidArgument,
                "Endpoint::create: this process's rank is on node %u but the %s device '%s' is node %u", self.node,
                info.backend.c_str(), info.name.c_str(), info.self.v);
  auto layout = Layout::compute(shape, cfg, info.window_size);
  if (!layout) return tl::unexpected(layout.error());

  std::unique_ptr<EndpointImpl> ep(new EndpointImpl());
  ep->dev_ = std::move(dev);
  ep->layout_ = *layout;
  ep->self_ = self;
  ep->self_flat_ = shape.flat(self);
  ep->nodes_ = shape.nodes;
  ep->ppn_ = shape.procs_per_node;
  ep->slots_mask_ = cfg.postbox_slots - 1;
  ep->half_slots_ = cfg.postbox_slots / 2;
  ep->slots_log2_ = layout->slots_log2();
  ep->inline_max_ = cfg.inline_max;
  ep->ack_batch_ = cfg.effective_ack_batch();
  ep->checksum_ = cfg.checksum;
  ep->ring_max_ = cfg.ring_max;
  ep->fast_max_ = std::max(cfg.inline_max, cfg.ring_max);
  ep->ring_mask_ = cfg.ring_size - 1;
  ep->limits_ =
      wire::IndicatorLimits{cfg.inline_max, cfg.pool_size, cfg.cts, cfg.piece_size(), cfg.max_message, cfg.ring_size};
  ep->peer_check_period_ns_ = uint64_t{cfg.effective_peer_timeout_ms()} * 1'000'000 / 8;
  if (::getrandom(&ep->incarnation_, sizeof ep->incarnation_, 0) != sizeof ep->incarnation_)
    ep->incarnation_ = cycles() ^ (static_cast<uint64_t>(::getpid()) << 32);

  const Layout& L = ep->layout_;
  const uint32_t K = L.slots();
  const uint32_t n = shape.size();
  for (uint16_t k = 0; k < shape.nodes; ++k) {
    auto out = ep->dev_->peer_mw(NodeIdx(k));
    if (!out) return tl::unexpected(with_context(out.error(), "mapping the window to node " + std::to_string(k)));
    auto in = ep->dev_->local_mw(NodeIdx(k));
    if (!in) return tl::unexpected(with_context(in.error(), "mapping the window from node " + std::to_string(k)));
    ep->out_.push_back(*out);
    ep->in_.push_back(*in);
    const hal::LinkStatus ls = ep->dev_->link_status(NodeIdx(k));
    ep->link_generation_.push_back(ls.generation);
    ep->link_up_.push_back(ls.up ? 1 : 0);
    ep->beacon_lines_.push_back(out->subwindow(L.presence_off(self.local), wire::kLine));
  }
  ep->segs_.resize(shape.nodes);
  for (uint16_t k = 0; k < shape.nodes; ++k) {
    TxSegment& seg = ep->segs_[k];
    seg.win = ep->out_[k].subwindow(L.segment_off(self.local), L.segment_size());
    seg.pool = PoolAllocator(L.pool_blocks());
    seg.node = k;
  }
  ep->ack_segment_created_.assign(shape.nodes, 0);
  ep->shadows_.assign(size_t{n} * K, SlotShadow{});
  const size_t bit_words = (K + 63) / 64;
  ep->release_bits_.assign(size_t{n} * bit_words, 0);
  ep->tx_.resize(n);
  ep->rx_.resize(n);
  ep->peers_.resize(n);
  for (uint32_t r = 0; r < n; ++r) {
    const Rank p = shape.rank_of(r);
    TxChannel& t = ep->tx_[r];
    t.dst = p;
    t.seg = &ep->segs_[p.node];
    t.shadow = &ep->shadows_[size_t{r} * K];
    t.postbox_header = t.seg->win.subwindow(L.postbox_off(p.local), wire::kLine);
    t.slots = t.seg->win.subwindow(L.slots_off(p.local), size_t{K} * wire::kLine);
    t.ring = t.seg->win.subwindow(L.ring_off(p.local), L.ring_size());
    // Our ack block from p: in our node's window from p's node, section = us, block = p (c36, c37).
    t.ack = ep->in_[p.node].subwindow(L.ack_off(self.local, p.local), wire::kLine);
    t.presence = ep->in_[p.node].subwindow(L.presence_off(p.local), wire::kLine);

    RxChannel& x = ep->rx_[r];
    x.src = p;
    const size_t seg_off = L.segment_off(p.local);
    x.seg_header = ep->in_[p.node].subwindow(seg_off, wire::kLine);
    x.postbox_header = ep->in_[p.node].subwindow(seg_off + L.postbox_off(self.local), wire::kLine);
    x.slots = ep->in_[p.node].subwindow(seg_off + L.slots_off(self.local), size_t{K} * wire::kLine);
    x.ring = ep->in_[p.node].subwindow(seg_off + L.ring_off(self.local), L.ring_size());
    x.pool = ep->in_[p.node].subwindow(seg_off + L.pool_off(), L.config().pool_size);
    // Our ack block on p's node: in p's node's window from ours, section = p, block = us.
    x.ack = ep->out_[p.node].subwindow(L.ack_off(p.local, self.local), wire::kLine);
    x.release_bits = &ep->release_bits_[size_t{r} * bit_words];
  }
  // A channel through a link that is down starts down: nothing may be written through it (its
  // stores would be lost, among them the clearing of a new segment, which keeps lines an
  // earlier incarnation of ours left there from passing for ours).
  for (TxChannel& t : ep->tx_)
    if (ep->link_up_[t.dst.node] == 0) t.state = ChannelState::kLinkDown;
  ep->active_.reserve(n);
  ep->requests_.resize(cfg.max_pending_sends);
  ep->pending_errors_.reserve(16);
  if (auto ok = ep->join(); !ok) {
    ep->closed_ = true;  // never joined: nothing to say goodbye to
    return tl::unexpected(ok.error());
  }
  ep->start_beacon();
  return ep;
}

EndpointImpl::~EndpointImpl() {
  if (!closed_) (void)close();
  stop_beacon();
}

void EndpointImpl::set_recorder(hal::AccessRecorder* rec) noexcept {
  for (auto& w : out_) w.set_recorder(rec);
  for (auto& s : segs_) s.win.set_recorder(rec);
  for (auto& t : tx_) {
    t.slots.set_recorder(rec);
    t.ring.set_recorder(rec);
    t.postbox_header.set_recorder(rec);
  }
  for (auto& x : rx_) x.ack.set_recorder(rec);
}

std::vector<Rank> EndpointImpl::receiver_list_order() const {
  std::vector<Rank> order;
  for (const TxChannel* c = receiver_list_.front(); c != nullptr; c = IntrusiveList<TxChannel>::next(c))
    order.push_back(c->dst);
  return order;
}

// ---- presence ----------------------------------------------------------------------------

void EndpointImpl::write_presence(uint16_t node, uint64_t state) noexcept {
  hal::OutboundWindow& w = out_[node];
  const size_t off = layout_.presence_off(self_.local);
  const bool beats = dev_->info().liveness == hal::Liveness::kHeartbeat;
  w.store64(off + wire::presence::kState, state, StoreKind::kControl);
  w.store64(off + wire::presence::kFingerprint, layout_.fingerprint(), StoreKind::kControl);
  w.store64(off + wire::presence::kPid, static_cast<uint64_t>(::getpid()), StoreKind::kControl);
  w.store64(off + wire::presence::kHeartbeatMs, beats ? std::max<uint32_t>(1, config().effective_peer_timeout_ms() / 4) : 0,
            StoreKind::kControl);
  w.flush();  // the fields land before the incarnation they belong to
  // Release: pairs with the acquire load of the incarnation in read_presence().
  w.store64_release(off + wire::presence::kIncarnation, incarnation_, StoreKind::kControl);
  w.flush();  // the incarnation lands before the magic (the first time)
  // Release: pairs with the acquire load of the magic in read_presence().
  w.store64_release(off + wire::presence::kMagic, wire::kPresenceMagic, StoreKind::kControl);
  w.push();
}

// Announces this process to every node and waits until every process of the job did.
Result<void> EndpointImpl::join() noexcept {
  // Announce this process to every node whose link is up; a node whose link comes up later
  // gets it from on_link_up() (a node clears its inbound memory before its link comes up).
  for (uint16_t k = 0; k < shape().nodes; ++k) {
    if (auto ok = dev_->commit_peer_memory(NodeIdx(k), layout_.presence_off(self_.local), wire::kLine); !ok)
      return tl::unexpected(with_context(ok.error(), "announcing this process to node " + std::to_string(k)));
  }
  check_links();
  for (uint16_t k = 0; k < shape().nodes; ++k)
    if (link_up_[k] != 0) write_presence(k, wire::presence::kUp);
  const uint64_t deadline = now_ns() + uint64_t{config().timeout_ms} * 1'000'000;
  std::vector<Rank> missing;
  for (;;) {
    check_links();
    missing.clear();
    for (uint32_t r = 0; r < shape().size(); ++r) {
      const Rank p = shape().rank_of(r);
      const wire::Presence pr = read_presence(p);
      if (pr.state == wire::presence::kAbsent) {
        missing.push_back(p);
        continue;
      }
      // A process that left before we came (we were restarted) is known, and gone.
      PeerState& ps = peers_[r];
      ps.incarnation = pr.incarnation;
      ps.pid = pr.pid;
      ps.heartbeat = pr.heartbeat;
      ps.heartbeat_seen_ns = now_ns();
      ps.gone = pr.state == wire::presence::kGone && r != self_flat_;
      tx_[r].target = pr.incarnation;
      const uint64_t fp = pr.fingerprint;
      if (fp != layout_.fingerprint())
        return fail(Errc::kConfigMismatch,
                    "rank (%u, %u) runs with a different postbox configuration or job shape (fingerprint %016llx, ours "
                    "%016llx): start every process of the job with the same Config and shape",
                    p.node, p.local, static_cast<unsigned long long>(fp),
                    static_cast<unsigned long long>(layout_.fingerprint()));
    }
    if (missing.empty()) {
      for (uint32_t r = 0; r < shape().size(); ++r) {
        if (peers_[r].gone) tx_[r].state = ChannelState::kGone;
        // The first question about a process sets up its watch (it may allocate): now, not
        // on the data path.
        else if (r != self_flat_) (void)dev_->process_state(NodeIdx(shape().rank_of(r).node), peers_[r].pid);
      }
      next_peer_check_ns_ = now_ns() + peer_check_period_ns_;
      return {};
    }
    if (now_ns() >= deadline) {
      std::string links;
      for (uint16_t k = 0; k < shape().nodes; ++k)
        if (link_up_[k] == 0) links += " The link to node " + std::to_string(k) + " is down.";
      return tl::unexpected(Error(Errc::kPeerNotUp,
                                  "rank(s) " + rank_list(missing) + " did not come up within " +
                                      std::to_string(config().timeout_ms) +
                                      " ms: check that the launcher started them and that they create their "
                                      "pbx::Endpoint (Config::timeout_ms sets the wait)." +
                                      links));
    }
    short_nap();
  }
}

// ---- links --------------------------------------------------------------------------------

void EndpointImpl::check_links() noexcept {
  for (uint16_t k = 0; k < shape().nodes; ++k) {
    if (k == self_.node) continue;
    const hal::LinkStatus st = dev_->link_status(NodeIdx(k));
    link_up_[k] = st.up ? 1 : 0;
    if (st.generation == link_generation_[k]) continue;
    link_generation_[k] = st.generation;
    on_link_down(k);  // whatever happened since the last look, the link went down at least once
    if (st.up) on_link_up(k);
  }
}

void EndpointImpl::on_link_down(uint16_t node) noexcept {
  ++stats_.link_down_events;
  for (TxChannel& t : tx_) {
    // (A channel to a peer that is gone stays so: only its next incarnation reopens it.)
    if (t.dst.node != node || t.state == ChannelState::kCorrupt || t.state == ChannelState::kGone) continue;
    // Acknowledgements that landed before the outage count: a process that closes writes its
    // final acks, then its device takes the link down, and a sender still closing must not
    // report what it acknowledged as lost when it then sees it gone.
    if (t.state == ChannelState::kOk && !refresh_acks(t)) continue;  // garbage: the channel closed
    if (t.state == ChannelState::kResyncing) {
      --resyncing_;
      t.resync_owed = true;  // its answer, if it comes, is for an epoch that is over
    }
    t.state = ChannelState::kLinkDown;
    t.fast_until = 0;
  }
  // A message in pieces never goes on in the next epoch: the receiver drops what it has of it.
  for (SendRequest& r : requests_) {
    if (!r.in_use || r.done || !r.large || !r.region_held || r.ch->dst.node != node) continue;
    abort_large(r);
    finish_request(r, fail(Errc::kLinkDown,
                           "send: the link to node %u went down while the message of %llu bytes to rank (%u, %u) was "
                           "going out in pieces (%llu bytes sent); it was not delivered: send it again",
                           node, static_cast<unsigned long long>(r.size), r.ch->dst.node, r.ch->dst.local,
                           static_cast<unsigned long long>(r.sent)));
  }
}

// Writes again what this process keeps in `node`'s memory besides postboxes: its presence line
// and (once created) its segment header. After an outage (stores lost), and when a process of
// that node restarted (a rebooted node, or an ivshmem VM reopening its device, starts with
// cleared memory).
void EndpointImpl::rewrite_node_lines(uint16_t node) noexcept {
  write_presence(node, wire::presence::kUp);
  TxSegment& seg = segs_[node];
  if (!seg.created) return;
  seg.win.store64(wire::seg::kIncarnation, incarnation_, StoreKind::kControl);
  seg.win.store64(wire::seg::kFingerprint, layout_.fingerprint(), StoreKind::kControl);
  seg.win.store64(wire::seg::kPid, static_cast<uint64_t>(::getpid()), StoreKind::kControl);
  seg.win.flush();  // the header fields land before the magic
  // Release: pairs with the acquire load of the magic in follow_segment().
  seg.win.store64_release(wire::seg::kMagic, wire::kSegmentMagic, StoreKind::kControl);
  seg.win.push();
}

// The link is back. Stores made while it was down are lost, so everything this process keeps
// in that node's memory is written again, and every channel to it that has messages in flight
// starts a new epoch at its next sequence number; the receiver answers with how much it
// delivers (epoch.cpp), and the sender reports the rest as lost.
void EndpointImpl::on_link_up(uint16_t node) noexcept {
  rewrite_node_lines(node);
  TxSegment& seg = segs_[node];
  const uint64_t now = now_ns();
  for (uint32_t r = 0; r < shape().size(); ++r) {
    TxChannel& t = tx_[r];
    if (t.dst.node != node) continue;
    peers_[r].heartbeat_seen_ns = now;  // its heartbeats could not arrive while the link was down
    if (t.state != ChannelState::kLinkDown) continue;
    t.state = ChannelState::kOk;
    if (!seg.created) continue;
    if (!t.resync_owed) refresh_acks(t);  // (an owed resync's answer must not pass for an ack)
    start_epoch(t, t.target);
    if (t.head != t.released || t.resync_owed) {
      t.state = ChannelState::kResyncing;
      ++resyncing_;
    }
  }
  // Acknowledgements we wrote to that node while our side still saw the link down were lost:
  // the last adoption and count again, whole.
  for (RxChannel& x : rx_) {
    if (x.src.node != node || !x.active || x.state != ChannelState::kOk) continue;
    x.ack_follows = false;  // all three words again
    write_adoption_ack(x);
  }
  seg.win.push();
}

Result<void> EndpointImpl::wait_check(uint64_t deadline, Rank peer, const char* op, const char* waiting_for) noexcept {
  check_links();
  const uint64_t now = now_ns();
  if (now >= next_peer_check_ns_) check_peers(now);
  if (peer != kAnySource) {
    if (const PeerState& ps = peers_[shape().flat(peer)]; peer_gone(peer))
      return fail(Errc::kPeerGone, "%s: rank (%u, %u) %s while this process waited for %s", op, peer.node, peer.local,
                  ps.died ? "died" : "left the job", waiting_for);
    if (link_up_[peer.node] == 0)
      return fail(Errc::kLinkDown, "%s: the link to node %u is down (waiting for %s from rank (%u, %u))", op, peer.node,
                  waiting_for, peer.node, peer.local);
  } else if (shape().size() > 1) {
    bool anyone = false;
    for (uint32_t r = 0; r < shape().size() && !anyone; ++r) anyone = r != self_flat_ && !peers_[r].gone;
    if (!anyone)
      return fail(Errc::kPeerGone, "%s: every other process of the job has left or died: no %s can come", op,
                  waiting_for);
  }
  if (now >= deadline) {
    if (peer == kAnySource)
      return fail(Errc::kTimedOut, "%s: timed out after %u ms waiting for %s (Config::timeout_ms)", op,
                  config().timeout_ms, waiting_for);
    return fail(Errc::kTimedOut,
                "%s: timed out after %u ms waiting for %s from rank (%u, %u): is it alive and receiving? "
                "(Config::timeout_ms)",
                op, config().timeout_ms, waiting_for, peer.node, peer.local);
  }
  return {};
}

int EndpointImpl::progress() noexcept {
  int work = 0;
  if (pending_requests_ != 0) work += progress_requests();
  write_idle_acks();
  if ((++idle_polls_ & 255) == 0) scan_channels();
  if ((idle_polls_ & 63) == 0) check_links();
  maybe_check_peers();
  if (resyncing_ != 0)
    for (TxChannel& t : tx_)
      if (t.state == ChannelState::kResyncing) refresh_acks(t);
  return work;
}

// ---- leaving ------------------------------------------------------------------------------

Result<void> EndpointImpl::close() noexcept {
  if (closed_) return {};
  std::string problems;
  const uint64_t deadline = now_ns() + uint64_t{config().timeout_ms} * 1'000'000;

  // 1. Outstanding isends.
  while (pending_requests_ != 0 && now_ns() < deadline) {
    progress();
    cpu_pause();
  }
  if (pending_requests_ != 0)
    add_problem(problems, "%u isend(s) did not complete before close; ", pending_requests_);

  // 2. Final acknowledgements, so that senders can finish.
  for (RxChannel* x : active_)
    if (x->released != x->acked && x->active && x->state == ChannelState::kOk) write_ack(*x);

  // 3. Wait until what we sent was acknowledged (or its receiver left).
  for (TxChannel& t : tx_) {
    while (t.state == ChannelState::kOk && t.head != t.released && now_ns() < deadline) {
      if (!refresh_acks(t) || t.head == t.released) break;
      write_idle_acks();
      check_links();
      maybe_check_peers();
      short_nap();
    }
    refresh_acks(t);
    if (t.head != t.released)
      add_problem(problems, "%llu message(s) to rank (%u, %u) were not acknowledged (not received, or it left); ",
                  static_cast<unsigned long long>(t.head - t.released), t.dst.node, t.dst.local);
  }

  // Losses reported on the way (take_lost()) that nobody took.
  for (const LostMessages& l : lost_)
    add_problem(problems, "%llu message(s) to rank (%u, %u) were not acknowledged before %s (numbers %llu..%llu); ",
                static_cast<unsigned long long>(l.count), l.dst.node, l.dst.local,
                l.reason == Errc::kLinkDown ? "the link went down" : "it left or died",
                static_cast<unsigned long long>(l.first), static_cast<unsigned long long>(l.first + l.count - 1));
  lost_.clear();

  // 4. Messages that arrived here and were never received.
  for (RxChannel* x : active_) {
    uint64_t held = 0;
    for (const HeldMessage* m = x->held.get(); m != nullptr; m = m->next.get()) ++held;
    if (held != 0)
      add_problem(problems, "%llu message(s) from rank (%u, %u) were taken in but never received; ",
                  static_cast<unsigned long long>(held), x->src.node, x->src.local);
    if (!x->active) continue;
    if (x->views_out != 0)
      add_problem(problems, "%u borrowed message(s) from rank (%u, %u) were not released; ", x->views_out, x->src.node,
                  x->src.local);
    uint64_t unreceived = 0;
    for (uint64_t s = x->expected; s < x->expected + layout_.slots();) {
      // Acquire: pairs with the sender's release store of word 0 in publish().
      const uint64_t w0 = x->slots.load64_acquire(slot_off(s));
      if (wire::check_of(w0) != wire::check_byte(s, slots_log2_)) break;
      const wire::SlotHeader h = wire::decode_header(w0);
      s += h.kind == wire::Kind::kInline ? wire::inline_lines(std::min<size_t>(h.inline_len, wire::kInlineLimit)) : 1;
      if (h.kind != wire::Kind::kPiece || (h.flags & wire::flag::kLastPiece) != 0) ++unreceived;  // a message's end
    }
    if (unreceived != 0)
      add_problem(problems, "%llu message(s) from rank (%u, %u) were never received; ",
                  static_cast<unsigned long long>(unreceived), x->src.node, x->src.local);
  }

  stop_beacon();
  // 5. Leave: say so in every node, then read one word back through each window, so that
  //    every posted write has landed before the process goes ("the barrier has passed").
  check_links();
  for (uint16_t k = 0; k < shape().nodes; ++k) {
    write_presence(k, wire::presence::kGone);
    if (link_up_[k] != 0) (void)out_[k].read64_slow(layout_.presence_off(self_.local));
  }
  closed_ = true;
  if (problems.empty()) return {};
  problems.resize(problems.size() - 2);
  return tl::unexpected(Error(Errc::kCancelled, "close: " + problems));
}

}  // namespace pbx::detail
