#include "pbx/vfio/bdf.h"

#include <cstdio>

namespace pbx::vfio {
namespace {

// Parses 1..max_digits hexadecimal digits; false on anything else.
bool parse_hex(std::string_view s, size_t max_digits, uint32_t* out) {
  if (s.empty() || s.size() > max_digits) return false;
  uint32_t v = 0;
  for (char c : s) {
    uint32_t d;
    if (c >= '0' && c <= '9') d = static_cast<uint32_t>(c - '0');
    else if (c >= 'a' && c <= 'f') d = static_cast<uint32_t>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = static_cast<uint32_t>(c - 'A' + 10);
    else return false;
    v = v * 16 + d;
  }
  *out = v;
  return true;
}

}  // namespace

Result<Bdf> Bdf::parse(std::string_view s) {
  auto bad = [&](const char* why) {
    return fail(Errc::kInvalidArgument,
                "PCI address '%.*s' is invalid: %s; write it as [dddd:]bb:dd.f in hexadecimal, "
                "as `lspci -D` prints it (for example 0000:00:04.0)",
                static_cast<int>(s.size()), s.data(), why);
  };
  const size_t dot = s.rfind('.');
  if (dot == std::string_view::npos) return bad("no '.' before the function number");
  const std::string_view fn = s.substr(dot + 1);
  const std::string_view head = s.substr(0, dot);
  const size_t c2 = head.rfind(':');
  if (c2 == std::string_view::npos) return bad("no ':' between bus and device");
  const std::string_view dev = head.substr(c2 + 1);
  const std::string_view front = head.substr(0, c2);
  const size_t c1 = front.rfind(':');
  const std::string_view bus = c1 == std::string_view::npos ? front : front.substr(c1 + 1);
  const std::string_view dom = c1 == std::string_view::npos ? std::string_view{} : front.substr(0, c1);

  uint32_t d = 0, b = 0, dv = 0, f = 0;
  if (c1 != std::string_view::npos && !parse_hex(dom, 8, &d)) return bad("the domain is not 1-8 hex digits");
  if (!parse_hex(bus, 2, &b)) return bad("the bus is not 1-2 hex digits");
  if (!parse_hex(dev, 2, &dv) || dv > 0x1f) return bad("the device is not a hex number 00-1f");
  if (!parse_hex(fn, 1, &f) || f > 7) return bad("the function is not a digit 0-7");
  return Bdf{d, static_cast<uint8_t>(b), static_cast<uint8_t>(dv), static_cast<uint8_t>(f)};
}

std::string Bdf::str() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04x:%02x:%02x.%x", domain, bus, device, function);
  return buf;
}

}  // namespace pbx::vfio
