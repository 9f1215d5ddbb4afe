#include "diag.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace pbx::vfio::detail {

Error sys_error(int err, const Bdf& bdf, std::string_view call, std::string_view fix) {
  std::string msg = bdf.str();
  msg += ": ";
  msg += call;
  msg += ": ";
  msg += std::strerror(err);
  if (!fix.empty()) {
    msg += "; ";
    msg += fix;
  }
  return Error(errc_from_errno(err), err, std::move(msg));
}

Error dev_error(Errc code, const Bdf& bdf, std::string_view call, std::string_view what) {
  std::string msg = bdf.str();
  msg += ": ";
  msg += call;
  msg += ": ";
  msg += what;
  return Error(code, std::move(msg));
}

std::string strf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  va_list copy;
  va_copy(copy, ap);
  const int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string s(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(s.data(), s.size() + 1, fmt, ap);
  va_end(ap);
  return s;
}

}  // namespace pbx::vfio::detail
