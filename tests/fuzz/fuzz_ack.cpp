// libFuzzer target: wire::check_ack(), the sender's parser of the acknowledgement word a
// receiver writes into the sender's node (inputs.h: AckInput). The sender reuses pool memory up
// to the count it returns, so a kOk count must lie between what was already released and what
// was sent: abort() otherwise.
#include <cstdint>

#include "inputs.h"
#include "support.h"
#include "wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pbx;
  fuzz::ByteReader r(data, size);
  const fuzz::AckInput in = fuzz::AckInput::read(r);
  const uint64_t word = in.ack();

  // The word's two fields cover it exactly.
  PBX_FUZZ_CHECK(wire::ack_count(word) <= wire::kCountMask);
  PBX_FUZZ_CHECK(wire::ack_word(wire::ack_count(word), wire::ack_epoch(word)) == word);

  constexpr uint64_t kUntouched = 0x5eed5eed5eed5eedull;
  uint64_t released = kUntouched;
  const wire::AckCheck got = wire::check_ack(word, in.epoch, in.released_before, in.head, released);
  const bool same_epoch = wire::ack_epoch(word) == static_cast<uint16_t>(in.epoch);
  const uint64_t v = wire::ack_count(word);
  switch (got) {
    case wire::AckCheck::kOk:
      PBX_FUZZ_CHECK(same_epoch);
      PBX_FUZZ_CHECK(in.released_before <= v && v <= in.head);
      PBX_FUZZ_CHECK(released == v);
      break;
    case wire::AckCheck::kStale:
      PBX_FUZZ_CHECK(!same_epoch);
      PBX_FUZZ_CHECK(released == kUntouched);
      break;
    case wire::AckCheck::kBad:
      // Only a count of our epoch that runs backwards or past what was sent is bad.
      PBX_FUZZ_CHECK(same_epoch && (v < in.released_before || v > in.head));
      PBX_FUZZ_CHECK(released == kUntouched);
      break;
    default: PBX_FUZZ_CHECK(!"check_ack returned an unknown value");
  }
  return 0;
}
