// The Switchtec model: construction, GAS access routing and register checks, the control
// blocks' lock/configure state machine and its validation. Doorbells, messages and the data
// path are in switchtec_model_paths.cpp.
#include "support/ntb/switchtec_model.h"

#include <bit>
#include <cstdio>
#include <cstring>

namespace pbx::test {

namespace sw = ntb::switchtec;

namespace {

std::string hex(uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

uint64_t width_mask(unsigned w) { return w >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * w)) - 1; }

}  // namespace

SwitchtecModelSpec SwitchtecModelSpec::mesh(unsigned n) {
  SwitchtecModelSpec s;
  s.partition_count = static_cast<uint8_t>(n);
  s.partitions.resize(n);
  const uint64_t all = (uint64_t{1} << n) - 1;
  for (unsigned p = 0; p < n; ++p) s.partitions[p].targets = all & ~(uint64_t{1} << p);
  return s;
}

SwitchtecModelSpec SwitchtecModelSpec::linux_pair() {
  SwitchtecModelSpec s;
  s.partition_count = 2;
  s.partitions.resize(2);
  return s;
}

SwitchtecModel::SwitchtecModel(SwitchtecModelSpec spec) : spec_(std::move(spec)), gas_(sw::kGasMinSize, 0) {
  spec_.partitions.resize(spec_.partition_count);
  blocks_.resize(sw::kMaxPartitions);
  // NTB info: the same for every host except partition_id and requester_id (answered per port).
  uint64_t ep_map = 0;
  for (unsigned p = 0; p < spec_.partition_count; ++p)
    if (spec_.partitions[p].nt) ep_map |= uint64_t{1} << p;
  const std::size_t info = sw::info_offset();
  set_raw(info + 0x00, 1, spec_.partition_count);
  set_raw(info + 0x04, 4, ep_map & 0xffffffffu);
  set_raw(info + 0x08, 4, ep_map >> 32);
  for (unsigned p = 0; p < spec_.partition_count; ++p) {
    SwitchtecPartitionSpec& ps = spec_.partitions[p];
    if (ps.host_bridge == 0) ps.host_bridge = static_cast<uint16_t>(0x0100 * (p + 1));
    if (ps.link == 0) ps.link = 0x2000 | 4 | (8 << 4);
    set_raw(info + 0x20 + 0x10 * p, 4, ps.xlink);
    set_raw(info + 0x24 + 0x10 * p, 4, ps.targets & 0xffffffffu);
    set_raw(info + 0x28 + 0x10 * p, 4, ps.targets >> 32);
    // Partition config: the virtual EP's PFF is 10 + partition; its CSR holds the link.
    const uint32_t pff = 10 + p;
    set_raw(sw::part_cfg_offset(p) + 0x14, 4, pff);
    set_raw(sw::part_cfg_offset(p) + 0x100, 2, 0);
    set_raw(sw::pff_csr_offset(pff) + 0x00, 2, spec_.vendor);
    set_raw(sw::pff_csr_offset(pff) + 0x02, 2, spec_.device);
    set_raw(sw::pff_csr_offset(pff) + 0x74, 4, uint32_t{ps.link} << 16);
    // Control block: configured sizes, VALID BARs.
    const std::size_t c = sw::ctrl_offset(p);
    set_raw(c + 0x14, 2, ps.lut_entries);
    set_raw(c + 0x1c, 2, ps.rid_entries);
    for (unsigned b = 0; b < 6; ++b)
      if (ps.bar_valid[b]) set_raw(c + 0x40 + 0x10 * b, 4, sw::kBarValid);
    Block& k = blocks_[p];
    k.active.assign(gas_.begin() + static_cast<std::ptrdiff_t>(c),
                    gas_.begin() + static_cast<std::ptrdiff_t>(c + sw::kCtrlStride));
  }
  for (unsigned p = 0; p < spec_.partition_count; ++p) ports_.push_back(std::make_unique<Port>(*this, p));
}

SwitchtecModel::~SwitchtecModel() = default;

ntb::switchtec::SwitchtecNtb::AttachParams SwitchtecModel::attach_params(unsigned partition, const Clock& clock,
                                                                         ntb::Pacer& pacer) {
  ntb::switchtec::SwitchtecNtb::AttachParams a;
  char name[32];
  std::snprintf(name, sizeof name, "0000:%02x:00.1", partition + 1);
  a.name = name;
  a.gas_model = &port(partition);
  a.cfg = &port(partition);
  a.bar_size = spec_.partitions.at(partition).bar_size;
  a.clock = &clock;
  a.pacer = &pacer;
  return a;
}

