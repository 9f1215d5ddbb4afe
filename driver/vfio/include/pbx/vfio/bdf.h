// Bdf: a PCI address, domain:bus:device.function, as lspci -D prints it.
//
//   auto bdf = pbx::vfio::Bdf::parse("00:04.0");   // domain defaults to 0000
//   if (!bdf) return tl::unexpected(bdf.error());   // "PCI address '00:4' is invalid: ..."
//   bdf->str();                                     // "0000:00:04.0"
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "pbx/base/error.h"

namespace pbx::vfio {

struct Bdf {
  uint32_t domain = 0;  // 0..0xffff on most machines; VMD domains reach 0x1xxxx
  uint8_t bus = 0;
  uint8_t device = 0;  // 0..0x1f
  uint8_t function = 0;  // 0..7

  // Parses "[dddd:]bb:dd.f" (hexadecimal, as lspci prints). A bad string is an error naming it.
  [[nodiscard]] static Result<Bdf> parse(std::string_view s);
  // "0000:00:04.0": the form sysfs and VFIO use.
  std::string str() const;

  friend constexpr auto operator<=>(const Bdf&, const Bdf&) = default;
};

}  // namespace pbx::vfio
