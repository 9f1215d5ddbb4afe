#include "layout.h"

#include <bit>

namespace pbx::detail {

namespace {
constexpr size_t align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }
constexpr uint32_t kWireVersion = 3;  // 2: payload rings; 3: inline messages over several lines

uint64_t fnv1a(uint64_t h, uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    h ^= (v >> (i * 8)) & 0xff;
    h *= 0x100000001b3ull;
  }
  return h;
}
}  // namespace

Result<Layout> Layout::compute(const JobShape& shape, const Config& cfg, size_t window_size) {
  if (auto ok = shape.validate(); !ok) return tl::unexpected(ok.error());
  if (auto ok = cfg.validate(); !ok) return tl::unexpected(ok.error());
  Layout L;
  L.shape_ = shape;
  L.cfg_ = cfg;
  L.slots_ = cfg.postbox_slots;
  L.slots_log2_ = static_cast<unsigned>(std::countr_zero(cfg.postbox_slots));
  L.block_log2_ = static_cast<unsigned>(std::countr_zero(cfg.block_size));
  const size_t n = shape.procs_per_node;
  L.ack_segment_off_ = n * wire::kLine;
  L.data_off_ = align_up(L.ack_segment_off_ + L.ack_segment_size(), 4096);
  L.postbox_size_ = (size_t{L.slots_} + 1) * wire::kLine + cfg.ring_size;
  L.pool_off_ = align_up(wire::kLine + n * L.postbox_size_, 4096);
  L.segment_size_ = L.pool_off_ + cfg.pool_size;
  L.region_size_ = L.data_off_ + n * L.segment_size_;

  uint64_t h = 0xcbf29ce484222325ull;
  for (uint64_t v : {uint64_t{kWireVersion}, uint64_t{shape.nodes}, uint64_t{shape.procs_per_node},
                     uint64_t{cfg.postbox_slots}, cfg.pool_size, uint64_t{cfg.block_size}, cfg.cts,
                     uint64_t{cfg.cts_slices}, uint64_t{cfg.inline_max}, cfg.max_message, cfg.ring_size})
    h = fnv1a(h, v);
  L.fingerprint_ = h;

  if (window_size != 0 && L.region_size_ > window_size) {
    return fail(Errc::kNoMemory,
                "postbox layout needs %zu KiB per window (%u processes per node x (pool_size %llu KiB + %u "
                "postboxes of %u slots and a %llu KiB ring)) but the windows hold %zu KiB: use larger windows "
                "(pbxrun --window-size), or lower pool_size, ring_size, postbox_slots or processes per node",
                L.region_size_ >> 10, shape.procs_per_node, static_cast<unsigned long long>(cfg.pool_size >> 10),
                shape.procs_per_node, L.slots_, static_cast<unsigned long long>(cfg.ring_size >> 10),
                window_size >> 10);
  }
  return L;
}

Result<size_t> window_size_needed(const JobShape& shape, const Config& cfg) {
  auto L = Layout::compute(shape, cfg, 0);
  if (!L) return tl::unexpected(L.error());
  return align_up(L->region_size(), size_t{2} << 20);
}

}  // namespace pbx::detail
