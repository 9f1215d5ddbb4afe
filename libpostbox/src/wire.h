// Wire formats: what postbox writes into memory of other nodes. Little-endian words; every
// structure is made of whole 64-byte lines, and every field one naturally aligned 8-byte
// word written with a single store, so a field is never torn on the link.
//
// Who writes what (each line has exactly one writer, so no atomics cross the bridge):
//   presence line   process p, into every node's window from p's node       (membership, liveness)
//   segment header  sender s, first line of its data segment on node k       (c31: created on first use)
//   postbox header  sender s, one per receiver r of node k                   (epoch: start of a channel,
//                                                                             a link resync, a restart)
//   postbox slot    sender s, the indicator ring of r's postbox              (c1-c3, c9)
//   ack block       receiver r, on the sender's node: section s, block r     (c32-c38)
//
// Incarnations: every endpoint draws a random non-zero 64-bit incarnation when it starts. A
// process restarted under the same rank is a new incarnation; headers and acks name the
// incarnations they belong to, so that nothing written for (or by) an earlier incarnation is
// taken for the current one.
//
// Everything a peer wrote is untrusted: the decode_* and check_* functions below are the only
// parsers of peer-written words, pure functions with no access to memory beyond their
// arguments (fuzzed in tests/fuzz).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace pbx::wire {

inline constexpr size_t kLine = 64;
inline constexpr uint64_t kMaxLength = 1ull << 47;
inline constexpr uint64_t kLow56 = (1ull << 56) - 1;

// ---- Indicator line (one postbox slot) -------------------------------------------------
//
// Eight words. The top byte of every word is the slot's check byte for the sequence number
// the line belongs to: 0x80 | (lap & 0x7f), lap = seq / postbox_slots. The sender writes the
// whole line on every lap, so each word on its own tells whether it belongs to this lap: a
// word still holding the previous lap, or zeroed memory, fails the check. The receiver thus
// needs no fence to read an inline message whose words may land in any order (flag in data,
// like NCCL's LL protocol), and a torn or half-landed line is never accepted.
//
//   word 0   check:8 | kind:4 flags:4 | inline_len:16 | tag:32
//   inline   words 1..7: 7 payload bytes each (the first 49 bytes); a longer inline message
//            goes on in the slots right after the indicator (see "Inline messages" below)
//   ring     word 1: offset / 64 in the postbox's payload ring   word 2: length
//            word 3: payload checksum (see below)
//   pool     word 1: pool offset / 64   word 2: length
//            word 3: payload checksum (see below)
//   piece    word 1: pool offset / 64   word 2: piece length
//            word 3: offset of the piece in the message   word 4: message length
//            word 5: payload checksum of the piece
//   checksum word: bit 32 = present (the sender runs with Config::checksum), bits 0..31 the
//   CRC32C of the payload bytes the indicator points to
enum class Kind : uint8_t { kInline = 1, kPool = 2, kPiece = 3, kRing = 4 };

namespace flag {
inline constexpr uint8_t kAckNow = 1;    // sender is short of room: acknowledge without batching
inline constexpr uint8_t kLastPiece = 2; // last piece of a message above the CTS
}  // namespace flag

// ---- Inline messages: the indicator line and the lines right after it -----------------
//
// An inline message of n bytes takes inline_lines(n) consecutive slots: the indicator line
// (word 0 the header, words 1..7 bytes 0..48) and, above 49 bytes, continuation lines whose
// eight words carry the next 56 bytes each. Every word holds 7 payload bytes and, in its top
// byte, the check byte of its own slot's sequence number, so that each word of each line is
// checked on its own (NCCL's LL protocol on 64-byte lines): a word that has not landed, or one
// an earlier lap left, never passes. The receiver reads on from the line it polls: no pointer
// to follow, no fence, no separate flag.
inline constexpr size_t kInlineCapacity = 49;      // bytes in the indicator line
inline constexpr size_t kInlineLineBytes = 56;     // bytes in a continuation line
inline constexpr size_t kInlineMaxLines = 8;
inline constexpr size_t kInlineLimit = kInlineCapacity + kInlineLineBytes * (kInlineMaxLines - 1);  // 441
inline constexpr size_t kInlineBytesPerWord = 7;

