#include "support/ntb/amd_model.h"

#include <cstdio>
#include <cstring>

namespace pbx::test {

namespace amd = ntb::amd;

namespace {

std::string hex(std::size_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%zx", v);
  return b;
}

uint64_t width_mask(unsigned w) { return w >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * w)) - 1; }

}  // namespace

// ---- config space ---------------------------------------------------------------------------------

PcieConfigModel::PcieConfigModel(uint16_t vendor, uint16_t device, uint16_t command, uint16_t lnksta) {
  auto put = [&](unsigned o, unsigned w, uint64_t v) {
    for (unsigned i = 0; i < w; ++i) cfg_[o + i] = static_cast<uint8_t>(v >> (8 * i));
  };
  put(0x00, 2, vendor);
  put(0x02, 2, device);
  put(0x04, 2, command);
  put(0x06, 2, 0x0010);      // capabilities list
  put(0x08, 4, 0x06800000);  // bridge, other
  put(0x34, 1, 0x40);
  put(0x40, 2, 0x0010);      // PCI Express capability, last
  set_lnksta(lnksta);
}

void PcieConfigModel::set_lnksta(uint16_t v) {
  cfg_[0x52] = static_cast<uint8_t>(v);
  cfg_[0x53] = static_cast<uint8_t>(v >> 8);
}

void PcieConfigModel::set_command(uint16_t v) {
  cfg_[0x04] = static_cast<uint8_t>(v);
  cfg_[0x05] = static_cast<uint8_t>(v >> 8);
}

Result<uint32_t> PcieConfigModel::cfg_read(uint32_t off, unsigned width) {
  if ((width != 1 && width != 2 && width != 4) || off % width != 0 || off + width > cfg_.size())
    return fail(Errc::kInvalidArgument, "config read of %u bytes at 0x%x", width, off);
  uint32_t v = 0;
  for (unsigned i = 0; i < width; ++i) v |= uint32_t{cfg_[off + i]} << (8 * i);
  return v;
}

Result<void> PcieConfigModel::cfg_write(uint32_t off, unsigned width, uint32_t) {
  return fail(Errc::kInvalidArgument, "unexpected config write of %u bytes at 0x%x", width, off);
}

// ---- one side ---------------------------------------------------------------------------------------

AmdNtbModel::AmdNtbModel(AmdNtbPair& pair, amd::Side side, const AmdNtbModelSpec& spec)
    : pair_(&pair),
      side_(side),
      spec_(spec),
      cfg_(spec.vendor, spec.device, spec.command, spec.lnksta),
      link_cfg_(0x1022, 0x1453, ntb::pci::kCommandMemory, spec.lnksta) {
  // SIDEINFO: the side bit; every interrupt masked, every doorbell masked at reset.
  regs_[0x408] = side == amd::Side::kSecondary ? amd::kSideMask : 0;
  poke(0x470, 4, amd::kEventMask);
  poke(0x45c, 2, 0xffff);
}

AmdNtbModel& AmdNtbModel::peer() { return side_ == amd::Side::kPrimary ? pair_->secondary() : pair_->primary(); }

ntb::amd::AmdNtb::AttachParams AmdNtbModel::attach_params(std::string name) {
  ntb::amd::AmdNtb::AttachParams p;
  p.name = std::move(name);
  p.bar0_model = this;
  p.cfg = &cfg_;
  if (side_ == amd::Side::kSecondary) p.link_cfg = &link_cfg_;
  p.mw_size = spec_.mw_size;
  return p;
}

uint64_t AmdNtbModel::peek(std::size_t off, unsigned width) const {
  uint64_t v = 0;
  std::memcpy(&v, regs_.data() + off, width);
  return v;
}

void AmdNtbModel::poke(std::size_t off, unsigned width, uint64_t v) { std::memcpy(regs_.data() + off, &v, width); }

unsigned AmdNtbModel::width_of(std::size_t off, bool peer_view) const {
  switch (off) {
    case 0x408: case 0x414: return 4;                 // SIDEINFO, BAR1LMT
    case 0x418: case 0x420: case 0x430: case 0x438: case 0x440: return 8;  // LMT, XLAT
    default: break;
  }
  if (peer_view) return 0;  // Linux reaches only SIDEINFO, LMT and XLAT of the peer
  switch (off) {
    case 0x200: case 0x204: case 0x470: case 0x474: case 0x4a0: return 4;
    case 0x454: case 0x45c: case 0x460: return 2;
    default: break;
  }
  if (off >= 0x210 && off < 0x250 && off % 4 == 0) return 4;  // the shared scratchpad bank
  return 0;
}

