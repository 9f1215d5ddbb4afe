#include "support/ntb/intel_model.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "pbx/ntb/intel/regs.h"

namespace pbx::test {

using ntb::intel::Gen;
using ntb::intel::Part;
using ntb::intel::Side;
namespace g3 = ntb::intel::gen3;
namespace g4 = ntb::intel::gen4;

namespace {

constexpr uint64_t kStatusBits = (uint64_t{1} << 33) - 1;  // doorbells 0..31 + link bit 32
constexpr uint32_t kSpadBase = 0x80;

std::string hex(std::size_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%zx", v);
  return b;
}

uint64_t width_mask(unsigned width) { return width >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * width)) - 1; }

unsigned log2u(uint64_t v) {
  unsigned n = 0;
  while (v > 1) {
    v >>= 1;
    ++n;
  }
  return n;
}

}  // namespace

struct IntelNtbModel::Cable {
  IntelNtbModel* a = nullptr;
  IntelNtbModel* b = nullptr;
  bool up = false;
  unsigned countdown = 0;
};

IntelNtbModel::IntelNtbModel(const IntelNtbModelSpec& spec)
    : spec_(spec), part_(&ntb::intel::part_info(spec.part)), bar0_(ntb::intel::kBar0Size, 0) {
  if (spec_.revision == 0) spec_.revision = spec_.part == Part::kIcx ? 0x04 : spec_.part == Part::kSpr ? 0x10 : 0x01;
  if (spec_.lnksta_up == 0) spec_.lnksta_up = part_->regs == Gen::kGen3 ? (0x2000 | 3 | (16 << 4)) : (0x2000 | 4 | (16 << 4));
  if (part_->regs == Gen::kGen3)
    build_gen3();
  else
    build_gen4();
  build_config();
}

IntelNtbModel::~IntelNtbModel() {
  if (peer_ != nullptr) peer_->peer_ = nullptr;
  if (cable_) {
    if (cable_->a == this) cable_->a = nullptr;
    if (cable_->b == this) cable_->b = nullptr;
  }
}

ntb::intel::IntelNtb::AttachParams IntelNtbModel::attach_params(std::string name) {
  ntb::intel::IntelNtb::AttachParams p;
  p.name = std::move(name);
  p.bar0_model = this;
  p.cfg = this;
  p.mw_size = {spec_.bar2_size, spec_.bar4_size};
  return p;
}

void IntelNtbModel::add(std::size_t off, unsigned width, Kind kind, std::string name, uint64_t wmask) {
  regs_[off] = RegDesc{off, width, kind, wmask & width_mask(width), std::move(name)};
}

void IntelNtbModel::build_gen3() {
  const uint64_t sizes[2] = {spec_.bar2_size, spec_.bar4_size};
  add(0x0000, 4, Kind::kRW, "NTBCNTL");
  for (unsigned i = 0; i < 2; ++i) {
    add(0x10 + 0x10 * i, 8, Kind::kRW, g3::kXbaseName[i], ~(sizes[i] - 1));  // aligned to the BAR size
    add(0x18 + 0x10 * i, 8, Kind::kRW, g3::kXlmtName[i], ~uint64_t{0xfff});
    add(0x4010 + 0x10 * i, 8, Kind::kRW, i == 0 ? "EMBAR1XBASE" : "EMBAR2XBASE");
    add(0x4018 + 0x10 * i, 8, Kind::kRW, g3::kEmXlmtName[i], ~uint64_t{0xfff});
    add(0x4518 + 8 * i, 8, Kind::kRO, i == 0 ? "SBAR23BASE" : "SBAR45BASE");
  }
  add(0x0040, 8, Kind::kW1C, "IM_INT_STATUS");
  add(0x0048, 8, Kind::kRW, "IM_INT_DISABLE", kStatusBits);
  add(0x0070, 2, Kind::kRO, "USMEMMISS");
  for (unsigned i = 0; i < 16; ++i) {
    add(kSpadBase + 4 * i, 4, Kind::kRW, "IM_SPAD" + std::to_string(i));
    add(0x180 + 4 * i, 4, Kind::kPeerSpad, "B2B_SPAD" + std::to_string(i));
  }
  for (unsigned i = 0; i < 33; ++i) add(0xd0 + i, 1, Kind::kRW, "INTVEC" + std::to_string(i), 0x3f);
  for (unsigned i = 0; i < 32; ++i) add(0x100 + 4 * i, 4, Kind::kBell, "IM_DOORBELL" + std::to_string(i));
  add(0x4008, 8, Kind::kRW, "EMBAR0XBASE");
  add(0x4504, 2, Kind::kRW, "SPCICMD", 0x0406);
  add(0x4510, 8, Kind::kRO, "SBAR0BASE");
  // Reset values: link disabled and locked; MSI-X vectors 1..32,0; secondary BARs at the B2B
  // addresses (64-bit prefetchable).
  set_raw(0x0000, 4, g3::kCtlCfgLock | g3::kCtlDisable);
  for (unsigned i = 0; i < 33; ++i) set_raw(0xd0 + i, 1, (i + 1) % 33);
  set_raw(0x4510, 8, 0x1000000000000000ull | 0x4);
  set_raw(0x4518, 8, ntb::intel::kB2bBar2Addr | 0xc);
  set_raw(0x4520, 8, ntb::intel::kB2bBar4Addr | 0xc);
}

