// postboxd command line: options and the device specification.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pbx/base/error.h"
#include "pbx/hal/factory.h"

namespace pbx::postboxd {

// --device SPEC: a device spec of pbx/hal/factory.h that postboxd can own: loopback:JOB:NODE,
// ivshmem:BDF[,nodes=N][,window=BYTES] or ntb:BDF[,window=BYTES] (not postboxd[:SOCKET]).
[[nodiscard]] Result<hal::DeviceSpec> parse_device(const std::string& text);

enum class HandshakeMode : uint8_t { kAuto, kOn, kOff };

struct Options {
  hal::DeviceSpec device;
  std::string socket = "/run/postbox/postboxd.sock";
  std::string group = "postbox";
  bool foreground = false;
  HandshakeMode handshake = HandshakeMode::kAuto;  // auto: on for ivshmem; off for loopback and ntb
  uint64_t handshake_timeout_ms = 30'000;
  uint32_t tick_ms = 10;                           // link state is checked this often
  bool help = false;
};

// Parses argv; a usage error is Errc::kInvalidArgument with the message to print.
[[nodiscard]] Result<Options> parse_args(const std::vector<std::string>& args);

extern const char* const kUsage;

}  // namespace pbx::postboxd
