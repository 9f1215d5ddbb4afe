// libFuzzer target: every decoder of postboxd's socket protocol (protocol.h: check_header,
// decode_welcome, decode_status, decode_request, decode_hello) on the same received datagram
// (inputs.h: PostboxdInput). They must never crash or read outside the message (it is a heap
// buffer of exactly its size, so ASan sees any byte past it), never accept a message shorter
// than its fixed part, and accept only what the code after them relies on: abort() otherwise.
#include <cstdint>
#include <cstring>
#include <string_view>

#include "inputs.h"
#include "pbx/base/error.h"
#include "pbx/hal/postboxd/protocol.h"
#include "pbx/hal/types.h"
#include "support.h"

namespace {

using namespace pbx;
using namespace pbx::hal::postboxd;

// The sender's name goes into error texts as a %s argument: conversions in it must stay text.
constexpr std::string_view kWho = "postboxd at /fuzz %s%n%s";

MsgHeader header_of(const std::vector<std::byte>& m) {
  MsgHeader h;
  std::memcpy(&h, m.data(), sizeof h);
  return h;
}

void check_header_result(const std::vector<std::byte>& m) {
  auto t = check_header(m, kWho);
  if (!t) {
    PBX_FUZZ_CHECK(!t.error().message().empty());
    return;
  }
  PBX_FUZZ_CHECK(m.size() >= sizeof(MsgHeader));
  const MsgHeader h = header_of(m);
  PBX_FUZZ_CHECK(h.magic == kMagic && h.version == kVersion && h.size == m.size());
  PBX_FUZZ_CHECK(static_cast<uint16_t>(*t) == h.type && h.type >= 1 && h.type <= 5);
}

bool same_window(const WireWindow& a, const WireWindow& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void check_welcome(const std::vector<std::byte>& m, size_t fds) {
  auto id = decode_welcome(m, fds, kWho);
  if (!id) {
    PBX_FUZZ_CHECK(!id.error().message().empty());
    return;
  }
  PBX_FUZZ_CHECK(m.size() >= sizeof(Welcome));
  PBX_FUZZ_CHECK(header_of(m).type == static_cast<uint16_t>(MsgType::kWelcome));
  PBX_FUZZ_CHECK(id->node_count >= 1 && id->node_count <= 64 && id->self < id->node_count);
  PBX_FUZZ_CHECK(m.size() == sizeof(Welcome) + size_t{id->node_count} * 2 * sizeof(WireWindow));
  // The client maps fds[fd_index]: fd 0 is the status page, every index one that arrived.
  PBX_FUZZ_CHECK(id->fd_count == fds && id->fd_count >= 1);
  PBX_FUZZ_CHECK(id->outbound.size() == id->node_count && id->inbound.size() == id->node_count);
  for (const auto* dir : {&id->outbound, &id->inbound}) {
    for (const WireWindow& w : *dir) {
      PBX_FUZZ_CHECK(w.fd_index >= 1 && w.fd_index < id->fd_count);
      PBX_FUZZ_CHECK(w.length != 0 && w.length == id->window_size && w.offset % 4096 == 0);
      PBX_FUZZ_CHECK(w.mem_type <= static_cast<uint8_t>(hal::MemType::kUncached));
    }
  }
  // The names are read within their fields and stop at the first NUL.
  PBX_FUZZ_CHECK(id->backend.size() <= sizeof(Welcome::backend) && id->name.size() <= sizeof(Welcome::name));
  PBX_FUZZ_CHECK(id->backend.find('\0') == std::string::npos && id->name.find('\0') == std::string::npos);

  // What was accepted encodes to a Welcome that decodes to the same identity (names cut to
  // what fits with a NUL, as the daemon writes them).
  auto again = decode_welcome(encode_welcome(*id), fds, kWho);
  PBX_FUZZ_CHECK(again.has_value());
  PBX_FUZZ_CHECK(again->self == id->self && again->node_count == id->node_count &&
                 again->spad_count == id->spad_count && again->fd_count == id->fd_count &&
                 again->db_valid_mask == id->db_valid_mask && again->window_size == id->window_size &&
                 again->status_size == id->status_size);
  PBX_FUZZ_CHECK(again->backend == id->backend.substr(0, sizeof(Welcome::backend) - 1));
  PBX_FUZZ_CHECK(again->name == id->name.substr(0, sizeof(Welcome::name) - 1));
  for (size_t k = 0; k < id->node_count; ++k)
    PBX_FUZZ_CHECK(same_window(again->outbound[k], id->outbound[k]) && same_window(again->inbound[k], id->inbound[k]));
}

void check_status(const std::vector<std::byte>& m) {
  auto v = decode_status(m, kWho);
  PBX_FUZZ_CHECK(v.has_value() || !v.error().message().empty());
  if (m.size() < sizeof(Status)) {
    PBX_FUZZ_CHECK(!v.has_value());
    return;
  }
  if (!check_header(m, kWho)) {
    PBX_FUZZ_CHECK(!v.has_value());
    return;
  }
  Status s;
  std::memcpy(&s, m.data(), sizeof s);
  const bool reply = s.h.type == static_cast<uint16_t>(MsgType::kReply);
  const bool refused = s.h.type == static_cast<uint16_t>(MsgType::kRefused);
  const bool well_formed = (reply || refused) && m.size() == sizeof(Status) + size_t{s.text_len};
  if (v.has_value()) {
    // Only a well-formed Reply of success carries a value; a refusal never does.
    PBX_FUZZ_CHECK(well_formed && reply && s.errc == 0 && *v == s.value);
    return;
  }
  if (!well_formed) {
    PBX_FUZZ_CHECK(v.error().code() == Errc::kProtocolError || v.error().code() == Errc::kConfigMismatch);
    return;
  }
  // The error the daemon sent: its own code when this program knows it (errc_name() names
  // every Errc), else a protocol error; a refusal without a code is a permission refusal.
  const uint32_t errc = refused && s.errc == 0 ? static_cast<uint32_t>(Errc::kPermissionDenied) : s.errc;
  const bool known = errc >= 1 && errc <= 0xff && std::strcmp(errc_name(static_cast<Errc>(errc)), "unknown") != 0;
  PBX_FUZZ_CHECK(v.error().code() == (known ? static_cast<Errc>(errc) : Errc::kProtocolError));
}

void check_request(const std::vector<std::byte>& m) {
  auto r = decode_request(m);
  if (!r) {
    PBX_FUZZ_CHECK(!r.error().message().empty());
    return;
  }
  PBX_FUZZ_CHECK(m.size() == sizeof(Request));
  PBX_FUZZ_CHECK(r->h.type == static_cast<uint16_t>(MsgType::kRequest));
  PBX_FUZZ_CHECK(r->op >= static_cast<uint16_t>(hal::postboxd::Op::kSpadRead) &&
                 r->op <= static_cast<uint16_t>(hal::postboxd::Op::kDbClear));
  PBX_FUZZ_CHECK(std::memcmp(encode(*r).data(), m.data(), m.size()) == 0);
}

void check_hello(const std::vector<std::byte>& m) {
  auto h = decode_hello(m);
  if (!h) {
    PBX_FUZZ_CHECK(!h.error().message().empty());
    return;
  }
  PBX_FUZZ_CHECK(m.size() == sizeof(Hello));
  PBX_FUZZ_CHECK(h->h.type == static_cast<uint16_t>(MsgType::kHello));
  PBX_FUZZ_CHECK(std::memcmp(encode(*h).data(), m.data(), m.size()) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::ByteReader r(data, size);
  const fuzz::PostboxdInput in = fuzz::PostboxdInput::read(r);
  const std::vector<std::byte>& m = in.message;  // exactly m.size() bytes on the heap
  check_header_result(m);
  check_welcome(m, in.fds_received);
  check_status(m);
  check_request(m);
  check_hello(m);
  return 0;
}