void IntelNtbModel::build_gen4() {
  const uint64_t sizes[2] = {spec_.bar2_size, spec_.bar4_size};
  add(0x0000, 4, Kind::kRW, "NTBCNTL");
  for (unsigned i = 0; i < 2; ++i) {
    const uint64_t align = part_->mw_addr_align_bar_size ? sizes[i] : 4096;
    add(0x10 + 0x10 * i, 8, Kind::kRW, g4::kXbaseName[i], ~(align - 1));
    add(0x18 + 0x10 * i, 8, Kind::kRW, g4::kXlmtName[i], ~uint64_t{0xfff});
    add(0x74 + 2 * i, 2, Kind::kRW, g4::kXbaseIdxName[i], 0x3f);
  }
  add(0x0040, 8, Kind::kW1C, "IM_INT_STATUS");
  add(0x0048, 8, Kind::kRW, "IM_INT_DISABLE", kStatusBits);
  for (unsigned i = 0; i < 33; ++i) add(0x50 + i, 1, Kind::kRW, "INTVEC" + std::to_string(i), 0x3f);
  for (unsigned i = 0; i < 16; ++i) {
    add(kSpadBase + 4 * i, 4, Kind::kRW, "IM_SPAD" + std::to_string(i));
    add(0x8080 + 4 * i, 4, Kind::kPeerSpad, "EM_SPAD" + std::to_string(i));
  }
  for (unsigned i = 0; i < 32; ++i) add(0x100 + 4 * i, 4, Kind::kBell, "IM_DOORBELL" + std::to_string(i));
  add(0x30ec, 1, Kind::kRW, "LTR_SWSEL");
  add(0x30f0, 4, Kind::kRW, "LTR_ACTIVE");
  add(0x30f4, 4, Kind::kRW, "LTR_IDLE");
  add(0xb050, 2, Kind::kRW, "LINK_CTRL");
  add(0xb052, 2, Kind::kLinkStatus, "LINK_STATUS");
  add(0xb05a, 2, Kind::kW1C, "SLOTSTS");
  add(part_->ppd0_offset, 4, Kind::kRW, "PPD0");
  add(0xb4c0, 4, Kind::kRO, "PPD1");
  // Reset values: MSI-X vectors 1..32,0; topology in PPD1.
  for (unsigned i = 0; i < 33; ++i) set_raw(0x50 + i, 1, (i + 1) % 33);
  uint32_t ppd1;
  if (spec_.ppd_override)
    ppd1 = spec_.ppd;
  else if (part_->ppd == ntb::intel::PpdLayout::kIcxMmio)
    ppd1 = g4::kPpdConnB2b | (spec_.side == Side::kDsd ? g4::kIcxPpdDsd : 0);
  else
    ppd1 = g4::kPpdConnB2b | (spec_.side == Side::kDsd ? g4::kSprPpdDsd : 0);
  set_raw(0xb4c0, 4, ppd1);
}

