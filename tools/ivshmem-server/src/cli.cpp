#include "cli.h"

#include <getopt.h>

#include <charconv>
#include <cstring>

#include "pbx/ivshmem_server/protocol.h"

namespace pbx::ivshmem_server {

const char* usage_text() {
  return R"(pbx-ivshmem-server: the ivshmem server for QEMU's ivshmem-doorbell device.

Hands every VM (and host client) that connects its peer id, the shared memory and the
eventfds that interrupt each peer, and tells the others when a peer comes or goes
(protocol: QEMU docs/specs/ivshmem-spec.rst). Runs in the foreground unless --daemon.

usage: pbx-ivshmem-server -S PATH [-m NAME | -M PATH] [-l SIZE] [-n VECTORS] [-d] [-p PIDFILE] [-q]

  -S, --socket PATH     Unix socket the VMs connect to (QEMU: -chardev socket,path=PATH)
  -m, --shm NAME        POSIX shared memory /dev/shm/NAME, created if missing (default: ivshmem)
  -M, --shm-path PATH   share this file instead (hugetlbfs, tmpfs), created if missing
  -l, --size SIZE       size of the shared memory: a power of two from 4K; K, M, G suffixes
                        (default: 4M). An existing object must have this size.
  -n, --vectors N       interrupt vectors per peer, 1..64: the same N as QEMU's vectors=N
                        (default: 1)
  -d, --daemon          detach once the socket listens (the command returns when it is ready)
  -p, --pidfile PATH    write the server's pid to PATH; removed on exit
  -q, --quiet           do not print a line per peer connecting or leaving
  -h, --help            print this help and exit

What it creates (the socket, and the shared memory if it was missing) is removed on SIGINT,
SIGTERM or SIGHUP. When it runs in the foreground, the first line on stdout,
"pbx-ivshmem-server: listening on PATH ...", says that VMs may connect.

Example: two VMs sharing 4 MiB with 2 interrupt vectors
  pbx-ivshmem-server -S /tmp/ivs.sock -m vmshm -l 4M -n 2 &
  qemu-system-x86_64 ... -chardev socket,path=/tmp/ivs.sock,id=ivs \
      -device ivshmem-doorbell,chardev=ivs,vectors=2     (twice, one per VM)

Exit status: 0 stopped by a signal, 1 failure, 2 usage error.
)";
}

Result<CliOptions> parse_cli(int argc, char** argv) {
  static const option kLong[] = {
      {"socket", required_argument, nullptr, 'S'},   {"shm", required_argument, nullptr, 'm'},
      {"shm-path", required_argument, nullptr, 'M'}, {"size", required_argument, nullptr, 'l'},
      {"vectors", required_argument, nullptr, 'n'},  {"daemon", no_argument, nullptr, 'd'},
      {"pidfile", required_argument, nullptr, 'p'},  {"quiet", no_argument, nullptr, 'q'},
      {"help", no_argument, nullptr, 'h'},           {nullptr, 0, nullptr, 0},
  };
  CliOptions o;
  bool have_name = false;
  opterr = 0;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, ":S:m:M:l:n:dp:qh", kLong, nullptr)) != -1) {
    switch (c) {
      case 'S': o.server.socket_path = optarg; break;
      case 'm': o.server.shm_name = optarg; have_name = true; break;
      case 'M': o.server.shm_path = optarg; break;
      case 'l': {
        auto s = parse_size(optarg);
        if (!s) return tl::unexpected(s.error());
        o.server.shm_size = *s;
        break;
      }
      case 'n': {
        const char* end = optarg + std::strlen(optarg);
        auto [p, ec] = std::from_chars(optarg, end, o.server.vectors);
        if (ec != std::errc() || p != end || p == optarg)
          return fail(Errc::kInvalidArgument, "bad vector count '%s': use a number 1..%u", optarg, kMaxVectors);
        break;
      }
      case 'd': o.daemon = true; break;
      case 'p': o.pidfile = optarg; break;
      case 'q': o.verbose = false; break;
      case 'h': o.help = true; return o;
      case ':': return fail(Errc::kInvalidArgument, "option %s needs a value", argv[optind - 1]);
      default: return fail(Errc::kInvalidArgument, "unknown option %s", argv[optind - 1]);
    }
  }
  if (optind < argc) return fail(Errc::kInvalidArgument, "unexpected argument '%s'", argv[optind]);
  if (have_name && !o.server.shm_path.empty())
    return fail(Errc::kInvalidArgument, "give either --shm NAME or --shm-path PATH, not both");
  if (auto v = o.server.validate(); !v) return tl::unexpected(v.error());
  return o;
}

}  // namespace pbx::ivshmem_server
