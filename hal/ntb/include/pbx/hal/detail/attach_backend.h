// Every NTB backend's attach(port, opts) (Intel, AMD, Switchtec): the options checked, the device
// made over the port and brought up by its init(). A device whose init() failed is destroyed
// (its destructor undoes what init() did) and init()'s error returned. Backends keep their
// constructor and init() private and befriend this.
#pragma once

#include <memory>

#include "pbx/base/error.h"

namespace pbx::hal::detail {

template <class Dev, class Port, class Opts>
[[nodiscard]] Result<std::unique_ptr<Dev>> attach_backend(std::unique_ptr<Port> port, const Opts& opts) {
  if (auto ok = opts.validate(); !ok) return tl::unexpected(ok.error());
  std::unique_ptr<Dev> dev(new Dev(std::move(port), opts));
  if (auto ok = dev->init(); !ok) return tl::unexpected(ok.error());
  return dev;
}

}  // namespace pbx::hal::detail
