// Command line of pbx-ivshmem-server.
#pragma once

#include <string>

#include "pbx/base/error.h"
#include "pbx/ivshmem_server/server.h"

namespace pbx::ivshmem_server {

struct CliOptions {
  ServerOptions server;
  bool daemon = false;
  bool verbose = true;
  bool help = false;
  std::string pidfile;
};

// Parses argv; an error is a usage error (exit status 2) with a message naming the option.
[[nodiscard]] Result<CliOptions> parse_cli(int argc, char** argv);

// The --help text.
const char* usage_text();

}  // namespace pbx::ivshmem_server
