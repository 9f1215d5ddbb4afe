// MsixVectors: a device's MSI-X vectors delivered as eventfds (VFIO_DEVICE_SET_IRQS); disabled
// again on destruction. Usually made by VfioDevice::enable_msix().
//
//   auto fired = vectors.wait(0, 1'000'000);  // up to 1 ms; true if vector 0 fired
//   int fd = vectors.fd(0);                   // or poll/epoll it yourself, then drain(0)
//
// Interrupts of one vector that arrive before a wait are counted by the eventfd, never lost; a
// wait that returns true has consumed all of them. Threading: one waiter per vector.
#pragma once

#include <cstdint>
#include <vector>

#include "pbx/base/error.h"
#include "pbx/vfio/bdf.h"
#include "pbx/vfio/sys_owner.h"

namespace pbx::vfio {

class MsixVectors {
 public:
  // Binds `count` new eventfds to MSI-X vectors 0..count-1 of the device behind `device_fd`.
  [[nodiscard]] static Result<MsixVectors> enable(SysApi& sys, int device_fd, const Bdf& bdf, uint32_t count);

  MsixVectors(MsixVectors&& o) noexcept;
  MsixVectors& operator=(MsixVectors&&) = delete;
  MsixVectors(const MsixVectors&) = delete;
  MsixVectors& operator=(const MsixVectors&) = delete;
  ~MsixVectors();

  uint32_t count() const noexcept { return static_cast<uint32_t>(fds_.size()); }
  int fd(uint32_t vector) const noexcept { return vector < count() ? fds_[vector].get() : -1; }

  // Waits until `vector` fires or `timeout_ns` passes (negative: forever). Returns whether it
  // fired; if so the eventfd's counter is drained. Never busy-waits (poll on the eventfd).
  [[nodiscard]] Result<bool> wait(uint32_t vector, int64_t timeout_ns);
  // Consumes pending interrupts of `vector` without waiting; true if there were any.
  [[nodiscard]] Result<bool> drain(uint32_t vector);

 private:
  MsixVectors(SysApi& sys, int device_fd, const Bdf& bdf, std::vector<SysFd> fds) noexcept
      : sys_(&sys), device_fd_(device_fd), bdf_(bdf), fds_(std::move(fds)) {}
  void disable() noexcept;

  SysApi* sys_;
  int device_fd_;  // not owned; -1 once moved from
  Bdf bdf_;
  std::vector<SysFd> fds_;
};

}  // namespace pbx::vfio
