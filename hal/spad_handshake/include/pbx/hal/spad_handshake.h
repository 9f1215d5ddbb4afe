// Link bring-up over scratchpads: the handshake that tells a node its peer's node manager is
// there, speaks this version, runs the same job geometry, and has not restarted since.
//
//   MonotonicClock clock;
//   SpadHandshake hs(dev, NodeIdx(1), {.epoch = random_nonzero()}, clock);
//   for (;;) {                                   // an event loop's tick
//     if (auto ok = hs.step(); !ok) log(ok.error().message());  // names the peer; keeps watching
//     publish(hs.up(), hs.generation());
//   }
//   hs.leave();                                  // at shutdown: the peer sees the link go down
//
// step() never blocks: it reads the peer's scratchpads, writes ours, and reads the clock it was
// given (tests inject a fake one). Each side writes into the other's scratchpads (this node's
// peer_spad_write lands in the peer's spad_read from this node):
//
//   spad 0  magic "PBXH" (0 when the writer left)   spad 3  node count
//   spad 1  handshake version                        spad 4  epoch of the writer (written last)
//   spad 2  window size in 4 KiB pages               spad 5  ack: the peer epoch the writer saw
//
// The link is up once the peer shows the magic, a matching version and geometry, and acks our
// epoch. A new peer epoch (the peer's daemon restarted), a cleared magic (it left), a missing
// ack (it lost our scratchpads) or the device link going down takes the link down and starts
// again; every transition changes generation(). A peer that does not complete the handshake
// within timeout_ns is reported once per attempt with an error naming it; the handshake keeps
// watching and completes when the peer comes.
//
// Threading: one thread (the owner of the device).
#pragma once

#include <cstdint>

#include "pbx/base/clock.h"
#include "pbx/base/error.h"
#include "pbx/hal/device.h"

namespace pbx::hal {

struct HandshakeOptions {
  uint32_t epoch = 0;                         // this node manager's instance: non-zero, new per start
  uint64_t timeout_ns = 30'000'000'000;       // report a peer that has not answered by then
  uint64_t reannounce_ns = 1'000'000'000;     // write our scratchpads again while waiting

  [[nodiscard]] Result<void> validate() const;
};

// The peer's scratchpads as one consistent read (spads 0..5, in the order of the table above).
struct PeerSpads {
  uint32_t magic, version, window_pages, nodes, epoch, ack;
};

// What this node writes about itself, against which the peer's scratchpads are judged.
struct OwnSpads {
  uint32_t window_pages, nodes, epoch;
};

// What a consistent read of the peer's scratchpads says, checked in this order:
//   kAbsent    no node manager there: no magic, or epoch 0 (never started, or it left)
//   kMismatch  another handshake version, window size or node count
//   kUnacked   a matching peer that has not acknowledged `own.epoch` (not yet, or it lost it)
//   kAcked     a matching peer that acknowledged `own.epoch`: the link is up
// A pure function of peer-written values, the handshake's only parser of them (fuzzed in
// tests/fuzz). Whether the peer's epoch is new is the caller's business (it remembers the
// last one it acknowledged).
enum class PeerVerdict : uint8_t { kAbsent, kMismatch, kUnacked, kAcked };
[[nodiscard]] PeerVerdict judge_peer_spads(const PeerSpads& peer, const OwnSpads& own) noexcept;

class SpadHandshake {
 public:
  static constexpr uint32_t kMagic = 0x48584250;  // "PBXH"
  static constexpr uint32_t kVersion = 1;
  enum Spad : uint16_t { kSpadMagic, kSpadVersion, kSpadWindowPages, kSpadNodes, kSpadEpoch, kSpadAck, kSpadsUsed };

  enum class State : uint8_t {
    kLinkDown,  // the device link is down
    kWaiting,   // announced; waiting for the peer to answer and ack
    kUp,
    kMismatch,  // the peer answered with another version or geometry (until it restarts)
  };

  // Fails if the device has too few scratchpads or the options are invalid.
  [[nodiscard]] static Result<void> check(const Device& dev, NodeIdx peer, const HandshakeOptions& opts);

  // `dev` and `clock` must outlive the handshake. Call check() first.
  SpadHandshake(Device& dev, NodeIdx peer, const HandshakeOptions& opts, Clock& clock) noexcept;

  // Advances the handshake. An error reports a time-out or a mismatch (once per attempt) or a
  // device failure; the handshake goes on at the next step either way.
  [[nodiscard]] Result<void> step();

  State state() const noexcept { return state_; }
  bool up() const noexcept { return state_ == State::kUp; }
  uint32_t generation() const noexcept { return generation_; }
  NodeIdx peer() const noexcept { return peer_; }
  uint32_t peer_epoch() const noexcept { return peer_epoch_; }

  // Clears our magic and epoch in the peer's scratchpads (best effort: the link may be down).
  void leave() noexcept;

 private:
  [[nodiscard]] Result<bool> read_peer(PeerSpads* v);
  [[nodiscard]] Result<void> announce(uint64_t now);
  [[nodiscard]] Result<void> maybe_reannounce(uint64_t now);
  void set_state(State s) noexcept;
  void new_attempt(uint64_t now) noexcept;
  [[nodiscard]] Result<void> check_deadline(uint64_t now, const char* why);

  Device& dev_;
  NodeIdx peer_;
  HandshakeOptions opts_;
  Clock& clock_;
  uint32_t window_pages_ = 0;
  uint32_t nodes_ = 0;
  State state_ = State::kLinkDown;
  uint32_t generation_ = 1;
  uint32_t hw_generation_ = 0;
  uint32_t peer_epoch_ = 0;       // the peer epoch we acked (0: none yet)
  uint32_t mismatch_epoch_ = 0;   // the peer epoch whose mismatch we reported
  uint64_t attempt_start_ = 0;
  uint64_t last_announce_ = 0;
  bool reported_ = false;
};

const char* to_string(SpadHandshake::State s) noexcept;

}  // namespace pbx::hal
