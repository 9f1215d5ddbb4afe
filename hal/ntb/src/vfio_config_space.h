// Config space of a VFIO device as the register-level NTB drivers read it (ntb::ConfigSpace over
// the VFIO config region). Private to hal/ntb: every backend's VFIO port uses it.
#pragma once

#include "pbx/ntb/config_space.h"
#include "pbx/vfio/device.h"

namespace pbx::hal::detail {

class VfioConfigSpace final : public ntb::ConfigSpace {
 public:
  explicit VfioConfigSpace(vfio::VfioDevice& dev) noexcept : dev_(&dev) {}

  Result<uint32_t> cfg_read(uint32_t off, unsigned width) override {
    switch (width) {
      case 1: return widen(dev_->config_read<uint8_t>(off));
      case 2: return widen(dev_->config_read<uint16_t>(off));
      case 4: return dev_->config_read<uint32_t>(off);
      default: return fail(Errc::kInvalidArgument, "config read of %u bytes at 0x%x", width, off);
    }
  }
  Result<void> cfg_write(uint32_t off, unsigned width, uint32_t value) override {
    switch (width) {
      case 1: return dev_->config_write<uint8_t>(off, static_cast<uint8_t>(value));
      case 2: return dev_->config_write<uint16_t>(off, static_cast<uint16_t>(value));
      case 4: return dev_->config_write<uint32_t>(off, value);
      default: return fail(Errc::kInvalidArgument, "config write of %u bytes at 0x%x", width, off);
    }
  }

 private:
  template <class T>
  static Result<uint32_t> widen(Result<T> r) {
    if (!r) return tl::unexpected(r.error());
    return uint32_t{*r};
  }
  vfio::VfioDevice* dev_;
};

}  // namespace pbx::hal::detail
