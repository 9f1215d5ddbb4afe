// libFuzzer target: the scratchpad handshake's decision on scratchpad values a peer wrote
// (hal/spad_handshake), in two parts (inputs.h):
//   1. judge_peer_spads() on one arbitrary read, against the rules spelled out here;
//   2. SpadHandshake::step() of node 0 on the scratchpad model (tests/support/spad_model.h),
//      after each op of a script: arbitrary scratchpad writes, whole announcements, node 1's
//      own handshake, link changes, a device reset, time passing, node 0 leaving.
// After every step the state must be exactly what the peer's scratchpads and the link say at
// that moment (up only when the peer matches and acknowledged this node's epoch), the
// generation must change exactly on every up/down transition, and errors must be the two
// the handshake reports (time-out, mismatch): abort() otherwise.
#include <cstdint>
#include <memory>

#include "inputs.h"
#include "pbx/hal/spad_handshake.h"
#include "support.h"
#include "support/spad_model.h"

namespace {

using namespace pbx;
using fuzz::SpadOp;
using hal::HandshakeOptions;
using hal::NodeIdx;
using hal::OwnSpads;
using hal::PeerSpads;
using hal::PeerVerdict;
using hal::SpadHandshake;
using hal::test::SpadFabric;
using pbx::test::FakeClock;
using State = SpadHandshake::State;
using S = SpadHandshake::Spad;

constexpr size_t kWindow = 2u << 20;  // node 0's window; node 1's is this or twice it

// The rules of spad_handshake.h, spelled out independently of the implementation.
PeerVerdict expected_verdict(const PeerSpads& p, const OwnSpads& own) {
  const bool there = p.magic == SpadHandshake::kMagic && p.epoch != 0;
  const bool matches = p.version == SpadHandshake::kVersion && p.window_pages == own.window_pages && p.nodes == own.nodes;
  if (!there) return PeerVerdict::kAbsent;
  if (!matches) return PeerVerdict::kMismatch;
  return p.ack == own.epoch ? PeerVerdict::kAcked : PeerVerdict::kUnacked;
}

void judge_one_read(fuzz::ByteReader& r) {
  const fuzz::SpadJudgeInput in = fuzz::SpadJudgeInput::read(r);
  PBX_FUZZ_CHECK(hal::judge_peer_spads(in.peer, in.own) == expected_verdict(in.peer, in.own));
}

// What node `dst` reads from node `src`'s scratchpads now.
PeerSpads spads_seen(const SpadFabric& f, uint16_t dst, uint16_t src) {
  auto at = [&](S i) { return f.peek(dst, src, i); };
  return PeerSpads{at(S::kSpadMagic),  at(S::kSpadVersion), at(S::kSpadWindowPages),
                   at(S::kSpadNodes),  at(S::kSpadEpoch),   at(S::kSpadAck)};
}

// One side of the handshake, checked around every call that may change its state.
struct Side {
  SpadHandshake& hs;
  uint16_t self, peer;
  OwnSpads own;

  // Runs `call` (a step or a leave). The generation counts up/down transitions: it moves by
  // one when up() changed, by two when the link went down and came up again within the call
  // (a bounce, a restarted peer), else not at all.
  template <class Call>
  void checked(Call&& call) {
    const uint32_t gen = hs.generation();
    const bool was_up = hs.up();
    call();
    const uint32_t moved = hs.generation() - gen;
    if (hs.up() != was_up)
      PBX_FUZZ_CHECK(moved == 1);
    else
      PBX_FUZZ_CHECK(moved == 0 || (moved == 2 && was_up));
  }