void IntelNtbModel::build_config() {
  auto put = [&](uint32_t off, unsigned width, uint64_t v) {
    for (unsigned i = 0; i < width; ++i) cfg_[off + i] = static_cast<uint8_t>(v >> (8 * i));
  };
  const bool gen3 = part_->regs == Gen::kGen3;
  put(ntb::pci::kVendorId, 2, ntb::intel::kVendorIntel);
  put(ntb::pci::kDeviceId, 2, part_->device_id);
  put(ntb::pci::kCommand, 2, spec_.command);
  put(0x06, 2, 0x0010);  // status: capabilities list
  put(ntb::pci::kRevision, 1, spec_.revision);
  put(0x09, 3, 0x068000);  // bridge, other
  put(0x10, 4, (spec_.bar0_addr & 0xffffffffu) | 0x4);
  put(0x14, 4, spec_.bar0_addr >> 32);
  put(0x18, 4, (spec_.bar2_addr & 0xffffffffu) | 0xc);
  put(0x1c, 4, spec_.bar2_addr >> 32);
  if (spec_.bar4_32bit) {
    put(0x20, 4, (spec_.bar4_addr & 0xffffffffu) | 0x8);
    put(0x24, 4, 0x8);
  } else {
    put(0x20, 4, (spec_.bar4_addr & 0xffffffffu) | 0xc);
    put(0x24, 4, spec_.bar4_addr >> 32);
  }
  put(0x2c, 2, ntb::intel::kVendorIntel);
  const uint32_t cap = gen3 ? 0x90 : 0x40;
  put(0x34, 1, cap);
  put(cap, 2, 0x0010);                           // PCI Express capability, last in the list
  put(cap + 2, 2, 0x0002);                       // version 2, endpoint
  put(cap + 0x0c, 4, (gen3 ? 3 : 4) | (16 << 4));  // LNKCAP: max speed, x16
  put(cap + 0x12, 2, (gen3 ? 3 : 4) | (16 << 4));  // LNKSTA of the host-side port
  if (gen3) {
    put(g3::kCfgImbar1Sz, 1, log2u(spec_.bar2_size));
    put(g3::kCfgImbar2Sz, 1, log2u(spec_.bar4_size));
    put(g3::kCfgEmbar1Sz, 1, log2u(spec_.bar2_size));
    put(g3::kCfgEmbar2Sz, 1, log2u(spec_.bar4_size));
    uint8_t ppd = g3::kPpdConnB2b | (spec_.side == Side::kDsd ? g3::kPpdDsd : 0);
    if (spec_.ppd_override) ppd = static_cast<uint8_t>(spec_.ppd);
    put(g3::kCfgPpd, 1, ppd);
  } else {
    put(g4::kCfgImbar23Sz, 1, log2u(spec_.bar2_size));
    put(g4::kCfgImbar45Sz, 1, log2u(spec_.bar4_size));
    put(g4::kCfgEmbar23Sz, 1, log2u(spec_.bar2_size));
    put(g4::kCfgEmbar45Sz, 1, log2u(spec_.bar4_size));
  }
}

uint64_t IntelNtbModel::raw(std::size_t off, unsigned width) const {
  uint64_t v = 0;
  std::memcpy(&v, bar0_.data() + off, width);  // little-endian host
  return v;
}

void IntelNtbModel::set_raw(std::size_t off, unsigned width, uint64_t v) {
  std::memcpy(bar0_.data() + off, &v, width);
}

void IntelNtbModel::poke(std::size_t off, unsigned width, uint64_t value) { set_raw(off, width, value); }

uint64_t IntelNtbModel::peek(std::size_t off, unsigned width) const { return raw(off, width); }

void IntelNtbModel::stick(std::size_t off, uint64_t mask, uint64_t value) {
  stuck_[off] = {mask, value};
  auto it = regs_.find(off);
  const unsigned w = it != regs_.end() ? it->second.width : 8;
  set_raw(off, w, (raw(off, w) & ~mask) | (value & mask));
}

