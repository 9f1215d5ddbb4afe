#include "pbx/vfio/msix.h"

#include <linux/vfio.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include "diag.h"

namespace pbx::vfio {

using detail::dev_fail;
using detail::strf;
using detail::sys_fail;

namespace {

int64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

Result<MsixVectors> MsixVectors::enable(SysApi& sys, int device_fd, const Bdf& bdf, uint32_t count) {
  if (count == 0 || count > 2048)
    return dev_fail(Errc::kInvalidArgument, bdf, "enable MSI-X", strf("%u vectors asked for; use 1..2048", count));
  std::vector<SysFd> fds;
  fds.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    const int fd = sys.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) return sys_fail(errno, bdf, strf("eventfd for MSI-X vector %u", i), "");
    fds.emplace_back(sys, fd);
  }
  // struct vfio_irq_set followed by one __s32 eventfd per vector.
  std::vector<unsigned char> buf(sizeof(vfio_irq_set) + sizeof(int32_t) * count);
  vfio_irq_set hdr{};
  hdr.argsz = static_cast<uint32_t>(buf.size());
  hdr.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
  hdr.index = VFIO_PCI_MSIX_IRQ_INDEX;
  hdr.start = 0;
  hdr.count = count;
  std::memcpy(buf.data(), &hdr, sizeof hdr);
  for (uint32_t i = 0; i < count; ++i) {
    const int32_t fd = fds[i].get();
    std::memcpy(buf.data() + sizeof hdr + i * sizeof fd, &fd, sizeof fd);
  }
  if (sys.ioctl(device_fd, VFIO_DEVICE_SET_IRQS, buf.data()) != 0)
    return sys_fail(errno, bdf, strf("ioctl VFIO_DEVICE_SET_IRQS(MSI-X, %u eventfds)", count), "");
  return MsixVectors(sys, device_fd, bdf, std::move(fds));
}

MsixVectors::MsixVectors(MsixVectors&& o) noexcept
    : sys_(o.sys_), device_fd_(std::exchange(o.device_fd_, -1)), bdf_(o.bdf_), fds_(std::move(o.fds_)) {}

MsixVectors::~MsixVectors() { disable(); }

void MsixVectors::disable() noexcept {
  if (device_fd_ < 0) return;
  // DATA_NONE | ACTION_TRIGGER with count 0 disables the whole MSI-X index.
  vfio_irq_set off{};
  off.argsz = sizeof off;
  off.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
  off.index = VFIO_PCI_MSIX_IRQ_INDEX;
  off.start = 0;
  off.count = 0;
  (void)sys_->ioctl(device_fd_, VFIO_DEVICE_SET_IRQS, &off);
  device_fd_ = -1;
  fds_.clear();  // the eventfds close after the kernel has let go of them
}

Result<bool> MsixVectors::drain(uint32_t vector) {
  if (vector >= count())
    return dev_fail(Errc::kInvalidArgument, bdf_, "drain MSI-X vector",
                    strf("vector %u does not exist (%u enabled)", vector, count()));
  uint64_t n = 0;
  const ssize_t r = sys_->read(fds_[vector].get(), &n, sizeof n);
  if (r == static_cast<ssize_t>(sizeof n)) return true;
  if (r < 0 && errno == EAGAIN) return false;
  return sys_fail(r < 0 ? errno : EIO, bdf_, strf("read eventfd of MSI-X vector %u", vector), "");
}

Result<bool> MsixVectors::wait(uint32_t vector, int64_t timeout_ns) {
  if (vector >= count())
    return dev_fail(Errc::kInvalidArgument, bdf_, "wait for MSI-X vector",
                    strf("vector %u does not exist (%u enabled)", vector, count()));
  const int64_t deadline = timeout_ns < 0 ? -1 : monotonic_ns() + timeout_ns;
  for (;;) {
    int64_t left = -1;
    if (deadline >= 0) left = std::max<int64_t>(deadline - monotonic_ns(), 0);
    pollfd p{fds_[vector].get(), POLLIN, 0};
    const int r = sys_->poll(&p, 1, left);
    if (r < 0) {
      if (errno == EINTR) continue;
      return sys_fail(errno, bdf_, strf("poll eventfd of MSI-X vector %u", vector), "");
    }
    if (r == 0) return false;
    auto got = drain(vector);
    if (!got || *got) return got;
    if (left == 0) return false;  // raced with another reader of the same eventfd
  }
}

}  // namespace pbx::vfio