  void step(SpadFabric& f, bool link_up) {
    checked([&] {
      auto r = hs.step();
      if (!r) {
        PBX_FUZZ_CHECK(r.error().code() == Errc::kTimedOut || r.error().code() == Errc::kConfigMismatch);
        PBX_FUZZ_CHECK(!r.error().message().empty());
      }
    });
    if (!link_up) {
      PBX_FUZZ_CHECK(hs.state() == State::kLinkDown);
      return;
    }
    // The model does not change during a step, so what the step read is what is there now.
    const PeerSpads seen = spads_seen(f, self, peer);
    switch (expected_verdict(seen, own)) {
      case PeerVerdict::kAcked:
        PBX_FUZZ_CHECK(hs.state() == State::kUp && hs.peer_epoch() == seen.epoch);
        break;
      case PeerVerdict::kMismatch:
        PBX_FUZZ_CHECK(hs.state() == State::kMismatch && hs.peer_epoch() == seen.epoch);
        break;
      case PeerVerdict::kUnacked:
        PBX_FUZZ_CHECK(hs.state() == State::kWaiting && hs.peer_epoch() == seen.epoch);
        break;
      case PeerVerdict::kAbsent:
        PBX_FUZZ_CHECK(hs.state() == State::kWaiting && hs.peer_epoch() == 0);
        break;
    }
    // What it announced to the peer: its own description, acknowledging what it saw.
    const PeerSpads mine = spads_seen(f, peer, self);
    PBX_FUZZ_CHECK(mine.magic == SpadHandshake::kMagic && mine.epoch == own.epoch &&
                   mine.version == SpadHandshake::kVersion && mine.window_pages == own.window_pages &&
                   mine.nodes == own.nodes && mine.ack == hs.peer_epoch());
  }
};

void run_script(fuzz::ByteReader& r) {
  const uint32_t our_epoch = r.take<uint32_t>(), peer_epoch = r.take<uint32_t>();
  const bool peer_window_differs = (r.take<uint8_t>() & 1) != 0;
  HandshakeOptions o0, o1;
  o0.epoch = our_epoch != 0 ? our_epoch : 1;
  o1.epoch = peer_epoch != 0 ? peer_epoch : 2;

  SpadFabric fabric(2, kWindow);
  FakeClock clock;
  auto n0 = fabric.node(0), n1 = fabric.node(1, peer_window_differs ? 2 * kWindow : kWindow);
  PBX_FUZZ_CHECK(SpadHandshake::check(*n0, NodeIdx(1), o0) && SpadHandshake::check(*n1, NodeIdx(0), o1));
  SpadHandshake a(*n0, NodeIdx(1), o0, clock), b(*n1, NodeIdx(0), o1, clock);
  const OwnSpads own{static_cast<uint32_t>(kWindow >> 12), 2, o0.epoch};
  Side side{a, 0, 1, own};
  bool link_up = true;

  while (!r.empty()) {
    switch (static_cast<SpadOp>(r.take<uint8_t>() % fuzz::kSpadOps)) {
      case SpadOp::kPoke: {
        const uint16_t spad = r.take<uint8_t>() % S::kSpadsUsed;
        fabric.poke(0, 1, spad, r.take<uint32_t>());
        break;
      }
      case SpadOp::kPeerAnnounces: {
        const uint32_t epoch = r.take<uint32_t>();
        const bool acks = (r.take<uint8_t>() & 1) != 0;
        const uint32_t values[S::kSpadsUsed] = {SpadHandshake::kMagic, SpadHandshake::kVersion, own.window_pages,
                                                own.nodes, epoch, acks ? own.epoch : 0};
        for (uint16_t i = 0; i < S::kSpadsUsed; ++i) fabric.poke(0, 1, i, values[i]);
        break;
      }
      case SpadOp::kLinkToggle:
        link_up = !link_up;
        fabric.set_link(0, 1, link_up);
        break;
      case SpadOp::kLinkBounce:
        fabric.set_link(0, 1, !link_up);
        fabric.set_link(0, 1, link_up);
        break;
      case SpadOp::kAdvance: clock.advance_ms(r.take<uint16_t>()); break;
      case SpadOp::kReset: fabric.clear(0, 1); break;
      case SpadOp::kPeerSteps: (void)b.step(); break;  // node 1 is the peer: its errors are its own
      case SpadOp::kLeave: side.checked([&] { a.leave(); }); break;
    }
    side.step(fabric, link_up);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::ByteReader r(data, size);
  judge_one_read(r);
  run_script(r);
  return 0;
}
