// Opening a hal::Device from a text spec: the one place that knows every backend.
//
// Specs (what `postboxd --device` takes; Endpoint::from_env builds them from PBX_BACKEND and
// PBX_DEVICE):
//   loopback:JOB:NODE                      node NODE of the loopback job JOB (pbxrun, LoopbackJob)
//   ivshmem:BDF[,nodes=N][,window=BYTES]   QEMU's ivshmem at BDF through VFIO: a fabric of N nodes
//                                          (default 2), BYTES per window (default: the largest that fits)
//   ntb:BDF[,window=BYTES]                 an NTB at BDF through VFIO, driven by what it is (its PCI IDs):
//                                          an Intel Xeon NTB (two hosts back to back, the USD side is
//                                          node 0), an AMD/Hygon NTB (two hosts, the primary side is
//                                          node 0) or a Microchip Switchtec NT endpoint (the hosts of the
//                                          partitions it targets, in partition order); BYTES per window
//                                          (default: the BAR's size, or for Switchtec what every LUT
//                                          window range holds after its 4 KiB control page)
//   intel:BDF[,...] amd:BDF[,...] switchtec:BDF[,...]   the same, refusing a device of another kind
//   postboxd[:SOCKET]                      this node's postboxd (default /run/postbox/postboxd.sock)
// BDF is [dddd:]bb:dd.f as `lspci -D` prints it; BYTES is a number (decimal or 0x hex) with an
// optional K, M or G (binary) unit: window=4M.
//
//   auto spec = pbx::hal::parse_device_spec("ntb:0000:af:00.0,window=64M");
//   if (!spec) return log(spec.error().message());   // names the spec and the accepted forms
//   auto dev = pbx::hal::open_device(*spec);          // Result<std::unique_ptr<hal::Device>>
//   if (!dev) return log(dev.error().message());     // the backend's error: BDF, step, fix
//
// Environment (Endpoint::from_env, one process per node, no daemon):
//   PBX_BACKEND=ntb PBX_DEVICE=0000:af:00.0 ./app           # node index from the device
//   PBX_BACKEND=ivshmem PBX_DEVICE=0000:00:04.0 PBX_NODES=2 ./app
// PBX_DEVICE may carry the spec's options (PBX_DEVICE=0000:af:00.0,window=4M). PBX_NODE is
// optional there; one that disagrees with the device's node index is an error.
// For several processes per node, run `postboxd --device ntb:BDF` and use PBX_BACKEND=postboxd.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pbx/base/error.h"
#include "pbx/hal/device.h"

namespace pbx::vfio {
class SysApi;
}

namespace pbx::hal {

// The accepted forms, for messages.
inline constexpr const char* kDeviceSpecForms =
    "loopback:JOB:NODE, ivshmem:BDF[,nodes=N][,window=BYTES], ntb:BDF[,window=BYTES] (or intel:, amd:, switchtec: "
    "for one kind of NTB) or postboxd[:SOCKET]";

struct DeviceSpec {
  // kNtb: any NTB, by what it is; kIntel, kAmd, kSwitchtec: that kind only.
  enum class Kind : uint8_t { kLoopback, kIvshmem, kNtb, kPostboxd, kIntel, kAmd, kSwitchtec };
  Kind kind = Kind::kLoopback;
  std::string text;               // as given, for messages
  std::string job;                // loopback
  uint16_t node = 0;              // loopback: 0..63
  std::string bdf;                // ivshmem and the NTB kinds: "dddd:bb:dd.f" (checked and normalised)
  std::optional<uint16_t> nodes;  // ivshmem: nodes of the fabric, 1..64 (unset: 2)
  uint64_t window = 0;            // ivshmem and the NTB kinds: bytes per window (0: the backend's default)
  bool is_ntb() const noexcept {
    return kind == Kind::kNtb || kind == Kind::kIntel || kind == Kind::kAmd || kind == Kind::kSwitchtec;
  }
  std::string socket;             // postboxd: the socket's path (the default one where none was given)
};

// "loopback", "ivshmem", "ntb", "postboxd", "intel", "amd", "switchtec".
const char* to_string(DeviceSpec::Kind k) noexcept;

// Specs a program builds rather than parses (Endpoint::from_env, pbxrun's children), with the
// text a parse of them would have started from. An empty socket: postboxd's default one.
// (Everything else about specs, parsing included, is in this module too.)
[[nodiscard]] DeviceSpec loopback_spec(const std::string& job, uint16_t node);
[[nodiscard]] DeviceSpec postboxd_spec(const std::string& socket);

// Parses a spec. Every malformed spec is Errc::kInvalidArgument with a message that names the
// spec, what is wrong with it, and kDeviceSpecForms.
[[nodiscard]] Result<DeviceSpec> parse_device_spec(std::string_view text);

struct OpenOptions {
  vfio::SysApi* vfio_sys = nullptr;  // ivshmem, ntb: nullptr = the real system calls (tests pass FakeVfio)
};

// Opens the device a spec names. Errors are the backend's (they name the job, BDF or socket,
// the step that failed and the fix).
[[nodiscard]] Result<std::unique_ptr<Device>> open_device(const DeviceSpec& spec, const OpenOptions& opts = {});

}  // namespace pbx::hal
