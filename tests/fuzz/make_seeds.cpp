// Writes the seed corpus of every fuzz target (tests/fuzz/corpus/<target>/<seed>): small valid
// inputs built with the real encoders, in the layouts of inputs.h, plus a few near misses and
// the regression inputs of what the fuzzer found.
// Deterministic; run it after changing a layout and commit the result:
//   build/fuzz/tests/fuzz/fuzz_make_seeds tests/fuzz
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "inputs.h"
#include "pbx/hal/postboxd/protocol.h"
#include "pbx/hal/types.h"
#include "pbx/ivshmem_server/protocol.h"
#include "wire.h"

namespace {

using namespace pbx;
using namespace pbx::fuzz;
namespace fs = std::filesystem;

fs::path root;
int written = 0;

void write_input(const fs::path& dir, const std::string& name, const ByteWriter& w) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(w.bytes().data()), static_cast<std::streamsize>(w.bytes().size()));
  if (!out) {
    std::fprintf(stderr, "fuzz_make_seeds: cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
  ++written;
}

void seed(const std::string& target, const std::string& name, const ByteWriter& w) {
  write_input(root / "corpus" / target, name, w);
}

// ---- fuzz_indicator ----------------------------------------------------------------------

constexpr IndicatorInput::Limits kDefaults{1024, 8ull << 20, 4, 256ull << 10, 49, 1ull << 30, 64u << 10};  // Config's
constexpr uint8_t kCheck = wire::check_byte(300, 8);  // sequence 300 of a 256-slot postbox

IndicatorInput line_of(const uint64_t (&words)[8], const IndicatorInput::Limits& lim = kDefaults) {
  IndicatorInput in;
  for (size_t i = 0; i < 8; ++i) in.words[i] = words[i];
  in.check = kCheck;
  in.choose(lim);
  return in;
}

void indicator_seed(const std::string& name, const IndicatorInput& in) {
  ByteWriter w;
  in.write(w);
  seed("fuzz_indicator", name, w);
}

void inline_seed(const std::string& name, size_t n) {
  unsigned char payload[wire::kInlineCapacity];
  for (size_t i = 0; i < n; ++i) payload[i] = static_cast<unsigned char>('a' + i % 26);
  uint64_t w[8] = {};
  wire::pack_inline_line(payload, n, 0, w, kCheck);
  w[0] = wire::encode_header({wire::Kind::kInline, 0, static_cast<uint8_t>(n), 7}, kCheck);
  indicator_seed(name, line_of(w));
}

void indicator_seeds() {
  inline_seed("inline-0", 0);
  inline_seed("inline-5", 5);
  inline_seed("inline-49", 49);
  const auto c = [](uint64_t v) { return wire::checked(v, kCheck); };
  {
    const uint64_t w[8] = {wire::encode_header({wire::Kind::kPool, 0, 0, 9}, kCheck), c(4096 / 64), c(1000), c(0)};
    indicator_seed("pool-1000", line_of(w));
  }
  {
    const uint64_t w[8] = {wire::encode_header({wire::Kind::kPool, wire::flag::kAckNow, 0, 9}, kCheck), c(0),
                           c(256 << 10), c(wire::kChecksumPresent | 0x1234abcd)};
    indicator_seed("pool-cts-checksum-acknow", line_of(w));
  }
  // A 1 MiB message in 64 KiB pieces: the first and the last.
  {
    const uint64_t w[8] = {wire::encode_header({wire::Kind::kPiece, 0, 0, 11}, kCheck), c(0), c(64 << 10), c(0),
                           c(1 << 20), c(0)};
    indicator_seed("piece-first", line_of(w));
  }
  {
    const uint64_t w[8] = {wire::encode_header({wire::Kind::kPiece, wire::flag::kLastPiece, 0, 11}, kCheck),
                           c((64 << 10) / 64), c(64 << 10), c((1 << 20) - (64 << 10)), c(1 << 20), c(0)};
    indicator_seed("piece-last", line_of(w));
  }
  {
    // An inline message whose fourth word still holds the previous lap: not yet.
    unsigned char payload[30] = {};
    uint64_t w[8] = {};
    wire::pack_inline_line(payload, sizeof payload, 0, w, kCheck);
    w[0] = wire::encode_header({wire::Kind::kInline, 0, 30, 1}, kCheck);
    w[3] = wire::checked(w[3], wire::check_byte(300 - 256, 8));
    indicator_seed("inline-half-landed", line_of(w));
  }
  {
    const uint64_t w[8] = {wire::encode_header({static_cast<wire::Kind>(5), 0, 0, 0}, kCheck)};
    indicator_seed("bad-kind", line_of(w));
  }
  {
    // The smallest pool, block and CTS Config accepts, and a pool message that fills the CTS.
    const IndicatorInput::Limits small{64, 64u << 10, 1, 64, 0, 64, 4u << 10};
    const uint64_t w[8] = {wire::encode_header({wire::Kind::kPool, 0, 0, 0}, kCheck), c(0), c(64), c(0)};
    indicator_seed("small-limits-pool", line_of(w, small));
  }
  {
    // A ring message at the end of the smallest ring, and one that runs one line past it.
    const IndicatorInput::Limits small{64, 64u << 10, 1, 64, 0, 64, 4u << 10};
    const uint64_t w[8] = {wire::encode_header({wire::Kind::kRing, 0, 0, 0}, kCheck), c((4096 - 128) / 64), c(128),
                           c(0)};
    indicator_seed("ring-at-end", line_of(w, small));
    const uint64_t past[8] = {wire::encode_header({wire::Kind::kRing, 0, 0, 0}, kCheck), c((4096 - 64) / 64), c(128),
                              c(0)};
    indicator_seed("ring-past-end", line_of(past, small));
  }
}

// Messages above max_message (the fuzzer found that decode_indicator once checked it for pieces
// only): kept as regression seeds.
void indicator_above_max_message() {
  const fs::path dir = root / "corpus" / "fuzz_indicator";
  const auto c = [](uint64_t v) { return wire::checked(v, kCheck); };
  ByteWriter w;
  {
    // Config's defaults but max_message = 1000: a 2000-byte pool message at pool offset 4096.
    IndicatorInput::Limits lim = kDefaults;
    lim.max_message = 1000;
    const uint64_t words[8] = {wire::encode_header({wire::Kind::kPool, 0, 0, 1}, kCheck), c(4096 / 64), c(2000), c(0)};
    line_of(words, lim).write(w);
    write_input(dir, "pool-above-max-message", w);
  }
  {
    // Config's defaults but max_message = 16: a 40-byte inline message.
    IndicatorInput::Limits lim = kDefaults;
    lim.max_message = 16;
    unsigned char payload[40] = {};
    uint64_t words[8] = {};
    wire::pack_inline_line(payload, sizeof payload, 0, words, kCheck);
    words[0] = wire::encode_header({wire::Kind::kInline, 0, sizeof payload, 1}, kCheck);
    ByteWriter v;
    line_of(words, lim).write(v);
    write_input(dir, "inline-above-max-message", v);
  }
}

// ---- fuzz_ack, fuzz_presence -------------------------------------------------------------

void ack_seed(const std::string& name, uint64_t count, uint64_t word_epoch, uint64_t epoch, uint64_t released,
              uint64_t head) {
  ByteWriter w;
  AckInput{wire::ack_word(count, word_epoch), epoch, released, head, 0}.write(w);
  seed("fuzz_ack", name, w);
}

void ack_seeds() {
  ack_seed("ok", 10, 3, 3, 5, 20);
  ack_seed("ok-at-head", 20, 3, 3, 5, 20);
  ack_seed("stale-epoch", 10, 2, 3, 5, 20);
  ack_seed("bad-backwards", 4, 3, 3, 5, 20);
  ack_seed("bad-past-head", 21, 3, 3, 5, 20);
}

void presence_seed(const std::string& name, const PresenceInput& in) {
  ByteWriter w;
  in.write(w);
  seed("fuzz_presence", name, w);
}

void presence_seeds() {
  const PresenceInput up{wire::kPresenceMagic, 0x1234567890abcdefull, wire::presence::kUp, 0xf1f2, 4242, 17, 100, 0};
  presence_seed("up", up);
  PresenceInput p = up;
  p.state = wire::presence::kGone;
  presence_seed("gone", p);
  p = up;
  p.magic = 0;
  presence_seed("no-magic", p);
  p = up;
  p.incarnation = 0;
  presence_seed("no-incarnation", p);
  p = up;
  p.state = 3;
  presence_seed("unknown-state", p);
}

// ---- fuzz_postboxd_protocol --------------------------------------------------------------

namespace pd = pbx::hal::postboxd;

void postboxd_seed(const std::string& name, uint8_t fds, const std::vector<std::byte>& message) {
  ByteWriter w;
  PostboxdInput{fds, message}.write(w);
  seed("fuzz_postboxd_protocol", name, w);
}

pd::Identity identity(uint16_t nodes) {
  pd::Identity id;
  id.self = 0;
  id.node_count = nodes;
  id.spad_count = 16;
  id.fd_count = 3;
  id.db_valid_mask = 0xffff;
  id.window_size = 2u << 20;
  id.status_size = 8192;
  id.backend = "ntb";
  id.name = "0000:af:00.0";
  for (uint16_t k = 0; k < nodes; ++k) {
    id.outbound.push_back(pd::WireWindow{1, static_cast<uint8_t>(hal::MemType::kWriteCombining), 0, 0,
                                         uint64_t{k} * (2u << 20), 2u << 20});
    id.inbound.push_back(pd::WireWindow{2, 0, 1, 0, uint64_t{k} * (2u << 20), 2u << 20});
  }
  return id;
}

void postboxd_seeds() {
  postboxd_seed("welcome-2-nodes", 3, pd::encode_welcome(identity(2)));
  postboxd_seed("welcome-1-node", 3, pd::encode_welcome(identity(1)));
  postboxd_seed("welcome-64-nodes", 3, pd::encode_welcome(identity(64)));
  postboxd_seed("reply-value", 0, pd::encode_status(pd::MsgType::kReply, uint64_t{0xdeadbeef}));
  postboxd_seed("reply-error", 0,
                pd::encode_status(pd::MsgType::kReply, tl::unexpected(Error(Errc::kLinkDown, "link down"))));
  postboxd_seed("refused", 0,
                pd::encode_status(pd::MsgType::kRefused,
                                  tl::unexpected(Error(Errc::kPermissionDenied, "join group postbox"))));
  pd::Hello hello{pd::header(pd::MsgType::kHello, sizeof(pd::Hello)), 1234, 0};
  postboxd_seed("hello", 0, pd::encode(hello));
  for (uint16_t op = 1; op <= 5; ++op) {
    pd::Request r{pd::header(pd::MsgType::kRequest, sizeof(pd::Request)), op, 1, 3, 0, 0x55};
    postboxd_seed("request-op" + std::to_string(op), 0, pd::encode(r));
  }
  auto old = pd::encode(hello);
  old[4] = std::byte{2};  // version 2
  postboxd_seed("hello-version-2", 0, old);
}

// ---- fuzz_ivshmem_protocol ---------------------------------------------------------------

namespace ivs = pbx::ivshmem_server;

void ivshmem_seed(const std::string& name, const IvshmemScript& in) { seed("fuzz_ivshmem_protocol", name, in.out); }

// What pbx-ivshmem-server sends a new peer `id` with `vectors` vectors (protocol.h).
IvshmemScript handshake(int64_t id, uint32_t vectors) {
  IvshmemScript in(vectors);
  in.message(ivs::kProtocolVersion).message(id).message(ivs::kShmMessage, 1);
  for (uint32_t v = 0; v < vectors; ++v) in.message(id, 1);
  return in;
}

void ivshmem_seeds() {
  ivshmem_seed("handshake-1-vector", handshake(0, 1));
  IvshmemScript two = handshake(3, 2);
  two.message(5, 1).message(5, 1).message(5);  // peer 5 comes with both vectors, then leaves
  ivshmem_seed("handshake-2-vectors-peer-comes-and-goes", two);
  {
    // Peers already there come before our own vectors (step 4).
    IvshmemScript in(1);
    in.message(ivs::kProtocolVersion).message(2).message(ivs::kShmMessage, 1).message(0, 1).message(1, 1);
    in.message(2, 1);
    ivshmem_seed("handshake-with-peers-first", in);
  }
  {
    // The version in two writes of 3 and 5 bytes.
    IvshmemScript in(1);
    const int64_t zero = 0;
    const auto* b = reinterpret_cast<const uint8_t*>(&zero);
    in.chunk({b, 3}).chunk({b + 3, 5}).message(1).message(ivs::kShmMessage, 1).message(1, 1);
    ivshmem_seed("value-cut-in-two", in);
  }
  {
    IvshmemScript in(1);
    in.message(ivs::kProtocolVersion).message(1).message(ivs::kShmMessage, 2);
    ivshmem_seed("shm-with-two-fds", in);
  }
  {
    IvshmemScript in(1);
    in.message(1);
    ivshmem_seed("version-1", in);
  }
}

// ---- fuzz_spad_handshake -----------------------------------------------------------------

void spad_seeds() {
  using hal::SpadHandshake;
  const hal::OwnSpads own{512, 2, 0xa0a0a001};
  const hal::PeerSpads good{SpadHandshake::kMagic, SpadHandshake::kVersion, 512, 2, 0xb0b0b001, 0xa0a0a001};
  auto spad_seed = [&](const std::string& name, const hal::PeerSpads& peer, auto&& script) {
    ByteWriter w;
    SpadJudgeInput{peer, own, 0}.write(w);
    script(w);
    seed("fuzz_spad_handshake", name, w);
  };
  auto nothing = [](ByteWriter&) {};
  spad_seed("judge-acked", good, nothing);
  hal::PeerSpads p = good;
  p.window_pages = 1024;
  spad_seed("judge-mismatch", p, nothing);

  // Two real handshakes bring the link up, then the link bounces, the peer restarts, leaves.
  spad_seed("bring-up-bounce-restart", good, [](ByteWriter& w) {
    SpadScript s(w, 0xa0a0a001, 0xb0b0b001, false);
    s.op(SpadOp::kPeerSteps).op(SpadOp::kPeerSteps).op(SpadOp::kPeerSteps);
    s.op(SpadOp::kLinkBounce).op(SpadOp::kPeerSteps).op(SpadOp::kPeerSteps);
    s.announce(0xc0c0c001, false).op(SpadOp::kPeerSteps);
    s.poke(SpadHandshake::kSpadEpoch, 0).op(SpadOp::kPeerSteps);
  });
  // An announcement written by hand, acknowledged; then a device reset and a time-out.
  spad_seed("hand-announce-reset-timeout", good, [](ByteWriter& w) {
    SpadScript s(w, 0xa0a0a001, 0xb0b0b001, false);
    s.announce(0x0badcafe, true).op(SpadOp::kReset).advance_ms(1500).advance_ms(31000).advance_ms(31000);
  });
  // A peer with another window size: a mismatch; the link goes down and up; node 0 leaves.
  spad_seed("mismatch-link-toggle-leave", good, [](ByteWriter& w) {
    SpadScript s(w, 0xa0a0a001, 0xb0b0b001, true);
    s.op(SpadOp::kPeerSteps).op(SpadOp::kPeerSteps).op(SpadOp::kLinkToggle).advance_ms(40000);
    s.op(SpadOp::kLinkToggle).op(SpadOp::kPeerSteps).op(SpadOp::kLeave).op(SpadOp::kPeerSteps);
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FUZZ_DIR   (tests/fuzz: writes corpus/)\n", argv[0]);
    return 2;
  }
  root = argv[1];
  indicator_seeds();
  indicator_above_max_message();
  ack_seeds();
  presence_seeds();
  postboxd_seeds();
  ivshmem_seeds();
  spad_seeds();
  std::printf("fuzz_make_seeds: %d inputs under %s\n", written, root.c_str());
  return 0;
}
