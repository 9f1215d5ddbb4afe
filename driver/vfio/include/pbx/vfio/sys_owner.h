// Move-only owners of a file descriptor and of a mapping obtained through a SysApi: they
// close / unmap through the same SysApi, so that a mocked SysApi also sees the teardown (and a
// test's made-up descriptor numbers are never closed for real).
#pragma once

#include <cstddef>
#include <span>
#include <utility>

#include "pbx/vfio/sys_api.h"

namespace pbx::vfio {

class SysFd {
 public:
  SysFd() = default;
  SysFd(SysApi& sys, int fd) noexcept : sys_(&sys), fd_(fd) {}
  SysFd(SysFd&& o) noexcept : sys_(o.sys_), fd_(std::exchange(o.fd_, -1)) {}
  SysFd& operator=(SysFd&& o) noexcept {
    if (this != &o) {
      reset();
      sys_ = o.sys_;
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  SysFd(const SysFd&) = delete;
  SysFd& operator=(const SysFd&) = delete;
  ~SysFd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }
  void reset() noexcept {
    if (fd_ >= 0) (void)sys_->close(fd_);
    fd_ = -1;
  }

 private:
  SysApi* sys_ = nullptr;
  int fd_ = -1;
};

class SysMapping {
 public:
  SysMapping() = default;
  SysMapping(SysApi& sys, void* addr, size_t len) noexcept
      : sys_(&sys), addr_(static_cast<std::byte*>(addr)), len_(len) {}
  SysMapping(SysMapping&& o) noexcept
      : sys_(o.sys_), addr_(std::exchange(o.addr_, nullptr)), len_(std::exchange(o.len_, 0)) {}
  SysMapping& operator=(SysMapping&& o) noexcept {
    if (this != &o) {
      reset();
      sys_ = o.sys_;
      addr_ = std::exchange(o.addr_, nullptr);
      len_ = std::exchange(o.len_, 0);
    }
    return *this;
  }
  SysMapping(const SysMapping&) = delete;
  SysMapping& operator=(const SysMapping&) = delete;
  ~SysMapping() { reset(); }

  std::byte* data() const noexcept { return addr_; }
  size_t size() const noexcept { return len_; }
  std::span<std::byte> span() const noexcept { return {addr_, len_}; }
  bool valid() const noexcept { return addr_ != nullptr; }
  void reset() noexcept {
    if (addr_ != nullptr) (void)sys_->munmap(addr_, len_);
    addr_ = nullptr;
    len_ = 0;
  }

 private:
  SysApi* sys_ = nullptr;
  std::byte* addr_ = nullptr;
  size_t len_ = 0;
};

}  // namespace pbx::vfio