constexpr size_t inline_lines(size_t n) noexcept {
  return n <= kInlineCapacity ? 1 : 1 + (n - kInlineCapacity + kInlineLineBytes - 1) / kInlineLineBytes;
}
// What line k of an n-byte inline message carries: bytes [first, first + count) (count may
// be 0 for an empty message), in words word0, word0 + 1, ... (7 bytes each).
struct InlineSpan {
  size_t first, count, word0;
};
constexpr InlineSpan inline_span(size_t n, size_t k) noexcept {
  const size_t first = k == 0 ? 0 : kInlineCapacity + kInlineLineBytes * (k - 1);
  const size_t cap = k == 0 ? kInlineCapacity : kInlineLineBytes;
  const size_t count = n <= first ? 0 : (n - first < cap ? n - first : cap);
  return InlineSpan{first, count, k == 0 ? size_t{1} : size_t{0}};
}

constexpr uint8_t check_byte(uint64_t seq, unsigned slots_log2) noexcept {
  return static_cast<uint8_t>(0x80u | ((seq >> slots_log2) & 0x7fu));
}
constexpr uint8_t check_of(uint64_t word) noexcept { return static_cast<uint8_t>(word >> 56); }
constexpr uint64_t checked(uint64_t value56, uint8_t check) noexcept {
  return (value56 & kLow56) | (uint64_t{check} << 56);
}

struct SlotHeader {
  Kind kind;
  uint8_t flags;
  uint16_t inline_len;
  uint32_t tag;
};

constexpr uint64_t encode_header(const SlotHeader& h, uint8_t check) noexcept {
  return checked((uint64_t{static_cast<uint8_t>(static_cast<uint8_t>(h.kind) | (h.flags << 4))} << 48) |
                     (uint64_t{h.inline_len} << 32) | h.tag,
                 check);
}
constexpr SlotHeader decode_header(uint64_t w) noexcept {
  const auto kf = static_cast<uint8_t>(w >> 48);
  return SlotHeader{static_cast<Kind>(kf & 0xf), static_cast<uint8_t>(kf >> 4), static_cast<uint16_t>(w >> 32),
                    static_cast<uint32_t>(w)};
}

// The 1..7 bytes at p as the low bytes of a word: 4-, 2- and 1-byte loads, never past p + k.
inline uint64_t load_tail(const unsigned char* p, size_t k) noexcept {
  uint64_t v = 0;
  size_t at = 0;
  if ((k & 4) != 0) {
    uint32_t x;
    std::memcpy(&x, p, 4);
    v = x, at = 4;
  }
  if ((k & 2) != 0) {
    uint16_t x;
    std::memcpy(&x, p + at, 2);
    v |= uint64_t{x} << (8 * at), at += 2;
  }
  if ((k & 1) != 0) v |= uint64_t{p[at]} << (8 * at);
  return v;
}

// The low k (1..7) bytes of v to p: 4-, 2- and 1-byte stores, never past p + k.
inline void store_tail(unsigned char* p, uint64_t v, size_t k) noexcept {
  size_t at = 0;
  if ((k & 4) != 0) {
    const auto x = static_cast<uint32_t>(v);
    std::memcpy(p, &x, 4);
    at = 4;
  }
  if ((k & 2) != 0) {
    const auto x = static_cast<uint16_t>(v >> (8 * at));
    std::memcpy(p + at, &x, 2);
    at += 2;
  }
  if ((k & 1) != 0) p[at] = static_cast<unsigned char>(v >> (8 * at));
}

// Payload bytes [off, off + 7) of an n-byte message as a word (zero past n; the 8th byte is
// left for the check byte). Reads only bytes of the message.
inline uint64_t payload_word(const unsigned char* s, size_t n, size_t off) noexcept {
  if (off + 8 <= n) {
    uint64_t v;
    std::memcpy(&v, s + off, 8);
    return v;
  }
  return off < n ? load_tail(s + off, n - off) : 0;
}