uint64_t AmdNtbModel::mmio_read(std::size_t off, unsigned width) {
  std::lock_guard lock(pair_->mu_);
  const bool peer_view = off >= 0x800 && off < 0x900;
  const std::size_t own = peer_view ? off - amd::kPeerOffset : off;
  if (own >= regs_.size() || width_of(own, peer_view) != width || own == 0x454) {
    violations_.push_back("read of " + std::to_string(width) + " bytes at unknown or write-only BAR0+" + hex(off));
    return 0;
  }
  if (own >= 0x210 && own < 0x250) return pair_->spads_[(own - 0x210) / 4];
  return peer_view ? peer().peek(own, width) : peek(own, width);
}

void AmdNtbModel::mmio_write(std::size_t off, unsigned width, uint64_t v) {
  std::lock_guard lock(pair_->mu_);
  const bool peer_view = off >= 0x800 && off < 0x900;
  const std::size_t own = peer_view ? off - amd::kPeerOffset : off;
  if (own >= regs_.size() || width_of(own, peer_view) != width) {
    violations_.push_back("write of " + std::to_string(width) + " bytes at unknown BAR0+" + hex(off));
    return;
  }
  v &= width_mask(width);
  if (peer_view)
    peer().store(own, width, v);
  else
    store(own, width, v);
}

void AmdNtbModel::store(std::size_t off, unsigned width, uint64_t v) {
  switch (off) {
    case 0x204: violations_.push_back("write to read-only STA"); return;
    case 0x408: poke(off, 4, (peek(off, 4) & amd::kSideMask) | (v & ~uint64_t{amd::kSideMask})); return;
    case 0x454: {  // DBREQ rings the peer
      AmdNtbModel& p = peer();
      p.poke(0x460, 2, p.peek(0x460, 2) | v);
      return;
    }
    case 0x460:
    case 0x474: poke(off, width, peek(off, width) & ~v); return;  // write 1 to clear
    default: break;
  }
  if (off >= 0x210 && off < 0x250) {
    pair_->spads_[(off - 0x210) / 4] = static_cast<uint32_t>(v);
    return;
  }
  poke(off, width, v);
}

bool AmdNtbModel::write_through(unsigned widx, uint64_t off, const void* data, std::size_t len) {
  const unsigned bar = amd::identify(spec_.vendor, spec_.device, "").value()->mw_bar[widx];
  const std::size_t xlat = bar == 1 ? 0x430 : bar == 2 ? 0x438 : 0x440;
  const std::size_t lmt = bar == 1 ? 0x414 : bar == 2 ? 0x418 : 0x420;
  const uint64_t limit = peek(lmt, bar == 1 ? 4 : 8);
  if (off + len > limit) return false;
  const uint64_t addr = peek(xlat, 8) + off;
  for (const Memory& m : peer().memory_)
    if (addr >= m.iova && addr + len <= m.iova + m.mem.size()) {
      std::memcpy(m.mem.data() + (addr - m.iova), data, len);
      return true;
    }
  return false;
}

// ---- the pair ---------------------------------------------------------------------------------------

AmdNtbPair::AmdNtbPair(const AmdNtbModelSpec& spec) : spec_(spec) {
  primary_ = std::make_unique<AmdNtbModel>(*this, amd::Side::kPrimary, spec);
  secondary_ = std::make_unique<AmdNtbModel>(*this, amd::Side::kSecondary, spec);
}

void AmdNtbPair::physical_link(bool up) {
  std::lock_guard lock(mu_);
  const uint32_t ev = up ? amd::kEventLinkUp : amd::kEventLinkDown;
  for (AmdNtbModel* s : {primary_.get(), secondary_.get()}) {
    if (s != primary_.get() || spec_.primary_events) s->poke(0x474, 4, s->peek(0x474, 4) | ev);
    s->config().set_lnksta(up ? spec_.lnksta : 0);
    s->link_device().set_lnksta(up ? spec_.lnksta : 0);
  }
}

}  // namespace pbx::test