uint64_t SwitchtecModel::raw(std::size_t off, unsigned width) const {
  uint64_t v = 0;
  std::memcpy(&v, gas_.data() + off, width);
  return v;
}

void SwitchtecModel::set_raw(std::size_t off, unsigned width, uint64_t v) { std::memcpy(gas_.data() + off, &v, width); }

uint64_t SwitchtecModel::peek(std::size_t gas_off, unsigned width) const {
  std::lock_guard lock(mu_);
  return raw(gas_off, width);
}

void SwitchtecModel::set_link_active(unsigned partition, bool active) {
  std::lock_guard lock(mu_);
  const auto pff = static_cast<uint32_t>(raw(sw::part_cfg_offset(partition) + 0x14, 4));
  set_raw(sw::pff_csr_offset(pff) + 0x74, 4, active ? uint32_t{spec_.partitions.at(partition).link} << 16 : 0);
}

void SwitchtecModel::on_change(std::function<void()> f) {
  std::lock_guard lock(mu_);
  on_change_ = std::move(f);
}

std::vector<uint8_t> SwitchtecModel::gas_image(unsigned partition) const {
  std::lock_guard lock(mu_);
  std::vector<uint8_t> img = gas_;
  for (unsigned p = 0; p < spec_.partition_count; ++p) {  // status registers as a reader sees them
    const uint32_t st = blocks_[p].status | spec_.status_high;
    std::memcpy(img.data() + sw::ctrl_offset(p), &st, 4);
  }
  img[sw::info_offset() + 1] = static_cast<uint8_t>(partition);
  const uint16_t rid = spec_.partitions.at(partition).host_bridge;
  std::memcpy(img.data() + sw::info_offset() + 0x0c, &rid, 2);
  return img;
}

void SwitchtecModel::force_lock(unsigned partition, unsigned owner) {
  std::lock_guard lock(mu_);
  Block& k = blk(partition);
  k.status = sw::kStatusLocked;
  k.owner = static_cast<int>(owner);
}

void SwitchtecModel::set_lut_entries(unsigned partition, uint16_t n) {
  std::lock_guard lock(mu_);
  set_raw(sw::ctrl_offset(partition) + 0x14, 2, n);
  spec_.partitions.at(partition).lut_entries = n;
}

// ---- register map ----------------------------------------------------------------------------

unsigned SwitchtecModel::ctrl_width(std::size_t rel, bool* config, bool* ro) const {
  *config = false;
  *ro = false;
  switch (rel) {
    case 0x00: *ro = true; return 4;   // partition_status
    case 0x04: return 4;               // partition_op
    case 0x08: *config = true; return 4;  // partition_ctrl
    case 0x0c: *config = true; return 4;  // bar_setup
    case 0x10: case 0x18: case 0x20: *ro = true; return 4;  // error registers
    case 0x14: case 0x16: case 0x1c: case 0x1e: *ro = true; return 2;
    default: break;
  }
  *config = true;
  if (rel >= 0x40 && rel < 0xa0) {  // bar_entry: ctl, win_size, xlate_addr
    const std::size_t f = (rel - 0x40) % 0x10;
    return f == 8 ? 8 : (f == 0 || f == 4) ? 4 : 0;
  }
  if (rel >= 0xa0 && rel < 0x100) return (rel - 0xa0) % 0x10 == 0 ? 4 : 0;
  if (rel >= 0x400 && rel < 0xc00) return rel % 4 == 0 ? 4 : 0;
  if (rel >= 0x1000 && rel < 0x2000) return rel % 8 == 0 ? 8 : 0;
  *config = false;
  return 0;
}

unsigned SwitchtecModel::dbmsg_width(std::size_t rel) const {
  if (rel >= 0x1000 && rel < 0x1020) return rel % 8 == 0 ? 8 : 0;
  if (rel >= 0x1020 && rel < 0x1060) return 1;
  if (rel == 0x1060) return 4;
  if (rel >= 0x1068 && rel < 0x1088) return rel % 4 == 0 ? 4 : 0;
  if (rel >= 0x1088 && rel < 0x10a8) return (rel - 0x1088) % 8 == 0 ? 8 : ((rel - 0x1088) % 8 == 4 ? 1 : 0);
  return 0;
}

uint64_t SwitchtecModel::Port::mmio_read(std::size_t off, unsigned width) {
  std::lock_guard lock(sw_->mu_);
  return sw_->read(partition_, off, width);
}
void SwitchtecModel::Port::mmio_write(std::size_t off, unsigned width, uint64_t v) {
  std::lock_guard lock(sw_->mu_);
  sw_->write(partition_, off, width, v);
}

