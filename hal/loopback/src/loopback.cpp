#include "pbx/hal/loopback.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older C libraries lack the name
#endif

namespace pbx::hal {

namespace {

constexpr uint64_t kCtlMagic = 0x4c54434f42584250ull;  // "PBXBOCTL"
constexpr uint32_t kCtlVersion = 1;
constexpr size_t kWindowAlign = 2u << 20;

// Control file layout for n nodes: header line, link words [dst][src], scratchpads
// [dst][src][16], doorbell lines [dst][src] (bits + futex sequence, one cache line each).
struct CtlLayout {
  size_t link_off, spad_off, db_off, total;
  explicit CtlLayout(uint16_t n)
      : link_off(64),
        spad_off(link_off + ((size_t{n} * n * 8 + 63) & ~size_t{63})),
        db_off(spad_off + ((size_t{n} * n * LoopbackJob::kSpadCount * 4 + 63) & ~size_t{63})),
        total(((db_off + size_t{n} * n * 64) + 4095) & ~size_t{4095}) {}
};

struct CtlHeader {
  uint64_t magic;
  uint32_t version;
  uint16_t nodes;
  uint16_t spad_count;
  uint64_t window_size;
  uint64_t reserved[5];
};
static_assert(sizeof(CtlHeader) == 64);

// Link word: bit 0 = up, bits 32..63 = generation (bumped on every transition).
constexpr uint64_t link_word(bool up, uint32_t gen) { return (uint64_t{gen} << 32) | (up ? 1u : 0u); }

bool valid_job_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string ctl_path(const std::string& dir, const std::string& job) { return dir + "/pbx." + job + ".ctl"; }
std::string node_path(const std::string& dir, const std::string& job, unsigned node) {
  return dir + "/pbx." + job + ".node" + std::to_string(node);
}

std::string resolve_dir(const std::string& dir) { return dir.empty() ? LoopbackJob::default_dir() : dir; }

Result<MmapRegion> map_file(int fd, size_t len, off_t off, int prot, const std::string& what) {
  void* p = ::mmap(nullptr, len, prot, MAP_SHARED, fd, off);
  if (p == MAP_FAILED) return fail_errno(errno, "mmap %s (%zu bytes at offset %lld)", what.c_str(), len,
                                         static_cast<long long>(off));
  return MmapRegion(p, len);
}

template <class T>
std::atomic_ref<T> shm_word(std::byte* base, size_t off) {
  return std::atomic_ref<T>(*reinterpret_cast<T*>(base + off));  // NOLINT: shared control memory
}

// Opens and maps the control file; checks its header.
Result<MmapRegion> open_ctl(const std::string& dir, const std::string& job, CtlHeader* hdr_out) {
  const std::string path = ctl_path(dir, job);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT)
      return fail(Errc::kNoDevice,
                  "loopback job '%s' does not exist (no %s): start the program with pbxrun, or create "
                  "the job with pbx::hal::LoopbackJob::create",
                  job.c_str(), path.c_str());
    return fail_errno(errno, "open %s", path.c_str());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "fstat %s", path.c_str());
  if (static_cast<size_t>(st.st_size) < sizeof(CtlHeader))
    return fail(Errc::kProtocolError, "%s is truncated (%lld bytes): remove the job and start again", path.c_str(),
                static_cast<long long>(st.st_size));
  auto m = map_file(fd.get(), static_cast<size_t>(st.st_size), 0, PROT_READ | PROT_WRITE, path);
  if (!m) return tl::unexpected(m.error());
  CtlHeader h;
  // Acquire: pairs with the release store of the magic in LoopbackJob::create().
  const uint64_t magic = shm_word<uint64_t>(m->data(), 0).load(std::memory_order_acquire);
  std::memcpy(&h, m->data(), sizeof h);
  h.magic = magic;
  if (h.magic != kCtlMagic || h.version != kCtlVersion || h.nodes == 0 || h.nodes > LoopbackJob::kMaxNodes ||
      CtlLayout(h.nodes).total > static_cast<size_t>(st.st_size))
    return fail(Errc::kProtocolError, "%s is not a postbox loopback control file of this version", path.c_str());
  *hdr_out = h;
  return m;
}

}  // namespace

