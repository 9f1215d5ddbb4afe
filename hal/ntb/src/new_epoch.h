// The epoch a backend announces to its peers: non-zero, and different at every open (also of two
// devices in one process), so that a peer tells a restarted host from the old one. Used by the
// AMD and Switchtec backends. Private to hal/ntb.
#pragma once

#include <cstdint>

namespace pbx::hal::detail {

uint32_t new_epoch() noexcept;

}  // namespace pbx::hal::detail
