// What the provider puts on postbox: libfabric's 64-bit tags, 4 bytes of remote CQ data and
// its own control words do not fit postbox's 32-bit tag, so a small header travels at the
// start of each message's payload and the postbox tag says what the header holds:
//
//   postbox tag: bits 31..24 magic 0xF1 | bits 23..12 reserved (0) | bit 11 want_ack |
//                bit 10 large | bit 9 has_data | bit 8 reserved | bits 7..0 op
//   header:      [tag u64, if op == kTagged] [cq data u32, if has_data]
//                [ack id u32, if want_ack or op == kAck] [total length u64, if large]
//   then the payload (none for a large message: it follows as the pair's next message, op
//   kPayload, with no header).
//
// An 8-byte tagged message with CQ data takes 8 + 4 + 8 = 20 bytes: inside postbox's inline
// limit (49 bytes), so it still travels in one 64-byte line. Little-endian, as postbox is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace pbx::fabric::wire {

enum class Op : uint8_t {
  kMsg = 1,      // fi_send family: matched against posted fi_recv buffers
  kTagged = 2,   // fi_tsend family: matched by tag
  kPayload = 3,  // the payload of the previous (large) message of this pair
  kAck = 4,      // delivered: completes a send that asked for FI_DELIVERY_COMPLETE
};

inline constexpr uint32_t kMagic = 0xF1u << 24;
inline constexpr uint32_t kMagicMask = 0xFFu << 24;
inline constexpr uint32_t kHasData = 1u << 9;
inline constexpr uint32_t kLarge = 1u << 10;
inline constexpr uint32_t kWantAck = 1u << 11;
inline constexpr uint32_t kKnownBits = kMagicMask | kHasData | kLarge | kWantAck | 0xFFu;
inline constexpr size_t kMaxHeader = 8 + 4 + 4 + 8;

struct Header {
  Op op = Op::kMsg;
  bool has_data = false;
  bool want_ack = false;
  bool large = false;
  uint64_t tag = 0;
  uint32_t data = 0;
  uint32_t ack_id = 0;
  uint64_t total_len = 0;  // large messages: the payload's length
};

inline size_t header_size(const Header& h) noexcept {
  return (h.op == Op::kTagged ? 8 : 0) + (h.has_data ? 4 : 0) + ((h.want_ack || h.op == Op::kAck) ? 4 : 0) +
         (h.large ? 8 : 0);
}

// Writes h's header into out (header_size(h) bytes, at most kMaxHeader) and returns the
// postbox tag that describes it.
inline uint32_t encode(const Header& h, std::byte* out) noexcept {
  uint32_t ptag = kMagic | static_cast<uint8_t>(h.op);
  size_t off = 0;
  if (h.op == Op::kTagged) {
    std::memcpy(out + off, &h.tag, 8);
    off += 8;
  }
  if (h.has_data) {
    ptag |= kHasData;
    std::memcpy(out + off, &h.data, 4);
    off += 4;
  }
  if (h.want_ack || h.op == Op::kAck) {
    if (h.want_ack) ptag |= kWantAck;
    std::memcpy(out + off, &h.ack_id, 4);
    off += 4;
  }
  if (h.large) {
    ptag |= kLarge;
    std::memcpy(out + off, &h.total_len, 8);
  }
  return ptag;
}

// The postbox tag of a large message's payload.
inline constexpr uint32_t kPayloadTag = kMagic | static_cast<uint8_t>(Op::kPayload);

// Reads a header; false when `ptag` is not the provider's or the message is shorter than its
// header says (a peer that is not this provider, or a buggy one). `hdr_len` = bytes to skip.
inline bool decode(uint32_t ptag, std::span<const std::byte> msg, Header& h, size_t& hdr_len) noexcept {
  if ((ptag & kMagicMask) != kMagic || (ptag & ~kKnownBits) != 0) return false;
  const uint8_t op = ptag & 0xFFu;
  if (op < static_cast<uint8_t>(Op::kMsg) || op > static_cast<uint8_t>(Op::kAck)) return false;
  h = Header{};
  h.op = static_cast<Op>(op);
  h.has_data = (ptag & kHasData) != 0;
  h.want_ack = (ptag & kWantAck) != 0;
  h.large = (ptag & kLarge) != 0;
  if (h.op == Op::kPayload) {
    hdr_len = 0;
    return !h.has_data && !h.want_ack && !h.large;
  }
  if (h.op == Op::kAck && (h.has_data || h.want_ack || h.large)) return false;
  hdr_len = header_size(h);
  if (msg.size() < hdr_len) return false;
  if (h.large && msg.size() != hdr_len) return false;  // its payload travels on its own
  const std::byte* p = msg.data();
  if (h.op == Op::kTagged) {
    std::memcpy(&h.tag, p, 8);
    p += 8;
  }
  if (h.has_data) {
    std::memcpy(&h.data, p, 4);
    p += 4;
  }
  if (h.want_ack || h.op == Op::kAck) {
    std::memcpy(&h.ack_id, p, 4);
    p += 4;
  }
  if (h.large) std::memcpy(&h.total_len, p, 8);
  return true;
}

}  // namespace pbx::fabric::wire