void IntelNtbModel::set_status_bits(uint64_t bits) { set_raw(0x40, 8, (raw(0x40, 8) | bits) & kStatusBits); }

bool IntelNtbModel::link_enabled() const {
  if (part_->regs == Gen::kGen3) return (raw(0x0, 4) & (g3::kCtlDisable | g3::kCtlCfgLock)) == 0;
  return (raw(0xb050, 2) & g4::kLinkCtrlDisable) == 0 && (raw(part_->ppd0_offset, 4) & g4::kPpdLinkTrn) != 0;
}

bool IntelNtbModel::link_up() const { return cable_ && cable_->up; }

void IntelNtbModel::update_link() {
  if (!cable_ || cable_->a == nullptr || cable_->b == nullptr) return;
  Cable& c = *cable_;
  const bool can_train = c.a->link_enabled() && c.b->link_enabled() && c.a->spec_.side != c.b->spec_.side;
  if (!can_train) {
    if (c.up) {
      c.up = false;
      c.a->set_status_bits(ntb::intel::kDbLinkMask);
      c.b->set_status_bits(ntb::intel::kDbLinkMask);
    }
    c.countdown = spec_.train_polls;
  }
}

uint16_t IntelNtbModel::lnksta() {
  update_link();
  if (!cable_ || cable_->a == nullptr || cable_->b == nullptr) return 0;
  Cable& c = *cable_;
  if (!c.up && c.a->link_enabled() && c.b->link_enabled() && c.a->spec_.side != c.b->spec_.side) {
    if (c.countdown == 0) {
      c.up = true;
      c.a->set_status_bits(ntb::intel::kDbLinkMask);
      c.b->set_status_bits(ntb::intel::kDbLinkMask);
    } else {
      --c.countdown;
    }
  }
  return c.up ? spec_.lnksta_up : 0;
}

uint64_t IntelNtbModel::mmio_read(std::size_t off, unsigned width) {
  auto it = regs_.find(off);
  if (it == regs_.end()) {
    violations_.push_back("read of " + std::to_string(width) + " bytes at unknown register BAR0+" + hex(off));
    return 0;
  }
  const RegDesc& r = it->second;
  if (width != r.width)
    violations_.push_back("read of " + std::to_string(width) + " bytes from " + r.name + " (BAR0+" + hex(off) +
                          "), a " + std::to_string(r.width) + "-byte register");
  switch (r.kind) {
    case Kind::kBell: violations_.push_back("read of write-only " + r.name); return 0;
    case Kind::kPeerSpad: {
      const std::size_t idx = part_->regs == Gen::kGen3 ? (off - 0x180) / 4 : (off - 0x8080) / 4;
      if (peer_ == nullptr || !link_up()) return 0xffffffffu;  // master abort: all ones
      return peer_->raw(kSpadBase + 4 * idx, 4);
    }
    case Kind::kLinkStatus: return lnksta();
    default: break;
  }
  uint64_t v = raw(off, r.width);
  if (auto s = stuck_.find(off); s != stuck_.end()) v = (v & ~s->second.first) | (s->second.second & s->second.first);
  return v & width_mask(width);
}

