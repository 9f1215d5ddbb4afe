// postboxd command line: options and the device specification.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pbx/base/error.h"

namespace pbx::postboxd {

// --device loopback:JOB:NODE | ivshmem:BDF[,nodes=N][,window=BYTES]
struct DeviceSpec {
  enum class Kind : uint8_t { kLoopback, kIvshmem };
  Kind kind = Kind::kLoopback;
  std::string text;       // as given, for messages
  std::string job;        // loopback
  uint16_t node = 0;      // loopback
  std::string bdf;        // ivshmem
  uint16_t nodes = 2;     // ivshmem: nodes of the fabric
  uint64_t window = 0;    // ivshmem: bytes per window (0: the largest that fits)
};
[[nodiscard]] Result<DeviceSpec> parse_device(const std::string& text);

enum class HandshakeMode : uint8_t { kAuto, kOn, kOff };

struct Options {
  DeviceSpec device;
  std::string socket = "/run/postbox/postboxd.sock";
  std::string group = "postbox";
  bool foreground = false;
  HandshakeMode handshake = HandshakeMode::kAuto;  // auto: on for devices with scratchpads, off for loopback
  uint64_t handshake_timeout_ms = 30'000;
  uint32_t tick_ms = 10;                           // link state is checked this often
  bool help = false;
};

// Parses argv; a usage error is Errc::kInvalidArgument with the message to print.
[[nodiscard]] Result<Options> parse_args(const std::vector<std::string>& args);

extern const char* const kUsage;

}  // namespace pbx::postboxd
