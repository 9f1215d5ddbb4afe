#include "errors.h"

#include <cstdio>
#include <cstring>

namespace pbx::fabric {

const char* provider_strerror(int prov_errno, const void* err_data, char* buf, size_t len) noexcept {
  const char* text = nullptr;
  char generic[96];
  if (err_data != nullptr) {
    text = static_cast<const char*>(err_data);
  } else {
    switch (prov_errno) {
      case kProvTruncated: text = "postbox: the message was longer than the receive buffer (the rest was dropped)"; break;
      case kProvCancelled: text = "postbox: the receive was cancelled (fi_cancel)"; break;
      case kProvNoMatch: text = "postbox: no message matched the FI_PEEK request"; break;
      case kProvLost: text = "postbox: messages were lost after their sends completed (the link went down or the receiver died)"; break;
      default:
        if (prov_errno > 0 && prov_errno < 256) {
          std::snprintf(generic, sizeof generic, "postbox: %s", errc_name(static_cast<Errc>(prov_errno)));
          text = generic;
        } else {
          text = "postbox: unknown provider error";
        }
    }
  }
  if (buf == nullptr || len == 0) return text == generic ? "postbox: provider error" : text;
  std::snprintf(buf, len, "%s", text);
  return buf;
}

}  // namespace pbx::fabric
