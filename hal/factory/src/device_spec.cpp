// The device spec grammar (pbx/hal/factory.h).
#include <sys/un.h>

#include <bit>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "pbx/hal/factory.h"
#include "pbx/hal/postboxd/protocol.h"
#include "pbx/vfio/bdf.h"

namespace pbx::hal {
namespace {

constexpr uint64_t kPage = 4096;

// "device spec 'TEXT': WHY; accepted forms: ..."
[[gnu::format(printf, 2, 3)]] tl::unexpected<Error> bad(std::string_view text, const char* fmt, ...) {
  char why[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  return fail(Errc::kInvalidArgument, "device spec '%.*s': %s; accepted forms: %s", static_cast<int>(text.size()),
              text.data(), why, kDeviceSpecForms);
}

// A whole number, decimal or 0x hexadecimal; nullopt on anything else.
std::optional<uint64_t> whole_number(std::string_view s) {
  if (s.empty() || s[0] == '-' || s[0] == '+' || s[0] == ' ') return std::nullopt;
  const std::string str(s);
  const bool hex = str.size() > 2 && str[0] == '0' && (str[1] == 'x' || str[1] == 'X');
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(str.c_str(), &end, hex ? 16 : 10);
  if (errno != 0 || end != str.c_str() + str.size()) return std::nullopt;
  return v;
}

// A byte count: a whole number with an optional K, M or G (binary) unit.
std::optional<uint64_t> byte_count(std::string_view s) {
  unsigned shift = 0;
  if (!s.empty() && !(s.size() > 2 && (s[1] == 'x' || s[1] == 'X'))) {
    switch (s.back()) {
      case 'K': case 'k': shift = 10; break;
      case 'M': case 'm': shift = 20; break;
      case 'G': case 'g': shift = 30; break;
      default: break;
    }
    if (shift != 0) s.remove_suffix(1);
  }
  auto v = whole_number(s);
  if (!v || (shift != 0 && *v > (~uint64_t{0} >> shift))) return std::nullopt;
  return *v << shift;
}

Result<DeviceSpec> parse_loopback(std::string_view text, std::string_view rest, DeviceSpec d) {
  const size_t c = rest.rfind(':');
  if (c == std::string_view::npos || c == 0)
    return bad(text, "write loopback:JOB:NODE (for example loopback:pbx-1234:0)");
  auto node = whole_number(rest.substr(c + 1));
  if (!node || *node > 63)
    return bad(text, "the loopback node '%.*s' is not a number in 0..63", static_cast<int>(rest.size() - c - 1),
               rest.data() + c + 1);
  d.job = std::string(rest.substr(0, c));
  d.node = static_cast<uint16_t>(*node);
  return d;
}

// BDF[,key=value]... for ivshmem (nodes, window) and the NTB kinds (window).
Result<DeviceSpec> parse_pci(std::string_view text, std::string_view rest, DeviceSpec d) {
  const bool ivshmem = d.kind == DeviceSpec::Kind::kIvshmem;
  const bool intel = d.kind == DeviceSpec::Kind::kIntel;
  const char* kind = to_string(d.kind);
  const char* options = ivshmem ? "nodes=N, window=BYTES" : "window=BYTES";
  size_t comma = rest.find(',');
  const std::string_view bdf_text = rest.substr(0, comma);
  if (bdf_text.empty())
    return bad(text, "no PCI address: write %s:BDF (for example %s:%s)", kind, kind,
               ivshmem ? "0000:00:04.0" : "0000:af:00.0");
  auto bdf = vfio::Bdf::parse(bdf_text);
  if (!bdf) return bad(text, "%s", bdf.error().message().c_str());
  d.bdf = bdf->str();
  bool have_window = false;
  while (comma != std::string_view::npos) {
    const size_t next = rest.find(',', comma + 1);
    const std::string_view kv = rest.substr(comma + 1, next == std::string_view::npos ? next : next - comma - 1);
    comma = next;
    const size_t eq = kv.find('=');
    const std::string_view key = kv.substr(0, eq);
    const std::string_view val = eq == std::string_view::npos ? std::string_view{} : kv.substr(eq + 1);
    const int kn = static_cast<int>(key.size());
    if (kv.empty()) return bad(text, "an empty option (two commas, or one at the end)");
    if (key == "nodes" && ivshmem) {
      if (d.nodes) return bad(text, "nodes is given twice");
      auto n = whole_number(val);
      if (!n || *n < 1 || *n > 64)
        return bad(text, "nodes '%.*s' is not a number in 1..64", static_cast<int>(val.size()), val.data());
      d.nodes = static_cast<uint16_t>(*n);
    } else if (key == "window") {
      if (have_window) return bad(text, "window is given twice");
      have_window = true;
      auto n = byte_count(val);
      if (!n || *n > (uint64_t{1} << 40))
        return bad(text, "window '%.*s' is not a byte count up to 1T (for example 1048576, 0x100000 or 1M)",
                   static_cast<int>(val.size()), val.data());
      if (intel && *n != 0 && (*n < kPage || !std::has_single_bit(*n)))
        return bad(text, "window %llu is not a power of two of at least 4 KiB (Intel NTB windows are; 0: BAR2's size)",
                   static_cast<unsigned long long>(*n));
      if (*n % kPage != 0)
        return bad(text, "window %llu is not a multiple of 4 KiB (0: %s)", static_cast<unsigned long long>(*n),
                   ivshmem ? "the largest that fits" : "the backend's default");
      d.window = *n;
    } else {
      return bad(text, "unknown %s option '%.*s' (%s)", kind, kn, key.data(), options);
    }
  }
  return d;
}

}  // namespace

const char* to_string(DeviceSpec::Kind k) noexcept {
  switch (k) {
    case DeviceSpec::Kind::kLoopback: return "loopback";
    case DeviceSpec::Kind::kIvshmem: return "ivshmem";
    case DeviceSpec::Kind::kNtb: return "ntb";
    case DeviceSpec::Kind::kPostboxd: return "postboxd";
    case DeviceSpec::Kind::kIntel: return "intel";
    case DeviceSpec::Kind::kAmd: return "amd";
    case DeviceSpec::Kind::kSwitchtec: return "switchtec";
  }
  return "?";
}

DeviceSpec loopback_spec(const std::string& job, uint16_t node) {
  DeviceSpec d;
  d.kind = DeviceSpec::Kind::kLoopback;
  d.job = job;
  d.node = node;
  d.text = "loopback:" + job + ":" + std::to_string(node);
  return d;
}

DeviceSpec postboxd_spec(const std::string& socket) {
  DeviceSpec d;
  d.kind = DeviceSpec::Kind::kPostboxd;
  d.socket = socket.empty() ? std::string(postboxd::kDefaultSocket) : socket;
  d.text = "postboxd:" + d.socket;
  return d;
}

Result<DeviceSpec> parse_device_spec(std::string_view text) {
  if (text.empty()) return bad(text, "the spec is empty");
  DeviceSpec d;
  d.text = std::string(text);
  const size_t colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  const std::string_view rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
  if (kind == "loopback") {
    d.kind = DeviceSpec::Kind::kLoopback;
    return parse_loopback(text, rest, std::move(d));
  }
  for (const auto k : {DeviceSpec::Kind::kIvshmem, DeviceSpec::Kind::kNtb, DeviceSpec::Kind::kIntel,
                       DeviceSpec::Kind::kAmd, DeviceSpec::Kind::kSwitchtec})
    if (kind == to_string(k)) {
      d.kind = k;
      return parse_pci(text, rest, std::move(d));
    }
  if (kind == "postboxd") {
    d.kind = DeviceSpec::Kind::kPostboxd;
    if (colon == std::string_view::npos) {
      d.socket = postboxd::kDefaultSocket;
      return d;
    }
    if (rest.empty() || rest.size() >= sizeof(sockaddr_un{}.sun_path))
      return bad(text, "the socket path must have 1..%zu characters (or leave out ':SOCKET' for the default)",
                 sizeof(sockaddr_un{}.sun_path) - 1);
    d.socket = std::string(rest);
    return d;
  }
  return bad(text, "unknown device kind '%.*s'", static_cast<int>(kind.size()), kind.data());
}

}  // namespace pbx::hal