// ------------------------------------------------------------------------------------------
// LoopbackJob

std::string LoopbackJob::default_dir() {
  const char* d = std::getenv("PBX_SHM_DIR");
  return (d != nullptr && *d != '\0') ? d : "/dev/shm";
}

Result<LoopbackJob> LoopbackJob::create(const LoopbackJobSpec& in) {
  LoopbackJobSpec spec = in;
  spec.dir = resolve_dir(spec.dir);
  if (!valid_job_name(spec.name))
    return fail(Errc::kInvalidArgument, "job name '%s' is invalid: use 1-64 characters of [A-Za-z0-9_.-]",
                spec.name.c_str());
  if (spec.nodes < 1 || spec.nodes > kMaxNodes)
    return fail(Errc::kInvalidArgument, "nodes = %u is out of range: a loopback job has 1..%u nodes", spec.nodes,
                kMaxNodes);
  if (spec.window_size < kWindowAlign || spec.window_size % kWindowAlign != 0 || spec.window_size > (64ull << 30))
    return fail(Errc::kInvalidArgument,
                "window_size = %zu is invalid: use a multiple of 2 MiB between 2 MiB and 64 GiB", spec.window_size);

  LoopbackJob job(spec);  // removes whatever was created if we fail below
  const CtlLayout L(spec.nodes);
  {
    const std::string path = ctl_path(spec.dir, spec.name);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) {
      if (errno == EEXIST) {
        job.owned_ = false;  // not ours: do not remove it
        return fail(Errc::kBusy,
                    "loopback job '%s' already exists (%s): another job uses this name, or an earlier one "
                    "crashed; remove it with `pbxrun --cleanup %s`",
                    spec.name.c_str(), path.c_str(), spec.name.c_str());
      }
      if (errno == ENOENT)
        return fail(Errc::kNoDevice, "shared-memory directory %s does not exist: mount tmpfs there or set PBX_SHM_DIR",
                    spec.dir.c_str());
      return fail_errno(errno, "create %s", path.c_str());
    }
    if (::ftruncate(fd.get(), static_cast<off_t>(L.total)) != 0) return fail_errno(errno, "ftruncate %s", path.c_str());
    auto m = map_file(fd.get(), L.total, 0, PROT_READ | PROT_WRITE, path);
    if (!m) return tl::unexpected(m.error());
    for (uint16_t a = 0; a < spec.nodes; ++a)
      for (uint16_t b = 0; b < spec.nodes; ++b)
        shm_word<uint64_t>(m->data(), L.link_off + (size_t{a} * spec.nodes + b) * 8)
            .store(link_word(true, 1), std::memory_order_relaxed);
    CtlHeader h{};
    h.version = kCtlVersion;
    h.nodes = spec.nodes;
    h.spad_count = kSpadCount;
    h.window_size = spec.window_size;
    std::memcpy(m->data(), &h, sizeof h);
    // Release: the magic is written last, so a process that sees it sees the whole header and
    // the initialised links (pairs with the acquire load in open_ctl()).
    shm_word<uint64_t>(m->data(), 0).store(kCtlMagic, std::memory_order_release);
  }
  for (unsigned k = 0; k < spec.nodes; ++k) {
    const std::string path = node_path(spec.dir, spec.name, k);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return fail_errno(errno, "create %s", path.c_str());
    // Sparse: pages are allocated only where segments are created and written.
    if (::ftruncate(fd.get(), static_cast<off_t>(spec.window_size * spec.nodes)) != 0)
      return fail_errno(errno, "ftruncate %s to %zu bytes", path.c_str(), spec.window_size * spec.nodes);
  }
  return job;
}