// Packs line k of an n-byte inline message (inline_span) into its words with `check` (words
// past the message carry zero payload; word 0 of line 0 is the caller's header and is left
// alone). Reads exactly the message's bytes: whole words with one 8-byte load each (its 8th
// byte is the next word's first, dropped here), the last 1..7 bytes with 4-, 2- and 1-byte
// loads. No staging buffer: bytes are never stored and reloaded at another width.
inline void pack_inline_line(const void* src, size_t n, size_t k, uint64_t (&w)[8], uint8_t check) noexcept {
  static_assert(std::endian::native == std::endian::little, "inline payload words are little-endian");
  const auto* s = static_cast<const unsigned char*>(src);
  const InlineSpan sp = inline_span(n, k);
  const size_t end = sp.word0 + (sp.count + kInlineBytesPerWord - 1) / kInlineBytesPerWord;
  size_t i = sp.word0;
  for (size_t off = sp.first; i < end; ++i, off += kInlineBytesPerWord) w[i] = checked(payload_word(s, n, off), check);
  for (; i < 8; ++i) w[i] = uint64_t{check} << 56;  // past the message: zero payload
}
// Number of words that carry `count` inline bytes.
constexpr size_t inline_words(size_t count) noexcept {
  return (count + kInlineBytesPerWord - 1) / kInlineBytesPerWord;
}
// Checks the words of line k of an n-byte inline message that carry its bytes against `check`
// and unpacks them into dst (the whole message's buffer). False, nothing written, if one of
// them has not landed. Writes exactly the line's bytes of [dst, dst + n), in increasing order:
// whole words with one 8-byte store whose 8th byte the next word's store overwrites (lines
// are unpacked in order, so across lines too), the last 1..7 bytes of the message with
// store_tail().
inline bool unpack_inline_line(const uint64_t (&w)[8], size_t n, size_t k, uint8_t check, void* dst) noexcept {
  const InlineSpan sp = inline_span(n, k);
  const size_t nw = inline_words(sp.count);
  for (size_t i = 0; i < nw; ++i)
    if (check_of(w[sp.word0 + i]) != check) return false;
  auto* d = static_cast<unsigned char*>(dst);
  for (size_t i = 0, off = sp.first; i < nw; ++i, off += kInlineBytesPerWord) {
    if (off + 8 <= n) std::memcpy(d + off, &w[sp.word0 + i], 8);
    else store_tail(d + off, w[sp.word0 + i], n - off);
  }
  return true;
}

inline constexpr uint64_t kChecksumPresent = 1ull << 32;

// Where a ring or pool message is, from its indicator's words 1 (offset / 64) and 2 (length):
// false if it does not lie wholly inside an area of `area_size` bytes. Never overflows.
inline bool payload_extent(uint64_t w1, uint64_t w2, uint64_t area_size, uint64_t& off, uint64_t& len) noexcept {
  off = (w1 & kLow56) << 6;
  len = w2 & kLow56;
  return off <= area_size && len <= area_size - off;
}

// A decoded, bounds-checked indicator.
struct Indicator {
  Kind kind = Kind::kInline;
  uint8_t flags = 0;
  uint32_t tag = 0;
  uint64_t len = 0;        // bytes in this indicator (inline, pool message, or piece)
  uint64_t pool_off = 0;   // byte offset in the sender's pool (pool, piece) or in the payload ring (ring)
  uint64_t msg_off = 0;    // piece: offset of the piece in the message
  uint64_t total = 0;      // message length (== len unless a piece)
  uint64_t checksum = 0;   // kChecksumPresent | crc32c, or 0
  uint64_t words[8] = {};
  bool ends_message() const noexcept { return kind != Kind::kPiece || (flags & flag::kLastPiece) != 0; }
};

// What a receiver accepts, from its own layout (never from the peer).
struct IndicatorLimits {
  uint32_t inline_max = 0;
  uint64_t pool_size = 0, cts = 0, piece_size = 0, max_message = 0, ring_size = 0;
};

enum class Decode : uint8_t { kNotYet, kOk, kBad };
// Why an indicator was refused: which field, its value, the limit it broke.
struct Refusal {
  const char* what = "";
  uint64_t value = 0, limit = 0;
};

// Decodes the 64-byte line `w` as the indicator of the sequence number whose check byte is
// `check`. kNotYet: some word the indicator needs has not landed (it still carries another
// lap's check byte). kBad: a whole indicator whose fields break `lim` (`why` says which).
Decode decode_indicator(const uint64_t (&w)[8], uint8_t check, const IndicatorLimits& lim, Indicator& out,
                        Refusal& why) noexcept;

// ---- Segment header (first line of a sender's data segment) ----------------------------
inline constexpr uint64_t kSegmentMagic = 0x3247455358425050ull;  // "PPBXSEG2"
namespace seg {
inline constexpr size_t kMagic = 0;        // kSegmentMagic, written last at creation
inline constexpr size_t kFingerprint = 8;  // Layout::fingerprint() of the sender
inline constexpr size_t kPid = 16;         // diagnostics
inline constexpr size_t kIncarnation = 24; // the sender's incarnation, written first at creation
}  // namespace seg

// ---- Postbox header (one line before each receiver's slots) ----------------------------
//
// A seqlock: the sender zeroes the epoch word, writes the other words, flushes, and writes the
// new epoch word last; a reader that reads the same non-zero epoch word before and after the
// other words has a consistent header. A receiver follows (adopts) an epoch only when the header names its
// own incarnation and the sender incarnation of the segment.
namespace postbox {
inline constexpr size_t kEpoch = 0;        // epoch_word(): 0 while being written
inline constexpr size_t kStartSeq = 8;     // first sequence number of that epoch
inline constexpr size_t kTarget = 16;      // the receiver incarnation this epoch is for
inline constexpr size_t kSender = 24;      // the sender incarnation
}  // namespace postbox

