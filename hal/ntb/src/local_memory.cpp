#include "pbx/hal/detail/local_memory.h"

#include <linux/memfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

namespace pbx::hal {
namespace {

constexpr size_t k2M = size_t{2} << 20;
constexpr size_t k1G = size_t{1} << 30;

// A memfd of `size` bytes with pages of `page` bytes (0: ordinary pages), mapped shared.
Result<void> try_map(const std::string& name, size_t size, size_t page, bool populate, UniqueFd* fd_out,
                     MmapRegion* map_out) {
  unsigned flags = MFD_CLOEXEC;
  if (page == k2M) flags |= MFD_HUGETLB | MFD_HUGE_2MB;
  if (page == k1G) flags |= MFD_HUGETLB | MFD_HUGE_1GB;
  UniqueFd fd(::memfd_create(name.c_str(), flags));
  if (!fd) return fail_errno(errno, "memfd_create(%s)", name.c_str());
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return fail_errno(errno, "ftruncate %s", name.c_str());
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | (populate ? MAP_POPULATE : 0), fd.get(), 0);
  if (p == MAP_FAILED) return fail_errno(errno, "mmap %zu bytes of %s", size, name.c_str());
  *fd_out = std::move(fd);
  *map_out = MmapRegion(p, size);
  return {};
}

}  // namespace

Result<LocalMemory> LocalMemory::allocate(const std::string& name, size_t size, PagePolicy policy, bool populate) {
  if (size == 0 || size % 4096 != 0)
    return fail(Errc::kInvalidArgument, "%s: %zu bytes is not a whole number of 4 KiB pages", name.c_str(), size);
  LocalMemory m;
  std::string why;
  if (policy != PagePolicy::kSmall) {
    for (size_t page : {k1G, k2M}) {
      if (size % page != 0) continue;
      // The hugetlb reservation fails at memfd_create (no such page size), ftruncate or mmap.
      auto r = try_map(name, size, page, populate, &m.fd_, &m.map_);
      if (r) {
        m.page_size_ = page;
        return m;
      }
      why = r.error().message();
    }
    if (policy == PagePolicy::kHugeRequired)
      return fail(Errc::kNoMemory,
                  "%s: no hugepages for %zu bytes (%s): reserve them, e.g. `echo %zu > "
                  "/proc/sys/vm/nr_hugepages` (2 MiB pages) or hugepagesz=1G hugepages=N on the kernel command line",
                  name.c_str(), size, why.empty() ? "size is not a multiple of 2 MiB" : why.c_str(),
                  (size + k2M - 1) / k2M);
  }
  if (auto r = try_map(name, size, 0, populate, &m.fd_, &m.map_); !r) return tl::unexpected(r.error());
  m.page_size_ = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return m;
}

}  // namespace pbx::hal
