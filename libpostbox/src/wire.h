// Wire formats: what postbox writes into memory of other nodes. Little-endian words; every
// structure is made of whole 64-byte lines, and every field one naturally aligned 8-byte
// word written with a single store, so a field is never torn on the link.
//
// Who writes what (each line has exactly one writer, so no atomics cross the bridge):
//   presence line   process p, into every node's window from p's node       (job membership)
//   segment header  sender s, first line of its data segment on node k       (c31: created on first use)
//   postbox header  sender s, one per receiver r of node k                   (epoch after a link resync)
//   postbox slot    sender s, the indicator ring of r's postbox              (c1-c3, c9)
//   ack block       receiver r, on the sender's node: section s, block r     (c32-c38)
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
//   word 0   check:8 | kind:4 flags:4 | inline_len:8 | reserved:8 | tag:32
//   inline   words 1..7: 7 payload bytes each (49 bytes)
//   pool     word 1: pool offset / 64   word 2: length
//   piece    word 1: pool offset / 64   word 2: piece length
//            word 3: offset of the piece in the message   word 4: message length
enum class Kind : uint8_t { kInline = 1, kPool = 2, kPiece = 3 };

namespace flag {
inline constexpr uint8_t kAckNow = 1;    // sender is short of room: acknowledge without batching
inline constexpr uint8_t kLastPiece = 2; // last piece of a message above the CTS
}  // namespace flag

inline constexpr size_t kInlineCapacity = 49;
inline constexpr size_t kInlineBytesPerWord = 7;

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
  uint8_t inline_len;
  uint32_t tag;
};

constexpr uint64_t encode_header(const SlotHeader& h, uint8_t check) noexcept {
  return checked((uint64_t{static_cast<uint8_t>(static_cast<uint8_t>(h.kind) | (h.flags << 4))} << 48) |
                     (uint64_t{h.inline_len} << 40) | h.tag,
                 check);
}
constexpr SlotHeader decode_header(uint64_t w) noexcept {
  const auto kf = static_cast<uint8_t>(w >> 48);
  return SlotHeader{static_cast<Kind>(kf & 0xf), static_cast<uint8_t>(kf >> 4), static_cast<uint8_t>(w >> 40),
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

// Packs n <= 49 payload bytes into words[1..7] with `check` (unused words carry zero payload).
// Reads exactly [src, src + n): whole words with one 8-byte load each (its 8th byte is the
// next word's first, dropped here), the last 1..7 bytes with 4-, 2- and 1-byte loads. No
// staging buffer: bytes are never stored and reloaded at another width (a stalled
// store-to-load forward costs more than the rest of the send).
inline void pack_inline(const void* src, size_t n, uint64_t words[8], uint8_t check) noexcept {
  static_assert(std::endian::native == std::endian::little, "inline payload words are little-endian");
  const auto* s = static_cast<const unsigned char*>(src);
  for (size_t w = 1; w < 8; ++w) words[w] = checked(payload_word(s, n, kInlineBytesPerWord * (w - 1)), check);
}
// Number of words after word 0 that carry n inline bytes.
constexpr size_t inline_words(size_t n) noexcept { return (n + kInlineBytesPerWord - 1) / kInlineBytesPerWord; }
// Unpacks n bytes from words[1..]; the caller checked their check bytes. Writes exactly
// [dst, dst + n), in increasing order: each whole word with one 8-byte store whose 8th byte
// (the check byte) the next word's store overwrites, the last 1..7 bytes with store_tail().
inline void unpack_inline(const uint64_t words[8], size_t n, void* dst) noexcept {
  auto* d = static_cast<unsigned char*>(dst);
  size_t w = 1, off = 0;
  for (; off + 8 <= n; ++w, off += kInlineBytesPerWord) std::memcpy(d + off, &words[w], 8);
  if (off < n) store_tail(d + off, words[w], n - off);
}

// ---- Segment header (first line of a sender's data segment) ----------------------------
inline constexpr uint64_t kSegmentMagic = 0x3147455358425050ull;  // "PPBXSEG1"
namespace seg {
inline constexpr size_t kMagic = 0;        // kSegmentMagic, written last at creation
inline constexpr size_t kFingerprint = 8;  // Layout::fingerprint() of the sender
inline constexpr size_t kPid = 16;         // diagnostics
}  // namespace seg

// ---- Postbox header (one line before each receiver's slots) ----------------------------
namespace postbox {
inline constexpr size_t kEpoch = 0;      // bumped by the sender at each link resync
inline constexpr size_t kStartSeq = 8;   // first sequence number of that epoch
}  // namespace postbox

// ---- Ack block (receiver -> sender, in the sender's node) ------------------------------
namespace ack {
inline constexpr size_t kReleased = 0;   // messages whose memory the sender may reuse (cumulative)
inline constexpr size_t kEpoch = 8;      // the postbox epoch the receiver has adopted
inline constexpr size_t kDelivered = 16; // messages delivered when that epoch was adopted
}  // namespace ack

// ---- Presence line (one per process, in every node's window from its node) --------------
inline constexpr uint64_t kPresenceMagic = 0x45534e4553455250ull;  // "PRESENSE"
namespace presence {
inline constexpr size_t kMagic = 0;        // kPresenceMagic, written last
inline constexpr size_t kState = 8;        // State
inline constexpr size_t kFingerprint = 16; // Layout::fingerprint()
inline constexpr size_t kPid = 24;
inline constexpr size_t kIncarnation = 32; // random per endpoint: a restarted process differs
enum State : uint64_t { kAbsent = 0, kUp = 1, kGone = 2 };
}  // namespace presence

}  // namespace pbx::wire