Result<void> LoopbackJob::remove(const std::string& name, const std::string& dir_in) {
  const std::string dir = resolve_dir(dir_in);
  if (!valid_job_name(name)) return fail(Errc::kInvalidArgument, "job name '%s' is invalid", name.c_str());
  CtlHeader h{};
  uint16_t nodes = kMaxNodes;
  if (auto m = open_ctl(dir, name, &h)) nodes = h.nodes;
  for (unsigned k = 0; k < nodes; ++k) ::unlink(node_path(dir, name, k).c_str());
  if (::unlink(ctl_path(dir, name).c_str()) != 0 && errno != ENOENT)
    return fail_errno(errno, "unlink %s", ctl_path(dir, name).c_str());
  return {};
}

Result<void> LoopbackJob::set_link(const std::string& name, NodeIdx a, NodeIdx b, bool up, const std::string& dir) {
  CtlHeader h{};
  auto m = open_ctl(resolve_dir(dir), name, &h);
  if (!m) return tl::unexpected(m.error());
  if (a.v >= h.nodes || b.v >= h.nodes)
    return fail(Errc::kInvalidArgument, "set_link(%u, %u): job '%s' has nodes 0..%u", a.v, b.v, name.c_str(),
                h.nodes - 1u);
  if (a == b) return fail(Errc::kInvalidArgument, "set_link(%u, %u): a node's link to itself is always up", a.v, b.v);
  const CtlLayout L(h.nodes);
  for (auto [x, y] : {std::pair{a.v, b.v}, std::pair{b.v, a.v}}) {
    auto w = shm_word<uint64_t>(m->data(), L.link_off + (size_t{x} * h.nodes + y) * 8);
    // Acquire: the CAS below starts from the latest generation (pairs with another set_link's release).
    uint64_t cur = w.load(std::memory_order_acquire);
    for (;;) {
      if (((cur & 1) != 0) == up) break;
      const uint64_t next = link_word(up, static_cast<uint32_t>(cur >> 32) + 1);
      // Release: pairs with the acquire in LoopbackDevice::link_status().
      if (w.compare_exchange_weak(cur, next, std::memory_order_release, std::memory_order_acquire)) break;
    }
  }
  return {};
}

LoopbackJob::LoopbackJob(LoopbackJob&& o) noexcept : spec_(std::move(o.spec_)), owned_(std::exchange(o.owned_, false)) {}
LoopbackJob& LoopbackJob::operator=(LoopbackJob&& o) noexcept {
  if (this != &o) {
    if (owned_) (void)remove(spec_.name, spec_.dir);
    spec_ = std::move(o.spec_);
    owned_ = std::exchange(o.owned_, false);
  }
  return *this;
}
LoopbackJob::~LoopbackJob() {
  if (owned_) (void)remove(spec_.name, spec_.dir);
}

// ------------------------------------------------------------------------------------------
// LoopbackDevice

struct LoopbackDevice::Ctl {
  std::byte* base;
  CtlLayout layout;
  uint16_t nodes;

  std::atomic_ref<uint64_t> link(uint16_t dst, uint16_t src) const {
    return shm_word<uint64_t>(base, layout.link_off + (size_t{dst} * nodes + src) * 8);
  }
  std::atomic_ref<uint32_t> spad(uint16_t dst, uint16_t src, uint16_t i) const {
    return shm_word<uint32_t>(base, layout.spad_off + ((size_t{dst} * nodes + src) * LoopbackJob::kSpadCount + i) * 4);
  }
  std::atomic_ref<uint64_t> db(uint16_t dst, uint16_t src) const {
    return shm_word<uint64_t>(base, layout.db_off + (size_t{dst} * nodes + src) * 64);
  }
  uint32_t* db_futex(uint16_t dst, uint16_t src) const {
    return reinterpret_cast<uint32_t*>(base + layout.db_off + (size_t{dst} * nodes + src) * 64 + 8);  // NOLINT
  }
};

