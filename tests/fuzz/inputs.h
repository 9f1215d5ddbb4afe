// The input layout of every fuzz target, in one place: how a target reads libFuzzer's bytes
// (read()) and how the seed generator writes a seed the target reads back the same way
// (write()). Fields are ByteReader fields (support.h): little-endian, zero past the end.
//
// Some layouts carry a `mode` byte whose bits overwrite a field with the value the parser
// expects (a magic, a matching check byte). libFuzzer would find these values on its own from
// the comparisons it traces; the bits let it spend its time behind those checks as well.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "pbx/hal/spad_handshake.h"
#include "support.h"
#include "wire.h"

namespace pbx::fuzz {

// ---- fuzz_indicator --------------------------------------------------------------------
//   words[8]  the indicator line as the receiver reads it          64 bytes
//   check     the check byte of the sequence number expected       u8
//   landed    bit i: word i's top byte becomes `check` (landed)    u8
//   block, pool, slices, cts, inline_max, max_message choices      u8 u32 u8 u32 u8 u64
//   ring_size choice (last, so that older inputs read as ring_sel 0)  u8
// limits() turns the seven choices into limits that Config::validate() accepts, the only
// limits a receiver ever uses (lifecycle.cpp builds them from its validated Config).
struct IndicatorInput {
  uint64_t words[8] = {};
  uint8_t check = 0;
  uint8_t landed = 0;
  uint8_t block_sel = 0;
  uint32_t pool_sel = 0;
  uint8_t slices_sel = 0;
  uint32_t cts_sel = 0;
  uint8_t inline_sel = 0;
  uint64_t max_message_sel = 0;
  uint8_t ring_sel = 0;

  static IndicatorInput read(ByteReader& r) {
    IndicatorInput in;
    for (uint64_t& w : in.words) w = r.take<uint64_t>();
    in.check = r.take<uint8_t>();
    in.landed = r.take<uint8_t>();
    in.block_sel = r.take<uint8_t>();
    in.pool_sel = r.take<uint32_t>();
    in.slices_sel = r.take<uint8_t>();
    in.cts_sel = r.take<uint32_t>();
    in.inline_sel = r.take<uint8_t>();
    in.max_message_sel = r.take<uint64_t>();
    in.ring_sel = r.take<uint8_t>();
    return in;
  }
  void write(ByteWriter& w) const {
    for (uint64_t x : words) w.put(x);
    w.put(check).put(landed).put(block_sel).put(pool_sel).put(slices_sel).put(cts_sel).put(inline_sel);
    w.put(max_message_sel).put(ring_sel);
  }

  // The line the receiver reads.
  void line(uint64_t (&out)[8]) const {
    for (size_t i = 0; i < 8; ++i)
      out[i] = (landed >> i & 1) != 0 ? wire::checked(words[i], check) : words[i];
  }

  // Config::validate()'s ranges, in its order: block_size a power of two in 64 B..1 MiB;
  // pool_size a multiple of it in 64 KiB..4 GiB; cts_slices 1..64; cts a multiple of
  // block_size * cts_slices, at most pool_size / 2; inline_max 0..441; max_message 1..2^47;
  // ring_size a power of two in 4 KiB..64 MiB.
  // (A pool of one block cannot hold a CTS of half the pool, hence at least two blocks.)
  static constexpr uint64_t kMinPool = 64u << 10, kMaxPool = 4ull << 30;
  struct Limits {
    uint64_t block_size, pool_size, slices, cts, inline_max, max_message, ring_size;
  };
  static uint64_t pool_lo(uint64_t block) { return std::max<uint64_t>(2, (kMinPool + block - 1) / block); }
  static uint64_t slices_hi(uint64_t block, uint64_t pool) { return std::min<uint64_t>(64, pool / (2 * block)); }

