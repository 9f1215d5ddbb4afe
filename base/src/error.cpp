#include "pbx/base/error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace pbx {

const char* errc_name(Errc c) noexcept {
  switch (c) {
    case Errc::kInvalidArgument: return "invalid_argument";
    case Errc::kMessageTooLarge: return "message_too_large";
    case Errc::kBufferTooSmall: return "buffer_too_small";
    case Errc::kWouldBlock: return "would_block";
    case Errc::kTimedOut: return "timed_out";
    case Errc::kPeerNotUp: return "peer_not_up";
    case Errc::kPeerGone: return "peer_gone";
    case Errc::kLinkDown: return "link_down";
    case Errc::kProtocolError: return "protocol_error";
    case Errc::kConfigMismatch: return "config_mismatch";
    case Errc::kNoDevice: return "no_device";
    case Errc::kPermissionDenied: return "permission_denied";
    case Errc::kNoMemory: return "no_memory";
    case Errc::kNotSupported: return "not_supported";
    case Errc::kBusy: return "busy";
    case Errc::kIoError: return "io_error";
    case Errc::kCancelled: return "cancelled";
    case Errc::kDataCorrupt: return "data_corrupt";
  }
  return "unknown";
}

namespace {
const char* default_text(Errc c) noexcept {
  switch (c) {
    case Errc::kWouldBlock:
      return "would block: no message is waiting, or the postbox or pool has no room yet; "
             "call again (progress is made by polling)";
    case Errc::kTimedOut: return "timed out";
    case Errc::kBufferTooSmall: return "the receive buffer is smaller than the pending message";
    case Errc::kLinkDown: return "the link to the peer node is down";
    default: return errc_name(c);
  }
}

std::string vformat(const char* fmt, va_list ap) {
  char buf[512];
  va_list copy;
  va_copy(copy, ap);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, copy);
  va_end(copy);
  if (n < 0) return fmt;
  if (static_cast<size_t>(n) < sizeof buf) return std::string(buf, static_cast<size_t>(n));
  std::string s(static_cast<size_t>(n), '\0');
  std::vsnprintf(s.data(), s.size() + 1, fmt, ap);
  return s;
}
}  // namespace

std::string Error::message() const {
  if (!message_.empty()) return message_;
  return default_text(code_);
}

Error make_error(Errc code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string msg = vformat(fmt, ap);
  va_end(ap);
  return Error(code, std::move(msg));
}

tl::unexpected<Error> fail(Errc code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string msg = vformat(fmt, ap);
  va_end(ap);
  return tl::unexpected<Error>(Error(code, std::move(msg)));
}

Errc errc_from_errno(int err) noexcept {
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO: return Errc::kNoDevice;
    case EACCES:
    case EPERM: return Errc::kPermissionDenied;
    case ENOMEM:
    case ENOSPC: return Errc::kNoMemory;
    case EBUSY: return Errc::kBusy;
    case EINVAL: return Errc::kInvalidArgument;
    case ETIMEDOUT: return Errc::kTimedOut;
    case EAGAIN: return Errc::kWouldBlock;
    case ENOTSUP: return Errc::kNotSupported;
    default: return Errc::kIoError;
  }
}

tl::unexpected<Error> fail_errno(int err, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string msg = vformat(fmt, ap);
  va_end(ap);
  msg += ": ";
  msg += std::strerror(err);
  return tl::unexpected<Error>(Error(errc_from_errno(err), err, std::move(msg)));
}

Error with_context(Error e, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += e.message();
  return Error(e.code(), e.sys_errno(), std::move(msg));
}

}  // namespace pbx