Result<std::unique_ptr<LoopbackDevice>> LoopbackDevice::open(const std::string& job, NodeIdx self,
                                                             const std::string& dir_in) {
  if (!valid_job_name(job)) return fail(Errc::kInvalidArgument, "job name '%s' is invalid", job.c_str());
  std::unique_ptr<LoopbackDevice> dev(new LoopbackDevice());
  dev->dir_ = resolve_dir(dir_in);
  CtlHeader h{};
  auto ctl = open_ctl(dev->dir_, job, &h);
  if (!ctl) return tl::unexpected(ctl.error());
  if (self.v >= h.nodes)
    return fail(Errc::kInvalidArgument, "node %u does not exist: loopback job '%s' has nodes 0..%u", self.v,
                job.c_str(), h.nodes - 1u);
  dev->ctl_map_ = std::move(*ctl);
  dev->ctl_ = std::make_unique<Ctl>(Ctl{dev->ctl_map_.data(), CtlLayout(h.nodes), h.nodes});

  const std::string path = node_path(dev->dir_, job, self.v);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno(errno, "open %s", path.c_str());
  // Inbound memory is read-only here: a receiver never writes its own postboxes.
  auto in = map_file(fd.get(), h.window_size * h.nodes, 0, PROT_READ, path);
  if (!in) return tl::unexpected(in.error());
  dev->inbound_ = std::move(*in);

  dev->info_.backend = "loopback";
  dev->info_.name = job;
  dev->info_.self = self;
  dev->info_.node_count = h.nodes;
  dev->info_.spad_count = h.spad_count;
  dev->info_.db_valid_mask = ~uint64_t{0};
  dev->info_.window_size = h.window_size;
  dev->info_.outbound_mem_type = MemType::kWriteBack;
  dev->info_.liveness = Liveness::kProcessTable;
  dev->peer_files_.resize(h.nodes);
  dev->outbound_.resize(h.nodes);
  dev->outbound_up_.assign(h.nodes, 0);
  dev->seen_generation_.assign(h.nodes, 0);
  return dev;
}

LoopbackDevice::~LoopbackDevice() = default;

// Node `peer`'s file, opened read-write on first use.
Result<int> LoopbackDevice::peer_file(NodeIdx peer) {
  if (!peer_files_[peer.v]) {
    const std::string path = node_path(dir_, info_.name, peer.v);
    peer_files_[peer.v].reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!peer_files_[peer.v]) return fail_errno(errno, "open %s", path.c_str());
  }
  return peer_files_[peer.v].get();
}

// The outbound window to k is node k's file at window_size * self; the inbound window from k
// is this node's file at window_size * k. Both files are sparse (commit with fallocate).
Result<std::vector<NodeWindowsExport>> LoopbackDevice::do_export_windows() {
  auto own = peer_file(info_.self);
  if (!own) return tl::unexpected(own.error());
  std::vector<NodeWindowsExport> out(info_.node_count);
  for (uint16_t k = 0; k < info_.node_count; ++k) {
    auto fd = peer_file(NodeIdx(k));
    if (!fd) return tl::unexpected(fd.error());
    out[k].outbound = {*fd, uint64_t{info_.window_size} * info_.self.v, info_.window_size, MemType::kWriteBack, true};
    out[k].inbound = {*own, uint64_t{info_.window_size} * k, info_.window_size, MemType::kWriteBack, true};
  }
  return out;
}

