// SysApi: the system calls of the VFIO driver, behind an interface.
//
// Production code uses system_sys_api() (the real calls). Unit tests pass a gmock
// implementation to VfioDevice::Options::sys and script every result, failures included, so
// that no test needs /dev/vfio. Each method mirrors its libc call: it returns what libc returns
// and reports failure through errno, so the callers' error handling is the same either way.
//
// Threading: the real implementation is stateless and thread-safe.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pbx::vfio {

class SysApi {
 public:
  virtual ~SysApi() = default;

  virtual int open(const char* path, int flags) = 0;
  virtual int close(int fd) = 0;
  // ioctl with a pointer argument (a struct, an int to read, a string).
  virtual int ioctl(int fd, unsigned long request, void* arg) = 0;
  // ioctl with an integer argument, or none (pass 0).
  virtual int ioctl_value(int fd, unsigned long request, unsigned long value) = 0;
  virtual void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) = 0;
  virtual int munmap(void* addr, size_t len) = 0;
  virtual ssize_t pread(int fd, void* buf, size_t n, off_t off) = 0;
  virtual ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) = 0;
  virtual int eventfd(unsigned initval, int flags) = 0;
  virtual ssize_t read(int fd, void* buf, size_t n) = 0;
  // poll() with a timeout in nanoseconds (ppoll); a negative timeout waits forever.
  virtual int poll(pollfd* fds, nfds_t nfds, int64_t timeout_ns) = 0;
  virtual ssize_t readlink(const char* path, char* buf, size_t size) = 0;
  // The entry names of a directory, without "." and ".." (opendir/readdir/closedir).
  virtual int list_dir(const char* path, std::vector<std::string>* names) = 0;
};

// The real system calls.
SysApi& system_sys_api() noexcept;

}  // namespace pbx::vfio