  Limits chosen() const {
    Limits l{};
    l.block_size = uint64_t{64} << (block_sel % 15);
    l.pool_size = l.block_size * pick(pool_sel, pool_lo(l.block_size), kMaxPool / l.block_size);
    l.slices = pick(slices_sel, 1, slices_hi(l.block_size, l.pool_size));
    l.cts = l.block_size * l.slices * pick(cts_sel, 1, l.pool_size / (2 * l.block_size * l.slices));
    l.inline_max = pick(inline_sel, 0, wire::kInlineLimit);
    l.max_message = pick(max_message_sel, 1, wire::kMaxLength);
    l.ring_size = uint64_t{4096} << (ring_sel % 15);
    return l;
  }
  wire::IndicatorLimits limits() const {
    const Limits l = chosen();
    return wire::IndicatorLimits{static_cast<uint32_t>(l.inline_max), l.pool_size, l.cts, l.cts / l.slices,
                                 l.max_message, l.ring_size};
  }
  // The seed generator's side: the choices that give `l` (which must be valid).
  void choose(const Limits& l) {
    block_sel = static_cast<uint8_t>(std::countr_zero(l.block_size) - 6);
    pool_sel = static_cast<uint32_t>(unpick(l.pool_size / l.block_size, pool_lo(l.block_size)));
    slices_sel = static_cast<uint8_t>(unpick(l.slices, 1));
    cts_sel = static_cast<uint32_t>(unpick(l.cts / (l.block_size * l.slices), 1));
    inline_sel = static_cast<uint8_t>(l.inline_max);
    max_message_sel = unpick(l.max_message, 1);
    ring_sel = static_cast<uint8_t>(std::countr_zero(l.ring_size) - 12);
  }
};

// ---- fuzz_ack --------------------------------------------------------------------------
//   word, epoch, released_before, head    u64 each
//   mode    bit 0: the word carries `epoch` (its low 16 bits become epoch's)    u8
struct AckInput {
  uint64_t word = 0, epoch = 0, released_before = 0, head = 0;
  uint8_t mode = 0;

  static AckInput read(ByteReader& r) {
    AckInput in;
    in.word = r.take<uint64_t>();
    in.epoch = r.take<uint64_t>();
    in.released_before = r.take<uint64_t>();
    in.head = r.take<uint64_t>();
    in.mode = r.take<uint8_t>();
    return in;
  }
  void write(ByteWriter& w) const { w.put(word).put(epoch).put(released_before).put(head).put(mode); }
  uint64_t ack() const { return (mode & 1) != 0 ? (word & ~uint64_t{0xffff}) | (epoch & 0xffff) : word; }
};

// ---- fuzz_presence ---------------------------------------------------------------------
//   magic, incarnation, state, fingerprint, pid, heartbeat, heartbeat_ms    u64 each
//   mode    bit 0: magic := kPresenceMagic; bit 1: state := state mod 3    u8
struct PresenceInput {
  uint64_t magic = 0, incarnation = 0, state = 0, fingerprint = 0, pid = 0, heartbeat = 0, heartbeat_ms = 0;
  uint8_t mode = 0;

  static PresenceInput read(ByteReader& r) {
    PresenceInput in;
    in.magic = r.take<uint64_t>();
    in.incarnation = r.take<uint64_t>();
    in.state = r.take<uint64_t>();
    in.fingerprint = r.take<uint64_t>();
    in.pid = r.take<uint64_t>();
    in.heartbeat = r.take<uint64_t>();
    in.heartbeat_ms = r.take<uint64_t>();
    in.mode = r.take<uint8_t>();
    if ((in.mode & 1) != 0) in.magic = wire::kPresenceMagic;
    if ((in.mode & 2) != 0) in.state %= 3;
    return in;
  }
  void write(ByteWriter& w) const {
    w.put(magic).put(incarnation).put(state).put(fingerprint).put(pid).put(heartbeat).put(heartbeat_ms).put(mode);
  }
};

// ---- fuzz_postboxd_protocol ------------------------------------------------------------
//   fds_received    how many descriptors arrived with the message (decode_welcome)    u8
//   message         all the remaining bytes: one received datagram
struct PostboxdInput {
  uint8_t fds_received = 0;
  std::vector<std::byte> message;