// Maps the outbound window to `peer` at a fixed address: the real file region when the link is
// up, anonymous scratch memory when it is down (stores are dropped, as on a real link).
Result<void> LoopbackDevice::map_outbound(NodeIdx peer, bool link_up) {
  const size_t len = info_.window_size;
  MmapRegion& region = outbound_[peer.v];
  void* hint = region.valid() ? region.data() : nullptr;
  const int fixed = hint != nullptr ? MAP_FIXED : 0;
  void* p;
  if (link_up) {
    auto fd = peer_file(peer);
    if (!fd) return tl::unexpected(fd.error());
    p = ::mmap(hint, len, PROT_READ | PROT_WRITE, MAP_SHARED | fixed, *fd, static_cast<off_t>(len * info_.self.v));
  } else {
    p = ::mmap(hint, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | fixed, -1, 0);
  }
  if (p == MAP_FAILED) return fail_errno(errno, "mmap outbound window to node %u", peer.v);
  if (!region.valid()) region = MmapRegion(p, len);
  outbound_up_[peer.v] = link_up ? 1 : 0;
  return {};
}

Result<OutboundWindow> LoopbackDevice::do_peer_mw(NodeIdx peer) {
  if (!outbound_[peer.v].valid()) {
    const LinkStatus ls = link_status(peer);  // records the generation we map for
    if (auto ok = map_outbound(peer, ls.up); !ok) return tl::unexpected(ok.error());
  }
  return OutboundWindow(outbound_[peer.v].data(), info_.window_size, MemType::kWriteBack);
}

Result<InboundWindow> LoopbackDevice::do_local_mw(NodeIdx peer) {
  return InboundWindow(inbound_.data() + info_.window_size * peer.v, info_.window_size);
}

Result<void> LoopbackDevice::do_commit_peer_memory(NodeIdx peer, size_t off, size_t len) {
  if (auto fd = peer_file(peer); !fd) return tl::unexpected(fd.error());
  // Allocates the tmpfs pages now: a full /dev/shm becomes an error here instead of a SIGBUS
  // on the first store into the hole.
  const off_t at = static_cast<off_t>(info_.window_size * info_.self.v + off);
  if (::fallocate(peer_files_[peer.v].get(), 0, at, static_cast<off_t>(len)) != 0) {
    const int err = errno;
    if (err == ENOSPC)
      return fail(Errc::kNoMemory,
                  "shared memory is full: %s has no room for %zu KiB more (node %u's window from node %u); free "
                  "memory, enlarge it (mount -o remount,size=... %s) or lower pool_size",
                  dir_.c_str(), len >> 10, peer.v, info_.self.v, dir_.c_str());
    return fail_errno(err, "fallocate %zu bytes in %s", len, node_path(dir_, info_.name, peer.v).c_str());
  }
  // Maps the pages into this process now, as a pinned BAR window is, so that the data path
  // takes no page faults (one per 4 KiB page on first use, microseconds each). Best effort:
  // kernels before 5.14 lack MADV_POPULATE_WRITE and fault the pages in on first use instead.
  if (outbound_[peer.v].valid() && outbound_up_[peer.v] != 0)
    (void)::madvise(outbound_[peer.v].data() + off, len, MADV_POPULATE_WRITE);
  return {};
}

LinkStatus LoopbackDevice::do_link_status(NodeIdx peer) noexcept {
  // Acquire: pairs with the release in LoopbackJob::set_link().
  const uint64_t w = ctl_->link(info_.self.v, peer.v).load(std::memory_order_acquire);
  LinkStatus ls{(w & 1) != 0, static_cast<uint32_t>(w >> 32), 0, 0};
  if (ls.generation != seen_generation_[peer.v]) {
    seen_generation_[peer.v] = ls.generation;
    if (outbound_[peer.v].valid() && (outbound_up_[peer.v] != 0) != ls.up) (void)map_outbound(peer, ls.up);
  }
  return ls;
}

Result<void> LoopbackDevice::force_link(NodeIdx peer, bool up) {
  if (peer.v >= info_.node_count)
    return fail(Errc::kInvalidArgument, "force_link: node %u does not exist (job '%s' has nodes 0..%u)", peer.v,
                info_.name.c_str(), info_.node_count - 1u);
  return LoopbackJob::set_link(info_.name, info_.self, peer, up, dir_);
}