void IntelNtbModel::mmio_write(std::size_t off, unsigned width, uint64_t value) {
  auto it = regs_.find(off);
  if (it == regs_.end()) {
    violations_.push_back("write of " + std::to_string(width) + " bytes at unknown register BAR0+" + hex(off));
    return;
  }
  const RegDesc& r = it->second;
  if (width != r.width)
    violations_.push_back("write of " + std::to_string(width) + " bytes to " + r.name + " (BAR0+" + hex(off) +
                          "), a " + std::to_string(r.width) + "-byte register");
  value &= width_mask(r.width);
  switch (r.kind) {
    case Kind::kRO:
    case Kind::kLinkStatus: violations_.push_back("write to read-only " + r.name); break;
    case Kind::kW1C: set_raw(off, r.width, raw(off, r.width) & ~value); break;
    case Kind::kRW: {
      uint64_t wmask = r.wmask;
      if (off == part_->ppd0_offset && part_->regs == Gen::kGen4 && !linktrn_latches_) wmask &= ~uint64_t{g4::kPpdLinkTrn};
      uint64_t v = (raw(off, r.width) & ~wmask) | (value & wmask);
      if (auto s = stuck_.find(off); s != stuck_.end()) v = (v & ~s->second.first) | (s->second.second & s->second.first);
      set_raw(off, r.width, v);
      break;
    }
    case Kind::kBell: {
      const unsigned bit = static_cast<unsigned>((off - 0x100) / 4);
      if ((value & 1) == 0) break;
      if (peer_ != nullptr && link_up())
        peer_->set_status_bits(uint64_t{1} << bit);
      else
        ++dropped_;
      break;
    }
    case Kind::kPeerSpad: {
      const std::size_t idx = part_->regs == Gen::kGen3 ? (off - 0x180) / 4 : (off - 0x8080) / 4;
      if (peer_ != nullptr && link_up())
        peer_->set_raw(kSpadBase + 4 * idx, 4, value);
      else
        ++dropped_;
      break;
    }
  }
  update_link();
}

Result<uint32_t> IntelNtbModel::cfg_read(uint32_t off, unsigned width) {
  for (uint32_t f : cfg_fail_)
    if (f >= off && f < off + width) return fail(Errc::kIoError, "pread config space at 0x%x: Input/output error", off);
  if ((width != 1 && width != 2 && width != 4) || off % width != 0 || off + width > cfg_.size())
    return fail(Errc::kInvalidArgument, "config read of %u bytes at 0x%x", width, off);
  if (part_->regs == Gen::kGen3 && off <= g3::kCfgLinkStatus && off + width > g3::kCfgLinkStatus) {
    const uint16_t s = lnksta();
    cfg_[g3::kCfgLinkStatus] = static_cast<uint8_t>(s);
    cfg_[g3::kCfgLinkStatus + 1] = static_cast<uint8_t>(s >> 8);
  }
  uint32_t v = 0;
  for (unsigned i = 0; i < width; ++i) v |= uint32_t{cfg_[off + i]} << (8 * i);
  return v;
}

Result<void> IntelNtbModel::cfg_write(uint32_t off, unsigned width, uint32_t value) {
  if (off == ntb::pci::kCommand && width == 2) {
    cfg_[off] = static_cast<uint8_t>(value);
    cfg_[off + 1] = static_cast<uint8_t>(value >> 8);
    return {};
  }
  violations_.push_back("config write of " + std::to_string(width) + " bytes at " + hex(off));
  return {};
}

IntelNtbModel::Translation IntelNtbModel::translation(unsigned widx) const {
  Translation t;
  const uint64_t base = widx == 0 ? spec_.bar2_addr : spec_.bar4_addr;
  const uint64_t bar_size = widx == 0 ? spec_.bar2_size : spec_.bar4_size;
  const uint64_t xbase = raw(0x10 + 0x10 * widx, 8);
  const uint64_t xlmt = raw(0x18 + 0x10 * widx, 8);
  if (xlmt <= base || xlmt > base + bar_size) return t;
  t.xlat = xbase;
  t.size = xlmt - base;
  if (part_->regs == Gen::kGen3) {
    const uint64_t em_base = raw(0x4518 + 8 * widx, 8) & ntb::pci::kBarAddrMask;
    const uint64_t em_lmt = raw(0x4018 + 0x10 * widx, 8);
    t.open = em_lmt == em_base + t.size;
  } else {
    t.open = (uint64_t{1} << raw(0x74 + 2 * widx, 2)) == t.size;
  }
  return t;
}

void connect_b2b(IntelNtbModel& a, IntelNtbModel& b) {
  auto c = std::make_shared<IntelNtbModel::Cable>();
  c->a = &a;
  c->b = &b;
  c->countdown = a.spec_.train_polls;
  a.cable_ = c;
  b.cable_ = c;
  a.peer_ = &b;
  b.peer_ = &a;
}

}  // namespace pbx::test
