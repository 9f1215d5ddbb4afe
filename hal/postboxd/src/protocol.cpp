#include <algorithm>
#include <cstdio>

#include "pbx/hal/postboxd/protocol.h"

namespace pbx::hal::postboxd {

namespace {

template <class T>
T load(std::span<const std::byte> msg) {
  T v;
  std::memcpy(&v, msg.data(), sizeof v);
  return v;
}

void copy_name(char (&dst)[32], const std::string& s) { std::snprintf(dst, sizeof dst, "%s", s.c_str()); }
void copy_name(char (&dst)[64], const std::string& s) { std::snprintf(dst, sizeof dst, "%s", s.c_str()); }

template <size_t N>
std::string read_name(const char (&src)[N]) {
  return std::string(src, strnlen(src, N));
}

const char* type_name(MsgType t) {
  switch (t) {
    case MsgType::kHello: return "Hello";
    case MsgType::kWelcome: return "Welcome";
    case MsgType::kRefused: return "Refused";
    case MsgType::kRequest: return "Request";
    case MsgType::kReply: return "Reply";
  }
  return "?";
}

}  // namespace

std::vector<std::byte> encode_status(MsgType t, const Result<uint64_t>& r) {
  std::string text;
  Status s{};
  if (r) {
    s.value = *r;
  } else {
    s.errc = static_cast<uint32_t>(r.error().code());
    text = r.error().message();
    if (text.size() > kMaxText) text.resize(kMaxText);
  }
  s.text_len = static_cast<uint32_t>(text.size());
  s.h = header(t, sizeof s + text.size());
  std::vector<std::byte> out(sizeof s + text.size());
  std::memcpy(out.data(), &s, sizeof s);
  std::memcpy(out.data() + sizeof s, text.data(), text.size());
  return out;
}

std::vector<std::byte> encode_welcome(const Identity& id) {
  Welcome w{};
  w.self = id.self;
  w.node_count = id.node_count;
  w.spad_count = id.spad_count;
  w.fd_count = id.fd_count;
  w.db_valid_mask = id.db_valid_mask;
  w.window_size = id.window_size;
  w.status_size = id.status_size;
  copy_name(w.backend, id.backend);
  copy_name(w.name, id.name);
  const size_t size = sizeof w + size_t{id.node_count} * 2 * sizeof(WireWindow);
  w.h = header(MsgType::kWelcome, size);
  std::vector<std::byte> out(size);
  std::memcpy(out.data(), &w, sizeof w);
  std::byte* p = out.data() + sizeof w;
  for (uint16_t k = 0; k < id.node_count; ++k) {
    std::memcpy(p, &id.outbound[k], sizeof(WireWindow));
    std::memcpy(p + sizeof(WireWindow), &id.inbound[k], sizeof(WireWindow));
    p += 2 * sizeof(WireWindow);
  }
  return out;
}

Result<MsgType> check_header(std::span<const std::byte> msg, std::string_view what) {
  const std::string who(what);
  if (msg.size() < sizeof(MsgHeader))
    return fail(Errc::kProtocolError, "%s sent a %zu-byte message, shorter than a header", who.c_str(), msg.size());
  const auto h = load<MsgHeader>(msg);
  if (h.magic != kMagic)
    return fail(Errc::kProtocolError, "%s does not speak the postboxd protocol (magic 0x%08x)", who.c_str(), h.magic);
  if (h.version != kVersion)
    return fail(Errc::kConfigMismatch,
                "%s speaks postboxd protocol version %u, this program version %u: run the same postbox version for "
                "the daemon and its clients",
                who.c_str(), h.version, kVersion);
  if (h.size != msg.size())
    return fail(Errc::kProtocolError, "%s sent a message of %zu bytes that says it has %u", who.c_str(), msg.size(),
                h.size);
  if (h.type < static_cast<uint16_t>(MsgType::kHello) || h.type > static_cast<uint16_t>(MsgType::kReply))
    return fail(Errc::kProtocolError, "%s sent a message of unknown type %u", who.c_str(), h.type);
  return static_cast<MsgType>(h.type);
}

Result<Identity> decode_welcome(std::span<const std::byte> msg, size_t fds_received, std::string_view what) {
  const std::string who(what);
  auto t = check_header(msg, what);
  if (!t) return tl::unexpected(t.error());
  if (*t == MsgType::kRefused) {
    auto r = decode_status(msg, what);
    if (!r) return tl::unexpected(r.error());
    return fail(Errc::kProtocolError, "%s refused this client without saying why", who.c_str());
  }
  if (*t != MsgType::kWelcome || msg.size() < sizeof(Welcome))
    return fail(Errc::kProtocolError, "%s answered Hello with a %s of %zu bytes", who.c_str(), type_name(*t),
                msg.size());
  const auto w = load<Welcome>(msg);
  Identity id;
  id.self = w.self;
  id.node_count = w.node_count;
  id.spad_count = w.spad_count;
  id.fd_count = w.fd_count;
  id.db_valid_mask = w.db_valid_mask;
  id.window_size = w.window_size;
  id.status_size = w.status_size;
  id.backend = read_name(w.backend);
  id.name = read_name(w.name);
  if (id.node_count == 0 || id.node_count > 64 || id.self >= id.node_count)
    return fail(Errc::kProtocolError, "%s announced node %u of %u nodes", who.c_str(), id.self, id.node_count);
  if (msg.size() != sizeof(Welcome) + size_t{id.node_count} * 2 * sizeof(WireWindow))
    return fail(Errc::kProtocolError, "%s sent a Welcome of %zu bytes for %u nodes", who.c_str(), msg.size(),
                id.node_count);
  if (id.fd_count == 0 || id.fd_count != fds_received)
    return fail(Errc::kProtocolError,
                "%s announced %u file descriptors but %zu arrived: raise this process's open-file limit (ulimit -n)",
                who.c_str(), id.fd_count, fds_received);
  const std::byte* p = msg.data() + sizeof(Welcome);
  for (uint16_t k = 0; k < id.node_count; ++k) {
    for (int dir = 0; dir < 2; ++dir) {
      WireWindow win;
      std::memcpy(&win, p, sizeof win);
      p += sizeof win;
      if (win.fd_index == 0 || win.fd_index >= id.fd_count || win.length == 0 || win.length != id.window_size ||
          win.mem_type > static_cast<uint8_t>(MemType::kUncached) || win.offset % 4096 != 0)
        return fail(Errc::kProtocolError, "%s described a bad %s window for node %u (fd %u of %u, %llu bytes at %llu)",
                    who.c_str(), dir == 0 ? "outbound" : "inbound", k, win.fd_index, id.fd_count,
                    static_cast<unsigned long long>(win.length), static_cast<unsigned long long>(win.offset));
      (dir == 0 ? id.outbound : id.inbound).push_back(win);
    }
  }
  return id;
}

Result<uint64_t> decode_status(std::span<const std::byte> msg, std::string_view what) {
  const std::string who(what);
  auto t = check_header(msg, what);
  if (!t) return tl::unexpected(t.error());
  if ((*t != MsgType::kReply && *t != MsgType::kRefused) || msg.size() < sizeof(Status))
    return fail(Errc::kProtocolError, "%s sent a %s where a reply was due", who.c_str(), type_name(*t));
  auto s = load<Status>(msg);
  if (sizeof(Status) + s.text_len != msg.size())
    return fail(Errc::kProtocolError, "%s sent a reply whose text length (%u) does not match its size (%zu)",
                who.c_str(), s.text_len, msg.size());
  std::string text(reinterpret_cast<const char*>(msg.data() + sizeof(Status)), s.text_len);  // NOLINT: bytes
  if (*t == MsgType::kRefused && s.errc == 0) s.errc = static_cast<uint32_t>(Errc::kPermissionDenied);
  if (s.errc == 0) return s.value;
  const uint32_t last = static_cast<uint32_t>(Errc::kDataCorrupt);  // the last code of base/error.h
  const Errc code = s.errc <= last ? static_cast<Errc>(s.errc) : Errc::kProtocolError;
  if (text.empty()) return tl::unexpected(Error(code));
  return tl::unexpected(Error(code, std::move(text)));
}

Result<Request> decode_request(std::span<const std::byte> msg) {
  auto t = check_header(msg, "the client");
  if (!t) return tl::unexpected(t.error());
  if (*t != MsgType::kRequest || msg.size() != sizeof(Request))
    return fail(Errc::kProtocolError, "the client sent a %s of %zu bytes where a Request was due", type_name(*t),
                msg.size());
  const auto r = load<Request>(msg);
  if (r.op < static_cast<uint16_t>(Op::kSpadRead) || r.op > static_cast<uint16_t>(Op::kDbClear))
    return fail(Errc::kProtocolError, "the client asked for unknown operation %u", r.op);
  return r;
}

Result<Hello> decode_hello(std::span<const std::byte> msg) {
  auto t = check_header(msg, "the client");
  if (!t) return tl::unexpected(t.error());
  if (*t != MsgType::kHello || msg.size() != sizeof(Hello))
    return fail(Errc::kProtocolError, "the client sent a %s of %zu bytes where Hello was due", type_name(*t),
                msg.size());
  return load<Hello>(msg);
}

}  // namespace pbx::hal::postboxd
