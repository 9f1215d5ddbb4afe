// libFuzzer target: wire::decode_indicator() on any 64-byte line, any check byte and any limits
// a receiver can run with (inputs.h: IndicatorInput). Whenever it accepts a line (kOk), the
// fields are what the receiver's copy and assembly code take on trust: abort() otherwise.
#include <cstdint>
#include <memory>

#include "inputs.h"
#include "support.h"
#include "wire.h"

namespace {

using namespace pbx;
using fuzz::IndicatorInput;

// The limits are valid (Config::validate()'s rules, restated): checks the fuzz input's
// derivation of them, not the parser.
void check_limits(const IndicatorInput::Limits& l) {
  PBX_FUZZ_CHECK(std::has_single_bit(l.block_size) && l.block_size >= 64 && l.block_size <= (1u << 20));
  PBX_FUZZ_CHECK(l.pool_size % l.block_size == 0 && l.pool_size >= IndicatorInput::kMinPool &&
                 l.pool_size <= IndicatorInput::kMaxPool);
  PBX_FUZZ_CHECK(l.slices >= 1 && l.slices <= 64);
  PBX_FUZZ_CHECK(l.cts >= l.block_size * l.slices && l.cts % (l.block_size * l.slices) == 0 && l.cts <= l.pool_size / 2);
  PBX_FUZZ_CHECK(l.inline_max <= wire::kInlineLimit);
  PBX_FUZZ_CHECK(l.max_message >= 1 && l.max_message <= wire::kMaxLength);
  PBX_FUZZ_CHECK(std::has_single_bit(l.ring_size) && l.ring_size >= (4u << 10) && l.ring_size <= (64u << 20));
}

// How many words after word 0 an indicator of this kind is made of (wire.h's table).
size_t words_after_header(const wire::SlotHeader& h) {
  switch (h.kind) {
    case wire::Kind::kInline: return wire::inline_words(wire::inline_span(h.inline_len, 0).count);
    case wire::Kind::kPool:
    case wire::Kind::kRing: return 3;
    case wire::Kind::kPiece: return 5;
  }
  return 0;
}

void check_accepted(const uint64_t (&w)[8], uint8_t check, const wire::IndicatorLimits& lim, const wire::Indicator& ind) {
  const wire::SlotHeader h = wire::decode_header(w[0]);
  PBX_FUZZ_CHECK(ind.kind == h.kind && ind.flags == h.flags && ind.tag == h.tag);
  // Every word the indicator is made of has landed: a half-written line is never taken.
  PBX_FUZZ_CHECK(words_after_header(h) <= 7);
  for (size_t i = 0; i <= words_after_header(h); ++i) PBX_FUZZ_CHECK(wire::check_of(w[i]) == check);
  for (size_t i = 0; i < 8; ++i) PBX_FUZZ_CHECK(ind.words[i] == w[i]);
  // (Found by this target: pool and inline messages were once checked against the CTS and
  // inline_max only, not max_message, which Config allows below both; the inputs are in the
  // corpus.)
  PBX_FUZZ_CHECK(ind.total <= lim.max_message);
  switch (ind.kind) {
    case wire::Kind::kInline: {
      PBX_FUZZ_CHECK(ind.len == h.inline_len && ind.total == ind.len);
      PBX_FUZZ_CHECK(ind.len <= lim.inline_max && ind.len <= wire::kInlineLimit);
      PBX_FUZZ_CHECK(ind.pool_off == 0 && ind.msg_off == 0 && ind.checksum == 0);
      PBX_FUZZ_CHECK(ind.ends_message());
      // What the receiver then does with it: unpack exactly len bytes (ASan sees any byte
      // written past a buffer of exactly that size).
      auto buf = std::make_unique<unsigned char[]>(ind.len == 0 ? 1 : ind.len);
      if (ind.len != 0) PBX_FUZZ_CHECK(wire::unpack_inline_line(ind.words, ind.len, 0, check, buf.get()));
      return;
    }
    case wire::Kind::kRing:
      // The payload lies inside the postbox's payload ring, computed without wrapping.
      PBX_FUZZ_CHECK(ind.pool_off <= lim.ring_size && ind.len <= lim.ring_size - ind.pool_off);
      PBX_FUZZ_CHECK(ind.pool_off % wire::kLine == 0);
      PBX_FUZZ_CHECK((ind.checksum & ~(wire::kChecksumPresent | 0xffffffffull)) == 0);
      PBX_FUZZ_CHECK(ind.msg_off == 0 && ind.total == ind.len);
      PBX_FUZZ_CHECK((ind.flags & wire::flag::kLastPiece) == 0 && ind.ends_message());
      return;
    case wire::Kind::kPool:
    case wire::Kind::kPiece: {
      // The payload lies inside the pool, computed without wrapping.
      PBX_FUZZ_CHECK(ind.pool_off <= lim.pool_size && ind.len <= lim.pool_size - ind.pool_off);
      PBX_FUZZ_CHECK(ind.pool_off % wire::kLine == 0);
      PBX_FUZZ_CHECK((ind.checksum & ~(wire::kChecksumPresent | 0xffffffffull)) == 0);
      if (ind.kind == wire::Kind::kPool) {
        PBX_FUZZ_CHECK(ind.len <= lim.cts);
        PBX_FUZZ_CHECK(ind.msg_off == 0 && ind.total == ind.len);
        PBX_FUZZ_CHECK((ind.flags & wire::flag::kLastPiece) == 0 && ind.ends_message());
        return;
      }
      // A piece: non-empty, at most one piece, inside a message above one piece (a slice of
      // the CTS: send() cuts every larger one) that this receiver accepts, and marked last
      // exactly when it ends that message.
      PBX_FUZZ_CHECK(ind.len >= 1 && ind.len <= lim.piece_size);
      PBX_FUZZ_CHECK(ind.total > lim.piece_size && ind.total <= lim.max_message);
      PBX_FUZZ_CHECK(ind.msg_off <= ind.total && ind.len <= ind.total - ind.msg_off);
      const bool last = (ind.flags & wire::flag::kLastPiece) != 0;
      PBX_FUZZ_CHECK(last == (ind.msg_off + ind.len == ind.total));
      PBX_FUZZ_CHECK(ind.ends_message() == last);
      return;
    }
  }
  PBX_FUZZ_CHECK(!"kOk for an unknown kind");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::ByteReader r(data, size);
  const IndicatorInput in = IndicatorInput::read(r);
  check_limits(in.chosen());
  const wire::IndicatorLimits lim = in.limits();
  uint64_t w[8];
  in.line(w);

  wire::Indicator ind;
  wire::Refusal why;
  switch (wire::decode_indicator(w, in.check, lim, ind, why)) {
    case wire::Decode::kOk: check_accepted(w, in.check, lim, ind); break;
    case wire::Decode::kBad:
      // A whole line was looked at (its header landed) and the refusal names a field.
      PBX_FUZZ_CHECK(wire::check_of(w[0]) == in.check);
      PBX_FUZZ_CHECK(why.what != nullptr && why.what[0] != '\0');
      break;
    case wire::Decode::kNotYet: {
      // Some word of the indicator still carries another lap's check byte.
      const size_t needed = wire::check_of(w[0]) != in.check ? 0 : words_after_header(wire::decode_header(w[0]));
      bool missing = wire::check_of(w[0]) != in.check;
      for (size_t i = 1; i <= needed && i < 8; ++i) missing = missing || wire::check_of(w[i]) != in.check;
      PBX_FUZZ_CHECK(missing);
      break;
    }
  }
  return 0;
}