Result<uint32_t> SwitchtecModel::Port::cfg_read(uint32_t off, unsigned width) {
  std::lock_guard lock(sw_->mu_);
  const auto& s = sw_->spec_;
  uint8_t cfg[64] = {};
  auto put = [&](unsigned o, unsigned w, uint64_t v) {
    for (unsigned i = 0; i < w; ++i) cfg[o + i] = static_cast<uint8_t>(v >> (8 * i));
  };
  put(0x00, 2, s.vendor);
  put(0x02, 2, s.device);
  put(0x04, 2, s.command);
  put(0x08, 4, s.class_code << 8);
  if ((width != 1 && width != 2 && width != 4) || off % width != 0 || off + width > sizeof cfg)
    return fail(Errc::kInvalidArgument, "model config read of %u bytes at 0x%x", width, off);
  uint32_t v = 0;
  for (unsigned i = 0; i < width; ++i) v |= uint32_t{cfg[off + i]} << (8 * i);
  return v;
}

Result<void> SwitchtecModel::Port::cfg_write(uint32_t off, unsigned width, uint32_t) {
  std::lock_guard lock(sw_->mu_);
  sw_->violation("config write of " + std::to_string(width) + " bytes at " + hex(off));
  return {};
}

uint64_t SwitchtecModel::read(unsigned who, std::size_t off, unsigned width) {
  const std::size_t info = sw::info_offset();
  const std::string at = "GAS+" + hex(off) + " (" + std::to_string(width) + " bytes, host of partition " +
                         std::to_string(who) + ")";
  if (off >= info && off < info + sw::InfoRegs::kSize) {
    const std::size_t rel = off - info;
    const bool ok = (rel <= 1 && width == 1) || ((rel == 4 || rel == 8) && width == 4) || (rel == 0x0c && width == 2) ||
                    (rel >= 0x20 && (rel - 0x20) % 0x10 < 0xc && rel % 4 == 0 && width == 4);
    if (!ok) {
      violation("read of unknown NTB info register " + at);
      return 0;
    }
    if (rel == 1) return who;
    if (rel == 0x0c) return spec_.partitions[who].host_bridge;
    return raw(off, width);
  }
  if (off >= sw::kGasPartCfgOffset && off < sw::kGasNtbOffset) {
    const std::size_t rel = (off - sw::kGasPartCfgOffset) % sw::kPartCfgStride;
    if (!((rel == 0x14 && width == 4) || (rel == 0x100 && width == 2))) violation("read of unknown part_cfg register " + at);
    return raw(off, width);
  }
  if (off >= sw::ctrl_offset(0) && off < sw::dbmsg_offset(0)) {
    const unsigned p = static_cast<unsigned>((off - sw::ctrl_offset(0)) / sw::kCtrlStride);
    const std::size_t rel = (off - sw::ctrl_offset(0)) % sw::kCtrlStride;
    bool config, ro;
    if (ctrl_width(rel, &config, &ro) != width) {
      violation("read of unknown control register " + at);
      return 0;
    }
    if (rel == 0x00) return status_read(p);
    return raw(off, width);
  }
  if (off >= sw::dbmsg_offset(0) && off < sw::dbmsg_offset(sw::kMaxPartitions)) {
    const std::size_t rel = (off - sw::dbmsg_offset(0)) % sw::kDbMsgStride;
    if (dbmsg_width(rel) != width || rel == 0x1000) {
      violation("read of unknown or write-only doorbell/message register " + at);
      return 0;
    }
    return raw(off, width);
  }
  if (off >= sw::kGasPffCsrOffset && off < sw::kGasMinSize) {
    const std::size_t rel = (off - sw::kGasPffCsrOffset) % sw::kPffCsrStride;
    if (!((rel <= 2 && width == 2) || (rel == 0x74 && width == 4))) violation("read of unknown PFF CSR register " + at);
    return raw(off, width);
  }
  violation("read of unmodelled " + at);
  return 0;
}

