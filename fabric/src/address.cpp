#include "address.h"

#include <charconv>
#include <cstdio>
#include <cstring>

namespace pbx::fabric {

uint32_t job_hash(std::string_view name) noexcept {
  uint32_t h = 2166136261u;
  for (char c : name) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  return h;
}

std::optional<Address> decode_address(const void* p, size_t len) noexcept {
  if (p == nullptr || len < sizeof(Address)) return std::nullopt;
  Address a;
  std::memcpy(&a, p, sizeof a);
  if (a.magic != Address::kMagic || a.version != Address::kVersion || a.reserved != 0 ||
      a.rank == Address::kUnknownRank)
    return std::nullopt;
  return a;
}

std::string to_string(const Address& a) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "postbox://%08x/%u", a.job, a.rank);
  return buf;
}

namespace {

template <class T>
bool parse_number(std::string_view s, int base, T& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

std::optional<Address> parse_node(std::string_view node, uint32_t job) noexcept {
  Address a;
  a.job = job;
  constexpr std::string_view kScheme = "postbox://";
  if (node.substr(0, kScheme.size()) == kScheme) {
    node.remove_prefix(kScheme.size());
    const size_t slash = node.find('/');
    if (slash == std::string_view::npos || !parse_number(node.substr(0, slash), 16, a.job)) return std::nullopt;
    node.remove_prefix(slash + 1);
  }
  if (!parse_number(node, 10, a.rank) || a.rank == Address::kUnknownRank) return std::nullopt;
  return a;
}

}  // namespace pbx::fabric
