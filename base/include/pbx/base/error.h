// Error values shared by every layer (driver, hal, libpostbox, tools).
//
// One convention throughout: a call that can fail returns Result<T>. The error carries a code
// a program can branch on and a message a person can act on ("what failed, why, what to do").
// Hot-path errors (would_block, a full postbox) carry only a code and never allocate; the
// default text for the code is produced when message() is called.
#pragma once

#include <cstdarg>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include <tl/expected.hpp>

namespace pbx {

enum class Errc : uint8_t {
  kInvalidArgument = 1,  // a bad option, config field, job shape, rank or size
  kMessageTooLarge,      // above the configured maximum message size
  kBufferTooSmall,       // the receive buffer cannot hold the pending message (nothing consumed)
  kWouldBlock,           // non-blocking call: no message, or no room yet (retry later)
  kTimedOut,             // a blocking call gave up; the message says on whom it was waiting
  kPeerNotUp,            // a peer process or node never came up
  kPeerGone,             // a peer process left the job
  kLinkDown,             // the link to a peer node is down
  kProtocolError,        // a peer wrote something malformed into shared memory
  kConfigMismatch,       // peers were started with different postbox configurations
  kNoDevice,             // no such device / file / node
  kPermissionDenied,     // missing permission on a device file or shared memory
  kNoMemory,             // out of memory, hugepages or window space
  kNotSupported,         // the backend or device cannot do this
  kBusy,                 // the resource is held by someone else
  kIoError,              // a system call failed for another reason (errno in the message)
  kCancelled,            // the operation was abandoned (for example a message cut short)
  kDataCorrupt,          // a message's payload failed its checksum (that message is dropped)
};

// Short stable name of a code ("would_block"), for logs and the C API.
const char* errc_name(Errc c) noexcept;

class Error {
 public:
  Error(Errc code) noexcept : code_(code) {}  // NOLINT(google-explicit-constructor): hot path
  Error(Errc code, std::string message) : code_(code), message_(std::move(message)) {}
  Error(Errc code, int sys_errno, std::string message)
      : code_(code), errno_(sys_errno), message_(std::move(message)) {}

  Errc code() const noexcept { return code_; }
  int sys_errno() const noexcept { return errno_; }
  // The full message; a default text for the code when none was given.
  std::string message() const;

  bool operator==(Errc c) const noexcept { return code_ == c; }

 private:
  Errc code_;
  int errno_ = 0;
  std::string message_;
};

template <class T>
using Result = tl::expected<T, Error>;

// Builds an error with a printf-style message (cold path).
[[gnu::format(printf, 2, 3)]] Error make_error(Errc code, const char* fmt, ...);
// The same, ready to return from a function returning Result<T>.
[[gnu::format(printf, 2, 3)]] tl::unexpected<Error> fail(Errc code, const char* fmt, ...);
// Same, for a failed system call: appends ": <strerror(err)>" and maps errno to a code.
[[gnu::format(printf, 2, 3)]] tl::unexpected<Error> fail_errno(int err, const char* fmt, ...);
// Maps an errno value to the closest code.
Errc errc_from_errno(int err) noexcept;
// Prefixes the message of an error with context ("open job 'x': ...").
Error with_context(Error e, std::string_view context);

}  // namespace pbx
