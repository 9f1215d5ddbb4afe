#include "pbx/vfio/sys_api.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace pbx::vfio {
namespace {

class LinuxSysApi final : public SysApi {
 public:
  int open(const char* path, int flags) override { return ::open(path, flags | O_CLOEXEC); }
  int close(int fd) override { return ::close(fd); }
  int ioctl(int fd, unsigned long request, void* arg) override { return ::ioctl(fd, request, arg); }
  int ioctl_value(int fd, unsigned long request, unsigned long value) override {
    return ::ioctl(fd, request, value);
  }
  void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) override {
    return ::mmap(addr, len, prot, flags, fd, off);
  }
  int munmap(void* addr, size_t len) override { return ::munmap(addr, len); }
  ssize_t pread(int fd, void* buf, size_t n, off_t off) override { return ::pread(fd, buf, n, off); }
  ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) override { return ::pwrite(fd, buf, n, off); }
  int eventfd(unsigned initval, int flags) override { return ::eventfd(initval, flags); }
  ssize_t read(int fd, void* buf, size_t n) override { return ::read(fd, buf, n); }
  int poll(pollfd* fds, nfds_t nfds, int64_t timeout_ns) override {
    if (timeout_ns < 0) return ::ppoll(fds, nfds, nullptr, nullptr);
    const timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000), static_cast<long>(timeout_ns % 1'000'000'000)};
    return ::ppoll(fds, nfds, &ts, nullptr);
  }
  ssize_t readlink(const char* path, char* buf, size_t size) override { return ::readlink(path, buf, size); }
  int list_dir(const char* path, std::vector<std::string>* names) override {
    DIR* d = ::opendir(path);
    if (d == nullptr) return -1;
    names->clear();
    errno = 0;
    while (const dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names->emplace_back(e->d_name);
    }
    const int err = errno;
    ::closedir(d);
    errno = err;
    return err == 0 ? 0 : -1;
  }
};

}  // namespace

SysApi& system_sys_api() noexcept {
  static LinuxSysApi api;
  return api;
}

}  // namespace pbx::vfio
