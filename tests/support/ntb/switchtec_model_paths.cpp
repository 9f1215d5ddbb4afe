// The Switchtec model: doorbells, message registers and the data path through the
// translations of the control blocks (see switchtec_model.h for the semantics).
#include <cstring>

#include "support/ntb/switchtec_model.h"

namespace pbx::test {

namespace sw = ntb::switchtec;

void SwitchtecModel::ring(unsigned from, uint64_t bits) {
  bits &= raw(sw::dbmsg_offset(from) + 0x1008, 8);  // odb_mask: the bits this partition may ring
  for (unsigned p = 0; p < spec_.partition_count; ++p) {
    if (p == from || !spec_.partitions[p].nt) continue;
    const std::size_t idb = sw::dbmsg_offset(p) + 0x1010;
    set_raw(idb, 8, raw(idb, 8) | bits);
  }
}

void SwitchtecModel::send_msg(unsigned from, unsigned idx, uint32_t v) {
  const uint8_t source = static_cast<uint8_t>(from << 2 | idx);
  for (unsigned p = 0; p < spec_.partition_count; ++p) {
    if (!spec_.partitions[p].nt) continue;
    const auto map = static_cast<uint32_t>(raw(sw::dbmsg_offset(p) + 0x1060, 4));
    for (unsigned k = 0; k < sw::kMsgRegs; ++k) {
      if (static_cast<uint8_t>(map >> (8 * k)) != source) continue;
      const std::size_t at = sw::dbmsg_offset(p) + 0x1088 + 8 * k;
      const uint64_t mask = raw(at, 8) & sw::kImsgMask;
      set_raw(at, 8, uint64_t{v} | sw::kImsgStatus | mask | uint64_t{from} << sw::kImsgSrcShift);
    }
  }
}

void SwitchtecModel::add_memory(unsigned partition, uint64_t iova, std::span<std::byte> mem) {
  std::lock_guard lock(mu_);
  memory_[partition].push_back(Memory{iova, mem});
  if (on_change_) on_change_();
}

void SwitchtecModel::remove_memory(unsigned partition, uint64_t iova) {
  std::lock_guard lock(mu_);
  auto& v = memory_[partition];
  std::erase_if(v, [&](const Memory& m) { return m.iova == iova; });
  if (on_change_) on_change_();
}

bool SwitchtecModel::drop(std::string why) {
  ++dropped_;
  last_drop_ = std::move(why);
  return false;
}

std::byte* SwitchtecModel::memory_at(unsigned partition, uint64_t addr, std::size_t len) {
  auto it = memory_.find(partition);
  if (it == memory_.end()) return nullptr;
  for (const Memory& m : it->second)
    if (addr >= m.iova && addr + len <= m.iova + m.mem.size()) return m.mem.data() + (addr - m.iova);
  return nullptr;
}

bool SwitchtecModel::translate(unsigned from, unsigned bar, uint64_t off, std::size_t len, unsigned* to,
                               uint64_t* addr) {
  const Block& k = blk(from);
  auto act = [&](std::size_t rel, unsigned w) {
    uint64_t v = 0;
    std::memcpy(&v, k.active.data() + rel, w);
    return v;
  };
  const std::string where = "partition " + std::to_string(from) + " BAR" + std::to_string(bar) + "+" +
                            std::to_string(off);
  if (bar >= 6 || !spec_.partitions[from].bar_valid[bar] || off + len > spec_.partitions[from].bar_size[bar])
    return drop(where + ": outside the NT BARs");
  const auto ctl = static_cast<uint32_t>(act(0x40 + 0x10 * bar, 4));
  uint64_t lut_bytes = 0;
  if ((ctl & sw::kBarLutWinEn) != 0) {
    const uint64_t size = uint64_t{1} << ((ctl & sw::kBarLutSizeMask) >> sw::kBarLutSizeShift);
    lut_bytes = size * ((ctl >> sw::kBarLutCountShift) + 1);
    if (off < lut_bytes) {
      if ((off % size) + len > size) return drop(where + ": crosses a LUT window boundary");
      const uint64_t e = act(0x1000 + 8 * (off / size), 8);
      if ((e & sw::kLutEn) == 0) return drop(where + ": LUT entry " + std::to_string(off / size) + " is off");
      *to = static_cast<unsigned>((e & sw::kLutPartitionMask) >> sw::kLutPartitionShift);
      *addr = (e & ~uint64_t{0xfff}) + off % size;
      return true;
    }
  }
  if ((ctl & sw::kBarDirWinEn) != 0) {
    const uint64_t size = act(0xa0 + 0x10 * bar, 4) << 32 | (act(0x44 + 0x10 * bar, 4) & sw::kWinSizeAddrMask);
    if (off >= lut_bytes && off + len <= lut_bytes + size) {
      const uint64_t xlate = act(0x48 + 0x10 * bar, 8);
      *to = static_cast<unsigned>(xlate & 0x3f);
      *addr = (xlate & ~uint64_t{0xfff}) + (off - lut_bytes);
      return true;
    }
  }
  return drop(where + ": no window translates it");
}

std::byte* SwitchtecModel::resolve(unsigned from, unsigned bar, uint64_t off, std::size_t len) {
  std::lock_guard lock(mu_);
  const std::size_t dropped = dropped_;
  bool rc_listed = false;
  for (unsigned i = 0; i < spec_.partitions[from].rid_entries && !rc_listed; ++i) {
    uint32_t e = 0;
    std::memcpy(&e, blk(from).active.data() + 0x400 + 4 * i, 4);
    rc_listed = (e & sw::kReqIdEn) != 0 && (e >> sw::kReqIdShift) == 0x0000;
  }
  unsigned to = 0;
  uint64_t addr = 0;
  std::byte* dst = nullptr;
  if (!rc_listed)
    drop("partition " + std::to_string(from) + ": requester 00:00.0 is not in its requester-ID table");
  else if (translate(from, bar, off, len, &to, &addr) && (dst = memory_at(to, addr, len)) == nullptr)
    drop("partition " + std::to_string(to) + ": no memory mapped at IOVA " + std::to_string(addr));
  dropped_ = dropped;
  return dst;
}

std::pair<unsigned, uint64_t> SwitchtecModel::lut_windows(unsigned p, unsigned bar) {
  std::lock_guard lock(mu_);
  uint32_t ctl = 0;
  std::memcpy(&ctl, blk(p).active.data() + 0x40 + 0x10 * bar, 4);
  if ((ctl & sw::kBarLutWinEn) == 0) return {0, 0};
  return {(ctl >> sw::kBarLutCountShift) + 1, uint64_t{1} << ((ctl & sw::kBarLutSizeMask) >> sw::kBarLutSizeShift)};
}

bool SwitchtecModel::write_through(unsigned from, unsigned bar, uint64_t off, const void* data, std::size_t len) {
  std::lock_guard lock(mu_);
  // The switch forwards host stores only from requester IDs in the source partition's table.
  bool rc_listed = false;
  for (unsigned i = 0; i < spec_.partitions[from].rid_entries && !rc_listed; ++i) {
    uint32_t e = 0;
    std::memcpy(&e, blk(from).active.data() + 0x400 + 4 * i, 4);
    rc_listed = (e & sw::kReqIdEn) != 0 && (e >> sw::kReqIdShift) == 0x0000;
  }
  if (!rc_listed)
    return drop("partition " + std::to_string(from) + ": requester 00:00.0 is not in its requester-ID table");
  unsigned to = 0;
  uint64_t addr = 0;
  if (!translate(from, bar, off, len, &to, &addr)) return false;
  std::byte* dst = memory_at(to, addr, len);
  if (dst == nullptr)
    return drop("partition " + std::to_string(to) + ": no memory mapped at IOVA " + std::to_string(addr));
  std::memcpy(dst, data, len);
  return true;
}

bool SwitchtecModel::read_through(unsigned from, unsigned bar, uint64_t off, void* data, std::size_t len) {
  std::lock_guard lock(mu_);
  unsigned to = 0;
  uint64_t addr = 0;
  if (!translate(from, bar, off, len, &to, &addr)) return false;
  std::byte* src = memory_at(to, addr, len);
  if (src == nullptr) return drop("partition " + std::to_string(to) + ": no memory at IOVA " + std::to_string(addr));
  std::memcpy(data, src, len);
  return true;
}

}  // namespace pbx::test
