// The parsers of peer-written words (wire.h): pure functions, every field checked against the
// receiver's own limits before anything uses it.
#include "wire.h"

namespace pbx::wire {

namespace {
Decode refuse(Refusal& why, const char* what, uint64_t value, uint64_t limit) noexcept {
  why = Refusal{what, value, limit};
  return Decode::kBad;
}
}  // namespace

Decode decode_indicator(const uint64_t (&w)[8], uint8_t check, const IndicatorLimits& lim, Indicator& out,
                        Refusal& why) noexcept {
  if (check_of(w[0]) != check) return Decode::kNotYet;
  const SlotHeader h = decode_header(w[0]);
  size_t nwords = 0;
  switch (h.kind) {
    case Kind::kInline:
      if (h.inline_len > lim.inline_max) return refuse(why, "inline length", h.inline_len, lim.inline_max);
      if (h.inline_len > lim.max_message) return refuse(why, "message length", h.inline_len, lim.max_message);
      nwords = inline_words(inline_span(h.inline_len, 0).count);  // the indicator line's (the others check themselves)
      break;
    case Kind::kPool:
    case Kind::kRing: nwords = 3; break;
    case Kind::kPiece: nwords = 5; break;
    default: return refuse(why, "kind", static_cast<uint8_t>(h.kind), 4);
  }
  for (size_t i = 1; i <= nwords; ++i)
    if (check_of(w[i]) != check) return Decode::kNotYet;  // this word has not landed yet
  for (size_t i = 0; i < 8; ++i) out.words[i] = w[i];
  out.kind = h.kind;
  out.flags = h.flags;
  out.tag = h.tag;
  out.checksum = 0;
  if (h.kind == Kind::kInline) {
    out.len = out.total = h.inline_len;
    out.msg_off = out.pool_off = 0;
    return Decode::kOk;
  }
  // Offsets and lengths: checked so that pool_off + len can neither wrap nor leave the area.
  if (h.kind == Kind::kRing) {
    if (!payload_extent(w[1], w[2], lim.ring_size, out.pool_off, out.len))
      return refuse(why, "ring offset + length", out.pool_off + out.len, lim.ring_size);
  } else if (!payload_extent(w[1], w[2], lim.pool_size, out.pool_off, out.len)) {
    return refuse(why, "pool offset + length", out.pool_off + out.len, lim.pool_size);
  }
  const uint64_t sum = (h.kind == Kind::kPiece ? w[5] : w[3]) & kLow56;
  if ((sum & ~(kChecksumPresent | 0xffffffffull)) != 0) return refuse(why, "checksum word", sum, kChecksumPresent);
  out.checksum = sum;
  if (h.kind == Kind::kPool || h.kind == Kind::kRing) {
    if (h.kind == Kind::kPool && out.len > lim.cts) return refuse(why, "message length", out.len, lim.cts);
    if (out.len > lim.max_message) return refuse(why, "message length", out.len, lim.max_message);
    if ((h.flags & flag::kLastPiece) != 0) return refuse(why, "flags", h.flags, flag::kAckNow);
    out.msg_off = 0;
    out.total = out.len;
    return Decode::kOk;
  }
  out.msg_off = w[3] & kLow56;
  out.total = w[4] & kLow56;
  if (out.len == 0 || out.len > lim.piece_size) return refuse(why, "piece length", out.len, lim.piece_size);
  if (out.total <= lim.piece_size || out.total > lim.max_message) return refuse(why, "message length", out.total, lim.max_message);
  const bool last = (h.flags & flag::kLastPiece) != 0;
  if (out.msg_off > out.total || out.len > out.total - out.msg_off || last != (out.msg_off + out.len == out.total))
    return refuse(why, "piece offset", out.msg_off, out.total);
  return Decode::kOk;
}

AckCheck check_ack(uint64_t word, uint64_t epoch, uint64_t released_before, uint64_t head,
                   uint64_t& released) noexcept {
  if (ack_epoch(word) != static_cast<uint16_t>(epoch)) return AckCheck::kStale;
  const uint64_t v = ack_count(word);
  if (v < released_before || v > head) return AckCheck::kBad;
  released = v;
  return AckCheck::kOk;
}

Presence decode_presence(uint64_t magic, uint64_t incarnation, uint64_t state, uint64_t fingerprint, uint64_t pid,
                         uint64_t heartbeat, uint64_t heartbeat_ms) noexcept {
  if (magic != kPresenceMagic || incarnation == 0) return {};
  if (state != presence::kUp && state != presence::kGone) return {};
  return Presence{state, incarnation, fingerprint, pid, heartbeat, heartbeat_ms};
}

}  // namespace pbx::wire