// The epoch word names the sender incarnation too (its low 48 bits above the 16-bit epoch 1, 2,
// ...), so that a reader that raced with a restarted sender's rewrite cannot take the earlier
// incarnation's epoch for the new one's (the seqlock's check would pass on equal epochs).
constexpr uint64_t epoch_word(uint64_t sender_incarnation, uint16_t epoch) noexcept {
  return (sender_incarnation << 16) | epoch;
}
constexpr uint16_t epoch_of(uint64_t word) noexcept { return static_cast<uint16_t>(word); }
constexpr bool epoch_word_of(uint64_t word, uint64_t sender_incarnation) noexcept {
  return (word >> 16) == ((sender_incarnation << 16) >> 16);
}

struct PostboxHeader {
  uint64_t epoch = 0, start = 0, target = 0, sender = 0;  // epoch: the 16-bit epoch
};

// ---- Ack block (receiver -> sender, in the sender's node) ------------------------------
//
//   word 0  released:48 | epoch:16   messages whose memory the sender may reuse (cumulative)
//   word 1  taken:48 | epoch:16      when the receiver adopted that epoch: how many messages of
//                                    this pair of incarnations it has taken (delivered, or
//                                    refused with an error); a resyncing sender, which sent
//                                    nothing since, reports the rest of what it sent as lost
//                                    (the last ones: an outage loses a tail)
//   word 2  the sender incarnation the receiver follows
// Following a new sender incarnation, the receiver first stores 0 into word 0, then word 2,
// then words 1 and 0: a sender that reads its own incarnation in word 2 before word 0 can
// never see a count written for an earlier incarnation. Epochs tell apart counts written for
// earlier epochs (a link outage, a restarted receiver).
namespace ack {
inline constexpr size_t kReleased = 0;
inline constexpr size_t kTaken = 8;
inline constexpr size_t kSender = 16;
}  // namespace ack
inline constexpr uint64_t kCountMask = (1ull << 48) - 1;
constexpr uint64_t ack_word(uint64_t count, uint64_t epoch) noexcept {
  return ((count & kCountMask) << 16) | (epoch & 0xffff);
}
constexpr uint16_t ack_epoch(uint64_t w) noexcept { return static_cast<uint16_t>(w); }
constexpr uint64_t ack_count(uint64_t w) noexcept { return w >> 16; }

// The sender's view of one ack word 0. kStale: written for another epoch (or not yet for
// ours): no news. kOk: `released` is the new count. kBad: the count runs backwards or past
// what was sent (a buggy or malicious receiver).
enum class AckCheck : uint8_t { kStale, kOk, kBad };
AckCheck check_ack(uint64_t word, uint64_t epoch, uint64_t released_before, uint64_t head,
                   uint64_t& released) noexcept;

// ---- Presence line (one per process, in every node's window from its node) --------------
inline constexpr uint64_t kPresenceMagic = 0x32534e4553455250ull;  // "PRESENS2"
namespace presence {
inline constexpr size_t kMagic = 0;        // kPresenceMagic, written last the first time
inline constexpr size_t kState = 8;        // State
inline constexpr size_t kFingerprint = 16; // Layout::fingerprint()
inline constexpr size_t kPid = 24;
inline constexpr size_t kIncarnation = 32; // random per endpoint: a restarted process differs;
                                           //   written after the fields above (release)
inline constexpr size_t kHeartbeat = 40;   // bumped every heartbeat period while the process lives
inline constexpr size_t kHeartbeatMs = 48; // the period; 0: the process does not beat (its
                                           //   backend tells its death another way)
enum State : uint64_t { kAbsent = 0, kUp = 1, kGone = 2 };
}  // namespace presence

struct Presence {
  uint64_t state = presence::kAbsent;
  uint64_t incarnation = 0, fingerprint = 0, pid = 0, heartbeat = 0, heartbeat_ms = 0;
};
// A presence line as read (magic, incarnation, then the other fields). Anything but a valid
// magic and a non-zero incarnation reads as absent; an unknown state reads as absent too.
Presence decode_presence(uint64_t magic, uint64_t incarnation, uint64_t state, uint64_t fingerprint, uint64_t pid,
                         uint64_t heartbeat, uint64_t heartbeat_ms) noexcept;

}  // namespace pbx::wire
