// The postboxd protocol: what the node manager and its clients say over the Unix socket.
//
// A SOCK_SEQPACKET socket (message boundaries, in order, EOF when either side goes), one
// connection per client process, both ends on one host (native byte order, fixed layouts):
//
//   client                         postboxd
//   Hello{version, pid}      ->
//                            <-    Welcome{identity, windows} + SCM_RIGHTS fds
//                                  (fd 0: the status page; then the window files)
//                            <-    or Refused{errc, text}, then the daemon closes
//   Request{op, peer, idx, value} ->
//                            <-    Reply{errc, value, text}        (one at a time)
//
// The data path never crosses this socket: clients map their windows from the fds. Link state
// is in the status page (pbx/hal/postboxd/status_page.h), read without asking the daemon.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "pbx/base/error.h"
#include "pbx/hal/types.h"

namespace pbx::hal::postboxd {

inline constexpr uint32_t kMagic = 0x44584250;  // "PBXD"
inline constexpr uint16_t kVersion = 1;
inline constexpr const char* kDefaultSocket = "/run/postbox/postboxd.sock";
inline constexpr size_t kMaxFds = 250;             // below the kernel's SCM_MAX_FD (253)
inline constexpr size_t kMaxMessage = 16 * 1024;   // the largest Welcome (64 nodes) fits
inline constexpr size_t kMaxText = 1024;           // error texts are cut to this

enum class MsgType : uint16_t { kHello = 1, kWelcome, kRefused, kRequest, kReply };

struct MsgHeader {
  uint32_t magic;    // kMagic
  uint16_t version;  // kVersion
  uint16_t type;     // MsgType
  uint32_t size;     // of the whole message, header included
  uint32_t reserved;
};
static_assert(sizeof(MsgHeader) == 16 && std::is_trivially_copyable_v<MsgHeader>);

struct Hello {
  MsgHeader h;
  uint32_t pid;
  uint32_t reserved;
};
static_assert(sizeof(Hello) == 24);

// One window as a client maps it: fds[fd_index] at offset, length bytes.
struct WireWindow {
  uint32_t fd_index;
  uint8_t mem_type;  // hal::MemType
  uint8_t sparse;    // 1: commit ranges with fallocate() before storing
  uint16_t reserved;
  uint64_t offset;
  uint64_t length;
};
static_assert(sizeof(WireWindow) == 24 && offsetof(WireWindow, offset) == 8);

// Followed by node_count x {outbound, inbound} WireWindow, node by node.
struct Welcome {
  MsgHeader h;
  uint16_t self;
  uint16_t node_count;
  uint16_t spad_count;
  uint16_t fd_count;      // fds sent with this message; fd 0 is the status page
  uint64_t db_valid_mask;
  uint64_t window_size;
  uint64_t status_size;   // bytes of the status page file
  char backend[32];       // NUL-terminated
  char name[64];          // NUL-terminated
};
static_assert(sizeof(Welcome) == 144 && offsetof(Welcome, db_valid_mask) == 24);

// Followed by `text_len` bytes of text (no NUL). Used by Refused and Reply.
struct Status {
  MsgHeader h;
  uint32_t errc;      // 0: success; else pbx::Errc
  uint32_t text_len;
  uint64_t value;     // Reply: the result (spad value, doorbell bits)
};
static_assert(sizeof(Status) == 32);

enum class Op : uint16_t { kSpadRead = 1, kPeerSpadWrite, kPeerDbSet, kDbRead, kDbClear };

struct Request {
  MsgHeader h;
  uint16_t op;    // Op
  uint16_t peer;  // NodeIdx
  uint16_t idx;   // SpadIdx (scratchpad ops)
  uint16_t reserved;
  uint64_t value;  // spad value, doorbell bits
};
static_assert(sizeof(Request) == 32);

// ---- encoding (both sides) ---------------------------------------------------------------

inline MsgHeader header(MsgType t, size_t size) {
  return MsgHeader{kMagic, kVersion, static_cast<uint16_t>(t), static_cast<uint32_t>(size), 0};
}

template <class T>
std::vector<std::byte> encode(const T& msg) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::vector<std::byte> out(sizeof msg);
  std::memcpy(out.data(), &msg, sizeof msg);
  return out;
}

// A Refused or Reply with its text.
std::vector<std::byte> encode_status(MsgType t, const Result<uint64_t>& r);

// What a client needs from a Welcome, checked.
struct Identity {
  uint16_t self = 0, node_count = 0, spad_count = 0, fd_count = 0;
  uint64_t db_valid_mask = 0, window_size = 0, status_size = 0;
  std::string backend, name;
  std::vector<WireWindow> outbound, inbound;  // index = node
};
std::vector<std::byte> encode_welcome(const Identity& id);

// Checks the header of a received message: magic, version, type, size. `what` names the
// sender in messages ("postboxd at /run/postbox/postboxd.sock").
[[nodiscard]] Result<MsgType> check_header(std::span<const std::byte> msg, std::string_view what);

// Decoders: every count, index and length is checked against the message; errors say what.
[[nodiscard]] Result<Identity> decode_welcome(std::span<const std::byte> msg, size_t fds_received,
                                              std::string_view what);
// Reply or Refused -> the value, or the error it carries.
[[nodiscard]] Result<uint64_t> decode_status(std::span<const std::byte> msg, std::string_view what);
[[nodiscard]] Result<Request> decode_request(std::span<const std::byte> msg);
[[nodiscard]] Result<Hello> decode_hello(std::span<const std::byte> msg);

}  // namespace pbx::hal::postboxd
