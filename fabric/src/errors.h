// postbox error codes as libfabric error numbers, and the provider-specific error number that
// completion and event queue error entries carry (prov_errno) with the text fi_cq_strerror
// returns for it.
#pragma once

#include <rdma/fi_errno.h>

#include "pbx/base/error.h"

namespace pbx::fabric {

// The libfabric error (positive FI_E* value) closest to a postbox error.
inline int fi_errno_of(Errc c) noexcept {
  switch (c) {
    case Errc::kWouldBlock: return FI_EAGAIN;
    case Errc::kPeerGone: return FI_EHOSTUNREACH;  // as efa reports an unreachable peer
    case Errc::kPeerNotUp: return FI_EHOSTUNREACH;
    case Errc::kLinkDown: return FI_EIO;
    case Errc::kDataCorrupt: return FI_ECRC;
    case Errc::kTimedOut: return FI_ETIMEDOUT;
    case Errc::kCancelled: return FI_ECANCELED;
    case Errc::kNoMemory: return FI_ENOMEM;
    case Errc::kMessageTooLarge: return FI_EMSGSIZE;
    case Errc::kInvalidArgument: return FI_EINVAL;
    case Errc::kNoDevice: return FI_ENODEV;
    case Errc::kPermissionDenied: return FI_EACCES;
    case Errc::kBusy: return FI_EBUSY;
    case Errc::kNotSupported: return FI_ENOSYS;
    case Errc::kProtocolError:
    case Errc::kConfigMismatch:
    case Errc::kIoError: return FI_EIO;
    case Errc::kBufferTooSmall: return FI_ETRUNC;
  }
  return FI_EOTHER;
}

// prov_errno of an error entry: the postbox code (1..), or one of the provider's own below.
enum ProvErrno : int {
  kProvTruncated = 1000,    // the message was longer than the receive buffer
  kProvCancelled = 1001,    // fi_cancel
  kProvNoMatch = 1002,      // FI_PEEK found no message
  kProvLost = 1003,         // postbox reported messages lost after their send completed
};

// fi_cq_strerror / fi_eq_strerror: the message of the error entry (its err_data, which the
// provider fills with a NUL-terminated text), else a text for prov_errno. Written into buf
// when one is given (and returned), else a static text is returned.
const char* provider_strerror(int prov_errno, const void* err_data, char* buf, size_t len) noexcept;

}  // namespace pbx::fabric
