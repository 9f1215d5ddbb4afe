// libFuzzer target: wire::decode_presence(), the parser of a peer's presence line (inputs.h:
// PresenceInput). A line is a peer only with the magic, a non-zero incarnation and a known
// state; anything else reads as absent, with every field zero (the caller compares
// incarnations, and 0 is never one). abort() otherwise.
#include <cstdint>

#include "inputs.h"
#include "support.h"
#include "wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pbx;
  fuzz::ByteReader r(data, size);
  const fuzz::PresenceInput in = fuzz::PresenceInput::read(r);
  const wire::Presence p = wire::decode_presence(in.magic, in.incarnation, in.state, in.fingerprint, in.pid,
                                                 in.heartbeat, in.heartbeat_ms);

  const bool known_state = in.state == wire::presence::kUp || in.state == wire::presence::kGone;
  const bool present = in.magic == wire::kPresenceMagic && in.incarnation != 0 && known_state;
  if (!present) {
    PBX_FUZZ_CHECK(p.state == wire::presence::kAbsent);
    PBX_FUZZ_CHECK(p.incarnation == 0 && p.fingerprint == 0 && p.pid == 0 && p.heartbeat == 0 &&
                   p.heartbeat_ms == 0);
    return 0;
  }
  PBX_FUZZ_CHECK(p.state == in.state && p.state != wire::presence::kAbsent);
  PBX_FUZZ_CHECK(p.incarnation == in.incarnation && p.incarnation != 0);
  PBX_FUZZ_CHECK(p.fingerprint == in.fingerprint && p.pid == in.pid && p.heartbeat == in.heartbeat &&
                 p.heartbeat_ms == in.heartbeat_ms);
  return 0;
}
