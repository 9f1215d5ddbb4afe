#include "scan_ntb.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "pbx/base/unique_fd.h"
#include "pbx/ntb/amd/regs.h"
#include "pbx/ntb/switchtec/topology.h"

namespace pbx::probe {
namespace {

namespace sw = ntb::switchtec;

// BAR0 mapped read-only from resourceN: at most `want` bytes, at least `need`.
Result<MmapRegion> map_bar0(const std::string& path, std::size_t need, std::size_t want) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno(errno, "open %s", path.c_str());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "stat %s", path.c_str());
  const std::size_t len = std::min(want, static_cast<std::size_t>(st.st_size));
  if (len < need)
    return fail(Errc::kNotSupported, "%s is %zu bytes, smaller than the %zu bytes of registers needed", path.c_str(),
                static_cast<std::size_t>(st.st_size), need);
  void* p = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) return fail_errno(errno, "mmap %s", path.c_str());
  return MmapRegion(p, len);
}

std::string running_kernel() {
  utsname u{};
  return ::uname(&u) == 0 ? u.release : "";
}

}  // namespace

void read_switchtec(const Sysfs& sys, bool decodes_memory, const std::string& kernel_release, DeviceReport& r) {
  SwitchtecReport sr;
  sr.alias = sw::check_alias_quirk(r.vendor, r.device, kernel_release.empty() ? running_kernel() : kernel_release);
  if (!decodes_memory) {
    r.notes.push_back("partitions: in BAR0 (the switch's GAS), and the function's memory decoding is off (bind it "
                      "and open it with postbox, or read again while it is in use)");
    r.switchtec = std::move(sr);
    return;
  }
  auto map = map_bar0(sys.device_dir(r.address) + "/resource0", sw::dbmsg_offset(sw::kMaxPartitions), sw::kGasMinSize);
  if (!map) {
    r.notes.push_back("partitions: in BAR0 (the switch's GAS), which could not be read (reading it needs root): " +
                      map.error().message());
    r.switchtec = std::move(sr);
    return;
  }
  // Read-only: the view only ever loads (RegWindow's reads are single aligned loads).
  auto gas = sw::GasView::over(std::span<std::byte>(map->data(), map->size()), r.address);
  if (!gas) {
    r.notes.push_back("partitions: " + gas.error().message());
    r.switchtec = std::move(sr);
    return;
  }
  sr.info = sw::read_info(*gas);
  if (auto t = sw::decode_topology(sr.info, r.address)) {
    sr.peers = t->peers;
    if (t->crosslink)
      sr.problem = r.address + ": partition " + std::to_string(t->self) +
                   " reaches its peers through a crosslink partition (two switches back to back): postbox does not "
                   "drive crosslink yet";
  } else {
    sr.problem = t.error().message();
  }
  const unsigned count = sr.info.partition_count <= sw::kMaxPartitions ? sr.info.partition_count : 0;
  for (unsigned p = 0; p < count; ++p) {
    SwitchtecPartitionReport pr;
    pr.id = p;
    pr.nt = (sr.info.ep_map >> p & 1) != 0;
    pr.targets = sr.info.targets[p];
    pr.xlink = sr.info.xlink[p] != 0;
    if (pr.nt) {
      pr.ctrl = sw::read_ctrl(*gas, p);
      if (auto l = sw::read_partition_link(*gas, p))
        pr.link = *l;
      else
        pr.link_note = l.error().message();
    }
    sr.partitions.push_back(std::move(pr));
  }
  // The LUT entries of our own partition: none means no peer can reach us (switchtec-kernel#109).
  if (sr.problem.empty() && sr.info.partition_id < count) {
    const auto& own = sr.partitions[sr.info.partition_id];
    if (own.ctrl) {
      auto plan = sw::plan_luts(sr.info, sr.info.partition_id, own.ctrl->lut_table_entries, r.address);
      if (!plan) sr.problem = plan.error().message();
    }
  }
  r.switchtec = std::move(sr);
}

void read_amd(const Sysfs& sys, bool decodes_memory, DeviceReport& r) {
  if (!decodes_memory) {
    r.notes.push_back("side and READY: in BAR0, and the device's memory decoding is off (bind it and open it with "
                      "postbox, or read again while it is in use)");
    return;
  }
  auto map = map_bar0(sys.device_dir(r.address) + "/resource0", ntb::amd::kBar0Size, ntb::amd::kBar0Size);
  if (!map) {
    r.notes.push_back("side and READY: in BAR0, which could not be read (reading it needs root): " +
                      map.error().message());
    return;
  }
  auto load = [&](std::size_t off) {
    // One MMIO read; nothing is ordered against it.
    return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(map->data() + off)).load(std::memory_order_relaxed);  // NOLINT
  };
  const uint32_t side = load(ntb::amd::Regs::sideinfo.offset);
  if (side == 0xffffffffu) {
    r.notes.push_back("side and READY: BAR0 reads all ones (device in D3 or not answering)");
    return;
  }
  AmdReport a;
  a.sideinfo = side;
  a.side = (side & ntb::amd::kSideMask) != 0 ? ntb::amd::Side::kSecondary : ntb::amd::Side::kPrimary;
  a.ready = (side & ntb::amd::kSideReady) != 0;
  a.peer_ready = (load(ntb::amd::Regs::peer_sideinfo.offset) & ntb::amd::kSideReady) != 0;
  r.amd = a;
}

}  // namespace pbx::probe