  static PostboxdInput read(ByteReader& r) {
    PostboxdInput in;
    in.fds_received = r.take<uint8_t>();
    const auto rest = r.rest();
    in.message.assign(reinterpret_cast<const std::byte*>(rest.data()),
                      reinterpret_cast<const std::byte*>(rest.data()) + rest.size());
    return in;
  }
  void write(ByteWriter& w) const {
    w.put(fds_received);
    w.put_bytes({reinterpret_cast<const uint8_t*>(message.data()), message.size()});
  }
};

// ---- fuzz_ivshmem_protocol -------------------------------------------------------------
//   vectors    the client's vector count: 1 + vectors mod 4    u8
//   then records until the input ends, each one write of the server into the stream socket:
//     head     1 + head mod 16 bytes of data follow; (head / 16) mod 4 descriptors go with them    u8
//     data     those bytes (the server's 8-byte little-endian values, cut anywhere)
struct IvshmemRecord {
  std::span<const uint8_t> data;
  unsigned fds = 0;
};
struct IvshmemInput {
  static uint32_t vectors(ByteReader& r) { return 1 + r.take<uint8_t>() % 4; }
  static IvshmemRecord record(ByteReader& r) {
    const auto head = r.take<uint8_t>();
    IvshmemRecord rec;
    rec.fds = (head / 16) % 4;
    rec.data = r.take_bytes(1 + head % 16);
    return rec;
  }
};
// The same layout, for the seed generator.
struct IvshmemScript {
  ByteWriter out;
  explicit IvshmemScript(uint32_t vectors) { out.put(static_cast<uint8_t>(vectors - 1)); }
  // One whole message: value, with `fds` descriptors.
  IvshmemScript& message(int64_t value, unsigned fds = 0) {
    return chunk({reinterpret_cast<const uint8_t*>(&value), sizeof value}, fds);
  }
  // Any bytes (1..16) in one write.
  IvshmemScript& chunk(std::span<const uint8_t> data, unsigned fds = 0) {
    out.put(static_cast<uint8_t>(fds * 16 + (data.size() - 1))).put_bytes(data);
    return *this;
  }
};

// ---- fuzz_spad_handshake ---------------------------------------------------------------
// Part 1, judge_peer_spads() on one read:
//   peer     magic, version, window_pages, nodes, epoch, ack    u32 each
//   own      window_pages, nodes, epoch                         u32 each
//   mode     bits 0..4: magic, version, window_pages, nodes, ack take the value that matches    u8
// Part 2, SpadHandshake::step() of node 0 against node 1 on the scratchpad model, after each op:
//   our_epoch, peer_epoch    u32 each (0 becomes 1 and 2: an epoch is never 0)
//   peer_window              u8: node 1's window is 2 MiB (even) or 4 MiB (odd: a mismatch)
//   then ops until the input ends: op u8 (mod 8), with its operands:
enum class SpadOp : uint8_t {
  kPoke,           // u8 spad (mod 6), u32 value: node 1 wrote that value into our scratchpad
  kPeerAnnounces,  // u32 epoch, u8 acks (bit 0): node 1's whole announcement, written by hand
  kLinkToggle,     // the device link goes down, or up
  kLinkBounce,     // down and up again before the next step (only its generation tells)
  kAdvance,        // u16 milliseconds pass
  kReset,          // what node 1 wrote to us is lost (a device reset on our side)
  kPeerSteps,      // node 1's own SpadHandshake steps
  kLeave,          // node 0 leaves (then steps again)
};
inline constexpr uint8_t kSpadOps = 8;
struct SpadJudgeInput {
  hal::PeerSpads peer{};
  hal::OwnSpads own{};
  uint8_t mode = 0;

  static SpadJudgeInput read(ByteReader& r) {
    SpadJudgeInput in;
    for (uint32_t* f : {&in.peer.magic, &in.peer.version, &in.peer.window_pages, &in.peer.nodes, &in.peer.epoch,
                        &in.peer.ack, &in.own.window_pages, &in.own.nodes, &in.own.epoch})
      *f = r.take<uint32_t>();
    in.mode = r.take<uint8_t>();
    if ((in.mode & 1) != 0) in.peer.magic = hal::SpadHandshake::kMagic;
    if ((in.mode & 2) != 0) in.peer.version = hal::SpadHandshake::kVersion;
    if ((in.mode & 4) != 0) in.peer.window_pages = in.own.window_pages;
    if ((in.mode & 8) != 0) in.peer.nodes = in.own.nodes;
    if ((in.mode & 16) != 0) in.peer.ack = in.own.epoch;
    return in;
  }
  void write(ByteWriter& w) const {
    for (uint32_t f : {peer.magic, peer.version, peer.window_pages, peer.nodes, peer.epoch, peer.ack,
                       own.window_pages, own.nodes, own.epoch})
      w.put(f);
    w.put(mode);
  }
};

// Part 2 of a fuzz_spad_handshake seed, for the seed generator (follows a SpadJudgeInput).
struct SpadScript {
  ByteWriter& out;
  SpadScript(ByteWriter& w, uint32_t our_epoch, uint32_t peer_epoch, bool peer_window_differs) : out(w) {
    out.put(our_epoch).put(peer_epoch).put(static_cast<uint8_t>(peer_window_differs ? 1 : 0));
  }
  SpadScript& op(SpadOp o) {
    out.put(static_cast<uint8_t>(o));
    return *this;
  }
  SpadScript& poke(uint8_t spad, uint32_t value) {
    op(SpadOp::kPoke).out.put(spad).put(value);
    return *this;
  }
  SpadScript& announce(uint32_t epoch, bool acks) {
    op(SpadOp::kPeerAnnounces).out.put(epoch).put(static_cast<uint8_t>(acks ? 1 : 0));
    return *this;
  }
  SpadScript& advance_ms(uint16_t ms) {
    op(SpadOp::kAdvance).out.put(ms);
    return *this;
  }
};

}  // namespace pbx::fuzz
