#include "pbx/config.hpp"

#include <cstdlib>

#include "wire.h"

namespace pbx {

namespace {
constexpr bool is_pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }
}  // namespace

Result<void> JobShape::validate() const {
  if (nodes < 1 || nodes > kMaxNodes)
    return fail(Errc::kInvalidArgument, "nodes = %u is out of range: a job has 1..%u nodes", nodes, kMaxNodes);
  if (procs_per_node < 1 || procs_per_node > kMaxProcsPerNode)
    return fail(Errc::kInvalidArgument, "processes per node = %u is out of range: use 1..%u", procs_per_node,
                kMaxProcsPerNode);
  return {};
}

Result<void> JobShape::check_rank(Rank r, const char* what) const {
  if (contains(r)) return {};
  return fail(Errc::kInvalidArgument,
              "%s: rank (node %u, local %u) is not in this job: nodes are 0..%u and local indexes 0..%u", what, r.node,
              r.local, nodes - 1u, procs_per_node - 1u);
}

Result<Rank> JobShape::rank_from_flat(uint64_t flat_rank) const {
  if (flat_rank >= size())
    return fail(Errc::kInvalidArgument, "rank %llu is not in this job: ranks are 0..%u",
                static_cast<unsigned long long>(flat_rank), size() - 1);
  return rank_of(static_cast<uint32_t>(flat_rank));
}

Result<void> Config::validate() const {
  auto bad = [](const char* field, uint64_t v, const char* limits) {
    return fail(Errc::kInvalidArgument, "postbox config: %s = %llu is invalid: %s", field,
                static_cast<unsigned long long>(v), limits);
  };
  if (!is_pow2(postbox_slots) || postbox_slots < 8 || postbox_slots > 4096)
    return bad("postbox_slots", postbox_slots, "use a power of two in 8..4096");
  if (!is_pow2(block_size) || block_size < 64 || block_size > (1u << 20))
    return bad("block_size", block_size, "use a power of two in 64..1048576 (64 B..1 MiB)");
  if (pool_size < (64u << 10) || pool_size > (4ull << 30) || pool_size % block_size != 0)
    return bad("pool_size", pool_size, "use a multiple of block_size between 64 KiB and 4 GiB");
  if (cts_slices < 1 || cts_slices > 64) return bad("cts_slices", cts_slices, "use 1..64");
  if (cts < uint64_t{block_size} * cts_slices || cts % (uint64_t{block_size} * cts_slices) != 0 ||
      cts > pool_size / 2)
    return bad("cts", cts,
               "use a multiple of block_size * cts_slices, at most pool_size / 2 (so that a large message "
               "never takes the whole pool)");
  if (inline_max > wire::kInlineLimit)
    return bad("inline_max", inline_max, "use 0..441 (the indicator line and up to 7 lines after it)");
  if (wire::inline_lines(inline_max) > postbox_slots / 2)
    return bad("inline_max", inline_max, "use a size whose lines (49 bytes, then 56 per line) fill at most half the postbox");
  if (!is_pow2(ring_size) || ring_size < (4u << 10) || ring_size > (64ull << 20))
    return bad("ring_size", ring_size, "use a power of two in 4 KiB..64 MiB");
  if (ring_max > ring_size / 4)
    return bad("ring_max", ring_max, "use 0 (no payload ring) .. ring_size / 4 (so that several fit in a ring)");
  if (max_message < 1 || max_message > wire::kMaxLength) return bad("max_message", max_message, "use 1..2^47");
  if (ack_batch > postbox_slots / 2) return bad("ack_batch", ack_batch, "use 0 (postbox_slots / 4) or 1..postbox_slots / 2");
  if (timeout_ms < 1 || timeout_ms > 86'400'000u) return bad("timeout_ms", timeout_ms, "use 1..86400000 (one day)");
  if (max_pending_sends < 1 || max_pending_sends > 1024) return bad("max_pending_sends", max_pending_sends, "use 1..1024");
  if (peer_timeout_ms < 20 || peer_timeout_ms > 86'400'000u)
    return bad("peer_timeout_ms", peer_timeout_ms, "use 20..86400000 (a dead peer is named within about this long)");
  if (hold_limit > (64ull << 30)) return bad("hold_limit", hold_limit, "use 0..64 GiB");
  return {};
}

