#include "pbx/hal/postboxd/status_page.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace pbx::hal::postboxd {

namespace {

struct Header {
  uint64_t magic;
  uint32_t version;
  uint16_t node_count;
  uint16_t self;
  uint64_t reserved[6];
};
static_assert(sizeof(Header) == 64);
constexpr size_t kLinkOff = sizeof(Header);
static_assert(kLinkOff + 8 * StatusPage::kMaxNodes <= StatusPage::kPage);

constexpr uint64_t link_word(bool up, uint32_t gen) { return (uint64_t{gen} << 32) | (up ? 1u : 0u); }

Result<MmapRegion> map(int fd, size_t off, int prot) {
  void* p = ::mmap(nullptr, StatusPage::kPage, prot, MAP_SHARED, fd, static_cast<off_t>(off));
  if (p == MAP_FAILED) return fail_errno(errno, "mmap the postboxd status page");
  return MmapRegion(p, StatusPage::kPage);
}

}  // namespace

uint64_t* StatusPage::word(size_t off) const noexcept {
  return reinterpret_cast<uint64_t*>(header_.data() + off);  // NOLINT: shared memory is raw bytes
}
pthread_mutex_t* StatusPage::alive_mutex() const noexcept {
  return reinterpret_cast<pthread_mutex_t*>(liveness_.data());  // NOLINT: placed by create()
}

Result<StatusPage> StatusPage::create(uint16_t node_count, uint16_t self) {
  if (node_count == 0 || node_count > kMaxNodes || self >= node_count)
    return fail(Errc::kInvalidArgument, "postboxd status page: node %u of %u is out of range (1..%u nodes)", self,
                node_count, kMaxNodes);
  StatusPage s;
  s.fd_.reset(::memfd_create("postboxd-status", MFD_CLOEXEC));
  if (!s.fd_) return fail_errno(errno, "memfd_create for the postboxd status page");
  if (::ftruncate(s.fd_.get(), kSize) != 0) return fail_errno(errno, "ftruncate the postboxd status page");
  auto h = map(s.fd_.get(), 0, PROT_READ | PROT_WRITE);
  if (!h) return tl::unexpected(h.error());
  auto l = map(s.fd_.get(), kPage, PROT_READ | PROT_WRITE);
  if (!l) return tl::unexpected(l.error());
  s.header_ = std::move(*h);
  s.liveness_ = std::move(*l);
  s.nodes_ = node_count;

  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  const int rc = pthread_mutex_init(s.alive_mutex(), &a);
  pthread_mutexattr_destroy(&a);
  if (rc != 0) return fail_errno(rc, "pthread_mutex_init (postboxd liveness)");
  if (const int lr = pthread_mutex_lock(s.alive_mutex()); lr != 0) return fail_errno(lr, "lock the liveness mutex");

  for (uint16_t k = 0; k < node_count; ++k)
    // Relaxed: published by the release store of the magic below.
    std::atomic_ref<uint64_t>(*s.word(kLinkOff + 8 * k)).store(link_word(k == self, 1), std::memory_order_relaxed);
  Header hdr{};
  hdr.version = kVersion;
  hdr.node_count = node_count;
  hdr.self = self;
  std::memcpy(s.header_.data(), &hdr, sizeof hdr);
  // Release: the header and link words are complete before the magic (pairs with attach()).
  std::atomic_ref<uint64_t>(*s.word(0)).store(kMagic, std::memory_order_release);
  return s;
}

Result<StatusPage> StatusPage::attach(int fd, size_t size, uint16_t node_count, uint16_t self) {
  if (size != kSize)
    return fail(Errc::kProtocolError, "the postboxd status page has %zu bytes, this client expects %zu: run the "
                "same postbox version as postboxd", size, kSize);
  StatusPage s;
  // Page 0 read-only: a client never writes link state.
  auto h = map(fd, 0, PROT_READ);
  if (!h) return tl::unexpected(h.error());
  auto l = map(fd, kPage, PROT_READ | PROT_WRITE);
  if (!l) return tl::unexpected(l.error());
  s.header_ = std::move(*h);
  s.liveness_ = std::move(*l);
  s.nodes_ = node_count;
  // Acquire: pairs with the release store of the magic in create().
  const uint64_t magic = std::atomic_ref<uint64_t>(*s.word(0)).load(std::memory_order_acquire);
  Header hdr;
  std::memcpy(&hdr, s.header_.data(), sizeof hdr);
  if (magic != kMagic || hdr.version != kVersion || hdr.node_count != node_count || hdr.self != self)
    return fail(Errc::kProtocolError,
                "the postboxd status page is not what the daemon announced (node %u of %u): run the same postbox "
                "version as postboxd",
                self, node_count);
  return s;
}

void StatusPage::publish(uint16_t k, bool up, uint32_t generation) noexcept {
  // Release: pairs with the acquire in link(); nothing else is published with it.
  std::atomic_ref<uint64_t>(*word(kLinkOff + 8 * size_t{k})).store(link_word(up, generation), std::memory_order_release);
}

LinkStatus StatusPage::link(uint16_t k) const noexcept {
  if (k >= nodes_) return {};
  // Acquire: pairs with the release in publish().
  const uint64_t w = std::atomic_ref<uint64_t>(*word(kLinkOff + 8 * size_t{k})).load(std::memory_order_acquire);
  return LinkStatus{(w & 1) != 0, static_cast<uint32_t>(w >> 32), 0, 0};
}

bool StatusPage::daemon_alive() noexcept {
  if (dead_) return false;
  const int rc = pthread_mutex_trylock(alive_mutex());
  if (rc == EBUSY) return true;  // held: the daemon lives (a plain load in glibc, no syscall)
  // EOWNERDEAD: we now hold it; unlocking without pthread_mutex_consistent() makes it
  // ENOTRECOVERABLE for every other client too. 0: nobody held it (not a live daemon's page).
  if (rc == EOWNERDEAD || rc == 0) pthread_mutex_unlock(alive_mutex());
  dead_ = true;
  return false;
}

}  // namespace pbx::hal::postboxd
