#include "pbx/ivshmem/ivshmem.h"

#include <cstdio>

#include "pbx/vfio/pci.h"

namespace pbx::ivshmem {

namespace {

tl::unexpected<Error> dev_fail(Errc code, const vfio::Bdf& bdf, const char* call, const std::string& what) {
  return fail(code, "%s: %s: %s", bdf.str().c_str(), call, what.c_str());
}

std::string hex4(uint16_t v) {
  char b[8];
  std::snprintf(b, sizeof b, "%04x", v);
  return b;
}

}  // namespace

Result<Ivshmem> Ivshmem::open(const vfio::Bdf& bdf, const Options& opts) {
  auto vdev = vfio::VfioDevice::open(bdf, opts.vfio);
  if (!vdev) return tl::unexpected(vdev.error());
  Ivshmem d(std::move(*vdev));
  vfio::VfioDevice& dev = d.dev_;

  auto vendor = dev.config_read<uint16_t>(vfio::pci::kVendorId);
  if (!vendor) return tl::unexpected(vendor.error());
  auto device = dev.config_read<uint16_t>(vfio::pci::kDeviceId);
  if (!device) return tl::unexpected(device.error());
  if (*vendor != kVendorId || *device != kDeviceId)
    return dev_fail(Errc::kNoDevice, bdf, "open ivshmem",
                    "not an ivshmem device (vendor:device " + hex4(*vendor) + ":" + hex4(*device) +
                        ", expected 1af4:1110); find it with `lspci -D -d 1af4:1110`");
  auto rev = dev.config_read<uint8_t>(vfio::pci::kRevision);
  if (!rev) return tl::unexpected(rev.error());
  d.revision_ = *rev;

  auto bar0 = dev.map_bar(kRegsBar);
  if (!bar0) return tl::unexpected(bar0.error());
  auto regs = mmio::RegWindow<Regs>::over(bar0->mem, "BAR0 of " + bdf.str());
  if (!regs) return tl::unexpected(regs.error());
  d.regs_ = *regs;

  auto bar2 = dev.map_bar(kSharedMemoryBar);
  if (!bar2) return tl::unexpected(with_context(bar2.error(), "ivshmem shared memory (BAR2)"));
  d.shm_ = std::move(*bar2);
  d.shm_data_ = d.shm_;
  if (opts.write_combining) {
    auto wc = dev.map_bar(kSharedMemoryBar, {.write_combining = true});
    if (!wc) return tl::unexpected(with_context(wc.error(), "ivshmem shared memory (BAR2)"));
    d.shm_data_ = std::move(*wc);
  }

  // Bus mastering: MSI-X messages are memory writes by the device, dropped without it.
  if (auto ok = dev.enable_bus_master(); !ok) return tl::unexpected(ok.error());
  auto cap = dev.msix_capacity();
  if (!cap) return tl::unexpected(cap.error());
  if (opts.vectors > *cap)
    return dev_fail(Errc::kInvalidArgument, bdf, "enable MSI-X",
                    std::to_string(opts.vectors) + " vectors asked for; the device has " + std::to_string(*cap) +
                        " (QEMU: -device ivshmem-doorbell,vectors=N)");
  if (*cap > 0) {
    if (auto ok = dev.enable_msix(opts.vectors == 0 ? *cap : opts.vectors); !ok) return tl::unexpected(ok.error());
  }

  const uint32_t pos = d.regs_.read(Regs::iv_position);
  if (pos > 0xffff) {
    char what[160];
    std::snprintf(what, sizeof what,
                  "reads 0x%x: the device has no peer ID yet (a revision-0 device before its server answered); "
                  "retry",
                  pos);
    return dev_fail(Errc::kPeerNotUp, bdf, "read IVPosition", what);
  }
  d.peer_id_ = static_cast<uint16_t>(pos);
  return d;
}

uint32_t Ivshmem::vector_count() const noexcept {
  const vfio::MsixVectors* v = dev_.msix();
  return v != nullptr ? v->count() : 0;
}

Result<bool> Ivshmem::wait(uint16_t vector, int64_t timeout_ns) {
  vfio::MsixVectors* v = dev_.msix();
  if (v == nullptr)
    return dev_fail(Errc::kNotSupported, bdf(), "wait for a doorbell",
                    "the device has no interrupts (ivshmem-plain); use ivshmem-doorbell with an ivshmem server");
  return v->wait(vector, timeout_ns);
}

int Ivshmem::vector_fd(uint16_t vector) noexcept {
  vfio::MsixVectors* v = dev_.msix();
  return v != nullptr ? v->fd(vector) : -1;
}

}  // namespace pbx::ivshmem