Result<uint64_t> parse_size(const std::string& text, const char* what) {
  if (text.empty()) return fail(Errc::kInvalidArgument, "%s: empty value: give a number such as 4096, 64K or 1M", what);
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (end == text.c_str() || errno != 0 || text[0] == '-')
    return fail(Errc::kInvalidArgument, "%s: '%s' is not a size: give a number such as 4096, 64K or 1M", what,
                text.c_str());
  unsigned shift = 0;
  const std::string suffix(end);
  if (suffix.empty() || suffix == "B") shift = 0;
  else if (suffix == "K" || suffix == "k" || suffix == "KiB") shift = 10;
  else if (suffix == "M" || suffix == "m" || suffix == "MiB") shift = 20;
  else if (suffix == "G" || suffix == "g" || suffix == "GiB") shift = 30;
  else
    return fail(Errc::kInvalidArgument, "%s: '%s' has an unknown unit '%s': use K, M or G", what, text.c_str(),
                suffix.c_str());
  if (shift != 0 && v > (~0ull >> shift))
    return fail(Errc::kInvalidArgument, "%s: '%s' is too large", what, text.c_str());
  return static_cast<uint64_t>(v) << shift;
}

Result<Config> Config::from_env() { return from_env(Config{}); }

Result<Config> Config::from_env(const Config& base) {
  Config c = base;
  struct Field {
    const char* env;
    uint64_t max;
    void (*set)(Config&, uint64_t);
  };
  static const Field fields[] = {
      {"PBX_POSTBOX_SLOTS", 1u << 20, [](Config& x, uint64_t v) { x.postbox_slots = static_cast<uint32_t>(v); }},
      {"PBX_POOL_SIZE", ~0ull, [](Config& x, uint64_t v) { x.pool_size = v; }},
      {"PBX_BLOCK_SIZE", 1u << 30, [](Config& x, uint64_t v) { x.block_size = static_cast<uint32_t>(v); }},
      {"PBX_CTS", ~0ull, [](Config& x, uint64_t v) { x.cts = v; }},
      {"PBX_CTS_SLICES", 1u << 20, [](Config& x, uint64_t v) { x.cts_slices = static_cast<uint32_t>(v); }},
      {"PBX_INLINE_MAX", 1u << 20, [](Config& x, uint64_t v) { x.inline_max = static_cast<uint32_t>(v); }},
      {"PBX_RING_SIZE", 1ull << 40, [](Config& x, uint64_t v) { x.ring_size = v; }},
      {"PBX_RING_MAX", 1ull << 31, [](Config& x, uint64_t v) { x.ring_max = static_cast<uint32_t>(v); }},
      {"PBX_MAX_MESSAGE", ~0ull, [](Config& x, uint64_t v) { x.max_message = v; }},
      {"PBX_ACK_BATCH", 1u << 20, [](Config& x, uint64_t v) { x.ack_batch = static_cast<uint32_t>(v); }},
      {"PBX_TIMEOUT_MS", 1u << 30, [](Config& x, uint64_t v) { x.timeout_ms = static_cast<uint32_t>(v); }},
      {"PBX_MAX_PENDING_SENDS", 1u << 20,
       [](Config& x, uint64_t v) { x.max_pending_sends = static_cast<uint32_t>(v); }},
      {"PBX_PEER_TIMEOUT_MS", 1u << 30, [](Config& x, uint64_t v) { x.peer_timeout_ms = static_cast<uint32_t>(v); }},
      {"PBX_HOLD_LIMIT", ~0ull, [](Config& x, uint64_t v) { x.hold_limit = v; }},
  };
  for (const Field& f : fields) {
    const char* s = std::getenv(f.env);
    if (s == nullptr || *s == '\0') continue;
    auto v = parse_size(s, f.env);
    if (!v) return tl::unexpected(v.error());
    if (*v > f.max) return fail(Errc::kInvalidArgument, "%s = %s is far out of range", f.env, s);
    f.set(c, *v);
  }
  if (const char* s = std::getenv("PBX_CHECKSUM"); s != nullptr && *s != '\0') {
    const std::string v = s;
    if (v == "1" || v == "on" || v == "crc32c") c.checksum = true;
    else if (v == "0" || v == "off" || v == "none") c.checksum = false;
    else
      return fail(Errc::kInvalidArgument, "PBX_CHECKSUM = '%s' is invalid: use crc32c (or on, 1) or none (or off, 0)",
                  s);
  }
  if (auto ok = c.validate(); !ok) return tl::unexpected(ok.error());
  return c;
}

}  // namespace pbx
