#include "links.h"

namespace pbx::postboxd {

Result<std::unique_ptr<LinkKeeper>> LinkKeeper::create(hal::Device& dev, hal::postboxd::StatusPage& page,
                                                       bool handshake, const hal::HandshakeOptions& hs,
                                                       Clock& clock, Log log) {
  std::unique_ptr<LinkKeeper> k(new LinkKeeper(dev, page, std::move(log)));
  const hal::DeviceInfo& info = dev.info();
  k->published_.resize(info.node_count);
  k->device_generation_.assign(info.node_count, 0);  // 0: never seen, so the first tick publishes
  for (uint16_t n = 0; n < info.node_count; ++n) k->published_[n] = page.link(n);
  if (handshake) {
    k->hs_.resize(info.node_count);
    for (uint16_t n = 0; n < info.node_count; ++n) {
      if (hal::NodeIdx(n) == info.self) continue;
      if (auto ok = hal::SpadHandshake::check(dev, hal::NodeIdx(n), hs); !ok) return tl::unexpected(ok.error());
      k->hs_[n] = std::make_unique<hal::SpadHandshake>(dev, hal::NodeIdx(n), hs, clock);
    }
  }
  return k;
}

void LinkKeeper::publish(uint16_t k, bool up, uint32_t generation) {
  hal::LinkStatus& p = published_[k];
  if (p.up == up && p.generation == generation) return;
  const bool changed = p.up != up;
  p.up = up;
  p.generation = generation;
  page_.publish(k, up, generation);
  if (changed) log_("link to node " + std::to_string(k) + (up ? " up" : " down"));  // after: clients see it first
}

void LinkKeeper::tick() {
  const hal::DeviceInfo& info = dev_.info();
  for (uint16_t k = 0; k < info.node_count; ++k) {
    if (hal::NodeIdx(k) == info.self) continue;
    if (hs_.empty()) {
      const hal::LinkStatus ls = dev_.link_status(hal::NodeIdx(k));
      if (ls.generation == device_generation_[k]) continue;
      device_generation_[k] = ls.generation;
      // Ours counts transitions from what clients saw last: one if the state differs, two if
      // the link went down and came back up between two ticks.
      const hal::LinkStatus& p = published_[k];
      publish(k, ls.up, p.generation + (ls.up != p.up ? 1 : 2));
      continue;
    }
    hal::SpadHandshake& hs = *hs_[k];
    if (auto ok = hs.step(); !ok) log_(ok.error().message());
    publish(k, hs.up(), hs.generation());
  }
}

void LinkKeeper::leave() {
  const hal::DeviceInfo& info = dev_.info();
  for (uint16_t k = 0; k < info.node_count; ++k) {
    if (hal::NodeIdx(k) == info.self) continue;
    if (!hs_.empty()) hs_[k]->leave();
    const hal::LinkStatus& p = published_[k];
    publish(k, false, p.up ? p.generation + 1 : p.generation);
  }
}

}  // namespace pbx::postboxd