void SwitchtecModel::write(unsigned who, std::size_t off, unsigned width, uint64_t v) {
  const std::string at = "GAS+" + hex(off) + " (" + std::to_string(width) + " bytes, host of partition " +
                         std::to_string(who) + ")";
  v &= width_mask(width);
  if (off >= sw::ctrl_offset(0) && off < sw::dbmsg_offset(0)) {
    const unsigned p = static_cast<unsigned>((off - sw::ctrl_offset(0)) / sw::kCtrlStride);
    const std::size_t rel = (off - sw::ctrl_offset(0)) % sw::kCtrlStride;
    bool config, ro;
    if (ctrl_width(rel, &config, &ro) != width) return violation("write of unknown control register " + at);
    if (ro) return violation("write to read-only control register " + at);
    if (rel == 0x04) return op_write(who, p, static_cast<uint32_t>(v));
    Block& k = blk(p);
    if (k.status != sw::kStatusLocked || k.owner != static_cast<int>(who))
      return violation("write to partition " + std::to_string(p) + "'s control block without holding its lock: " + at +
                       " (dropped)");
    if (rel >= 0x40 && rel < 0xa0 && (rel - 0x40) % 0x10 == 0) {  // bar ctl: VALID is the configuration's
      const unsigned b = static_cast<unsigned>((rel - 0x40) / 0x10);
      v = (v & ~uint64_t{sw::kBarValid}) | (spec_.partitions[p].bar_valid[b] ? sw::kBarValid : 0);
    }
    if (rel >= 0x400 && rel < 0xc00 && (v & sw::kReqIdEn) != 0) {  // the switch assigns a proxy ID
      const unsigned i = static_cast<unsigned>((rel - 0x400) / 4);
      v = (v & 0xffff0001u) | uint64_t{static_cast<uint8_t>(p << 3 | (i & 7))} << sw::kProxyIdShift;
    }
    return set_raw(off, width, v);
  }
  if (off >= sw::dbmsg_offset(0) && off < sw::dbmsg_offset(sw::kMaxPartitions)) {
    const unsigned p = static_cast<unsigned>((off - sw::dbmsg_offset(0)) / sw::kDbMsgStride);
    const std::size_t rel = (off - sw::dbmsg_offset(0)) % sw::kDbMsgStride;
    if (dbmsg_width(rel) != width) return violation("write of unknown doorbell/message register " + at);
    if (p != who) return violation("write to partition " + std::to_string(p) + "'s doorbell/message block " + at);
    switch (rel) {
      case 0x1000: return ring(who, v);
      case 0x1010: return set_raw(off, 8, raw(off, 8) & ~v);  // idb: write 1 to clear
      default: break;
    }
    if (rel >= 0x1068 && rel < 0x1088) {
      if ((rel - 0x1068) % 8 != 0) return violation("write to read-only omsg status " + at);
      set_raw(off, 4, v);
      return send_msg(who, static_cast<unsigned>((rel - 0x1068) / 8), static_cast<uint32_t>(v));
    }
    if (rel >= 0x1088 && rel < 0x10a8) {
      if (width == 1) return set_raw(off, 1, raw(off, 1) & ~(v & 1));  // status byte: write 1 to clear
      uint64_t cur = raw(off, 8);
      if ((v & sw::kImsgStatus) != 0) cur &= ~sw::kImsgStatus;
      cur = (cur & ~sw::kImsgMask) | (v & sw::kImsgMask);
      return set_raw(off, 8, cur);
    }
    return set_raw(off, width, v);
  }
  violation("write to read-only or unmodelled " + at);
}

// ---- control blocks --------------------------------------------------------------------------

uint32_t SwitchtecModel::status_read(unsigned p) {
  Block& k = blk(p);
  if (k.countdown > 0 && !k.stalled && --k.countdown == 0) finish(p);
  return k.status | spec_.status_high;
}

void SwitchtecModel::op_write(unsigned who, unsigned p, uint32_t op) {
  Block& k = blk(p);
  const std::string part = "partition " + std::to_string(p);
  switch (op) {
    case sw::kOpLock:
      if (k.status == sw::kStatusNormal) {
        k.status = sw::kStatusLocking;
        k.owner = static_cast<int>(who);
        k.countdown = spec_.lock_polls;
        if (k.countdown == 0) finish(p);
      } else if (k.owner != static_cast<int>(who)) {
        ++conflicts_;
      }
      return;
    case sw::kOpCfg:
      if (k.status != sw::kStatusLocked || k.owner != static_cast<int>(who))
        return violation("configure of " + part + " by the host of partition " + std::to_string(who) +
                         " without holding the lock");
      k.status = sw::kStatusConfiguring;
      k.countdown = spec_.cfg_polls;
      if (k.countdown == 0) finish(p);
      return;
    case sw::kOpReset:
      k.status = sw::kStatusResetting;
      k.countdown = 1;
      return;
    default: violation("unknown partition_op " + hex(op) + " on " + part);
  }
}