Result<uint32_t> LoopbackDevice::do_spad_read(NodeIdx peer, SpadIdx idx) {
  // Acquire: pairs with the release in peer_spad_write().
  return ctl_->spad(info_.self.v, peer.v, idx.v).load(std::memory_order_acquire);
}

Result<void> LoopbackDevice::do_peer_spad_write(NodeIdx peer, SpadIdx idx, uint32_t v) {
  // Release: makes earlier stores visible to a peer that reads this scratchpad.
  ctl_->spad(peer.v, info_.self.v, idx.v).store(v, std::memory_order_release);
  return {};
}

Result<void> LoopbackDevice::do_peer_db_set(NodeIdx peer, uint64_t bits) {
  // Release: stores before ringing are visible to the peer that sees the bits.
  ctl_->db(peer.v, info_.self.v).fetch_or(bits, std::memory_order_release);
  uint32_t* fw = ctl_->db_futex(peer.v, info_.self.v);
  // Release: a waiter that sees the new sequence also sees the bits set above (pairs with db_wait()).
  std::atomic_ref<uint32_t>(*fw).fetch_add(1, std::memory_order_release);
  ::syscall(SYS_futex, fw, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
  return {};
}

Result<uint64_t> LoopbackDevice::do_db_read(NodeIdx peer) {
  // Acquire: pairs with the release in peer_db_set().
  return ctl_->db(info_.self.v, peer.v).load(std::memory_order_acquire);
}

Result<void> LoopbackDevice::do_db_clear(NodeIdx peer, uint64_t bits) {
  ctl_->db(info_.self.v, peer.v).fetch_and(~bits, std::memory_order_acq_rel);  // write-1-to-clear
  return {};
}

uint64_t LoopbackDevice::db_arm(NodeIdx peer) noexcept {
  // Acquire, sequence first: a ring after this load changes the sequence, so FUTEX_WAIT in
  // db_sleep() returns at once instead of sleeping through it (pairs with the release in
  // do_peer_db_set()).
  return std::atomic_ref<uint32_t>(*ctl_->db_futex(info_.self.v, peer.v)).load(std::memory_order_acquire);
}

Result<void> LoopbackDevice::db_sleep(NodeIdx peer, uint64_t token, uint64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000ull), static_cast<long>(ns % 1'000'000'000ull)};
  // Sleeps only if no ring happened since the token was read (no lost wake-up).
  ::syscall(SYS_futex, ctl_->db_futex(info_.self.v, peer.v), FUTEX_WAIT, static_cast<uint32_t>(token), &ts, nullptr, 0);
  return {};
}

}  // namespace pbx::hal

namespace pbx::hal {

ProcessState LoopbackDevice::do_process_state(NodeIdx /*node*/, uint64_t pid) noexcept {
  if (info_.liveness != Liveness::kProcessTable) return ProcessState::kUnknown;
  if (pid == 0 || pid > static_cast<uint64_t>(INT32_MAX)) return ProcessState::kUnknown;
  Watched* w = nullptr;
  for (Watched& x : watched_)
    if (x.pid == pid) w = &x;
  if (w == nullptr) {
    // First question about this process: a pidfd follows it from now on. ESRCH: already gone.
    const long fd = ::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0);
    if (fd < 0 && errno != ESRCH) return ProcessState::kUnknown;  // pidfds unsupported (Linux < 5.3)
    try {
      watched_.push_back({pid, UniqueFd(static_cast<int>(fd))});
    } catch (...) {
      if (fd >= 0) ::close(static_cast<int>(fd));
      return ProcessState::kUnknown;
    }
    w = &watched_.back();
  }
  if (!w->pidfd) return ProcessState::kDead;
  pollfd p{w->pidfd.get(), POLLIN, 0};
  const int n = ::poll(&p, 1, 0);  // readable once the process has exited
  if (n < 0) return ProcessState::kUnknown;
  return n > 0 ? ProcessState::kDead : ProcessState::kAlive;
}

}  // namespace pbx::hal
