// Error values of the VFIO driver. Every message names the device, the call that failed and
// what to do about it:  "0000:00:04.0: open /dev/vfio/12: Permission denied; add the user ..."
#pragma once

#include <string>
#include <string_view>

#include "pbx/base/error.h"
#include "pbx/vfio/bdf.h"

namespace pbx::vfio::detail {

// The udev rules that bind supported devices to vfio-pci for group postbox, as the fix-it
// messages name them (relative to the source tree and the installed documentation).
inline constexpr const char* kUdevRules = "udev/70-postbox-vfio.rules";

// A failed system call: the code comes from errno. `fix` may be empty.
Error sys_error(int err, const Bdf& bdf, std::string_view call, std::string_view fix);
// A failure that is not a system call error ("what" says what is wrong, then the fix).
Error dev_error(Errc code, const Bdf& bdf, std::string_view call, std::string_view what);

inline tl::unexpected<Error> sys_fail(int err, const Bdf& bdf, std::string_view call, std::string_view fix) {
  return tl::unexpected(sys_error(err, bdf, call, fix));
}
inline tl::unexpected<Error> dev_fail(Errc code, const Bdf& bdf, std::string_view call, std::string_view what) {
  return tl::unexpected(dev_error(code, bdf, call, what));
}

// printf into a std::string (cold path).
[[gnu::format(printf, 1, 2)]] std::string strf(const char* fmt, ...);

}  // namespace pbx::vfio::detail