void SwitchtecModel::finish(unsigned p) {
  Block& k = blk(p);
  const std::size_t c = sw::ctrl_offset(p);
  switch (k.status) {
    case sw::kStatusLocking: k.status = sw::kStatusLocked; break;
    case sw::kStatusConfiguring:
      if (validate(p)) {
        k.status = sw::kStatusNormal;
        k.owner = -1;
        ++k.configures;
        std::memcpy(k.active.data(), gas_.data() + c, sw::kCtrlStride);
        if (on_change_) on_change_();
      } else {
        k.status = sw::kStatusLocked;
      }
      break;
    case sw::kStatusResetting:
      k.status = sw::kStatusNormal;
      k.owner = -1;
      std::memcpy(gas_.data() + c, k.active.data(), sw::kCtrlStride);
      if (on_change_) on_change_();
      break;
    default: break;
  }
}

uint64_t SwitchtecModel::lut_size_of(unsigned p) const {
  const std::size_t c = sw::ctrl_offset(p);
  for (unsigned b = 0; b < 6; ++b) {
    const auto ctl = static_cast<uint32_t>(raw(c + 0x40 + 0x10 * b, 4));
    if ((ctl & sw::kBarValid) != 0 && (ctl & sw::kBarLutWinEn) != 0)
      return uint64_t{1} << ((ctl & sw::kBarLutSizeMask) >> sw::kBarLutSizeShift);
  }
  return sw::kLinuxLutSize;
}

bool SwitchtecModel::validate(unsigned p) {
  const std::size_t c = sw::ctrl_offset(p);
  const SwitchtecPartitionSpec& ps = spec_.partitions[p];
  uint32_t bar_error = 0, lut_error = 0, rid_error = 0;
  auto nt = [&](unsigned q) { return q < spec_.partition_count && spec_.partitions[q].nt; };
  const uint64_t lut_size = lut_size_of(p);
  for (unsigned i = 0; i < sw::kLutEntries && lut_error == 0; ++i) {
    const uint64_t e = raw(c + 0x1000 + 8 * i, 8);
    if ((e & sw::kLutEn) == 0) continue;
    const auto part = static_cast<unsigned>((e & sw::kLutPartitionMask) >> sw::kLutPartitionShift);
    if (i >= ps.lut_entries) lut_error = kModelLutOutOfRange;
    else if (!nt(part)) lut_error = kModelLutBadPartition;
    else if (((e & ~uint64_t{0xfff}) & (lut_size - 1)) != 0) lut_error = kModelLutMisaligned;
  }
  for (unsigned b = 0; b < 6 && bar_error == 0; ++b) {
    const auto ctl = static_cast<uint32_t>(raw(c + 0x40 + 0x10 * b, 4));
    if ((ctl & (sw::kBarDirWinEn | sw::kBarLutWinEn)) == 0) continue;
    if (!ps.bar_valid[b]) {
      bar_error = kModelBarNotValid;
      break;
    }
    uint64_t lut_bytes = 0;
    if ((ctl & sw::kBarLutWinEn) != 0) {
      lut_bytes = (uint64_t{1} << ((ctl & sw::kBarLutSizeMask) >> sw::kBarLutSizeShift)) *
                  ((ctl >> sw::kBarLutCountShift) + 1);
      if (lut_bytes > ps.bar_size[b]) bar_error = kModelLutExceedsBar;
    }
    if ((ctl & sw::kBarDirWinEn) != 0 && bar_error == 0) {
      const auto ws = static_cast<uint32_t>(raw(c + 0x44 + 0x10 * b, 4));
      const uint64_t size = uint64_t{static_cast<uint32_t>(raw(c + 0xa0 + 0x10 * b, 4))} << 32 |
                            (ws & sw::kWinSizeAddrMask);
      const uint64_t xlate = raw(c + 0x48 + 0x10 * b, 8);
      if (size < 4096 || !std::has_single_bit(size) || (ws & sw::kWinSizeLog2Mask) != static_cast<uint32_t>(std::countr_zero(size)) ||
          lut_bytes + size > ps.bar_size[b])
        bar_error = kModelDirectBadSize;
      else if (((xlate & ~uint64_t{0xfff}) & (size - 1)) != 0)
        bar_error = kModelDirectMisaligned;
      else if (!nt(static_cast<unsigned>(xlate & 0x3f)))
        bar_error = kModelDirectBadPartition;
    }
  }
  for (unsigned i = ps.rid_entries; i < sw::kRidEntries; ++i)
    if ((raw(c + 0x400 + 4 * i, 4) & sw::kReqIdEn) != 0) rid_error = kModelRidOutOfRange;
  set_raw(c + 0x10, 4, bar_error);
  set_raw(c + 0x18, 4, lut_error);
  set_raw(c + 0x20, 4, rid_error);
  return bar_error == 0 && lut_error == 0 && rid_error == 0;
}

}  // namespace pbx::test
