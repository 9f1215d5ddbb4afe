// postboxd: the node manager. Owns this node's postbox device (VFIO gives a device to one
// process) and serves the node's processes, as DPDK's multi-process mode does: each client
// maps its windows itself from file descriptors passed over a Unix socket and runs the data
// path in user space; scratchpads, doorbells and link bring-up go through the daemon.
//
// Usage by example:
//   postboxd --device ivshmem:0000:00:04.0,nodes=2 --foreground     # a VM of a 2-VM fabric
//   postboxd --device ntb:0000:af:00.0,window=64M                     # a host of an Intel NTB pair
//   postboxd -d loopback:myjob:1 -s /tmp/pbx1.sock -g users -f        # node 1 of a loopback job
//   postboxd -d loopback:myjob:0 -s /tmp/pbx0.sock --handshake on -f  # run the link handshake too
//   systemctl start postboxd                                          # tools/postboxd/postboxd.service
//
//   # clients on the node (members of group 'postbox', or root):
//   PBX_BACKEND=postboxd PBX_NODES=2 PBX_PROCS_PER_NODE=2 PBX_NODE=0 PBX_LOCAL=1 ./my_app
//   PBX_POSTBOXD_SOCKET=/tmp/pbx1.sock ...                            # a non-default socket
//
// Startup, in order: take the socket's lock (a second postboxd on the same socket is refused,
// naming the first one's pid), open the device, bind the socket (a stale one left by a dead
// daemon is replaced), detach unless --foreground, then print "postboxd: ready: ..." (and
// tell systemd READY=1). Clients are served until SIGTERM or SIGINT: then the peers are told
// (handshake), every link is published down, the socket is removed, and the exit status is 0.
// A client that dies needs nothing from the daemon; a daemon that dies (even SIGKILL) shows to
// its clients as every link to another node down, and their requests fail with kLinkDown.
#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "access.h"
#include "links.h"
#include "listener.h"
#include "options.h"
#include "pbx/hal/postboxd/status_page.h"
#include "pbx/hal/factory.h"
#include "pbx/hal/spad_handshake.h"
#include "server.h"

namespace {

using namespace pbx;  // NOLINT: a program's main file
using pbx::postboxd::Options;

bool g_syslog = false;  // detached: stderr is no longer anyone's

void log_line(const std::string& s) {
  if (g_syslog) {
    ::syslog(LOG_INFO, "%s", s.c_str());
    return;
  }
  std::fprintf(stderr, "postboxd: %s\n", s.c_str());
  std::fflush(stderr);
}

// After detaching and saying "ready": log to syslog, let go of the terminal's stdout/stderr
// (whoever started us waits for them to close).
void to_syslog() {
  ::openlog("postboxd", LOG_PID, LOG_DAEMON);
  g_syslog = true;
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null < 0) return;
  ::dup2(null, 1);
  ::dup2(null, 2);
  ::close(null);
}

int failure(const std::string& what, const Error& e) {
  log_line(what + ": " + e.message());
  return 1;
}

uint32_t new_epoch() {
  uint32_t e = 0;
  while (e == 0)
    if (::getrandom(&e, sizeof e, 0) != sizeof e) e = static_cast<uint32_t>(::getpid()) ^ static_cast<uint32_t>(now_ns());
  return e;
}

// systemd Type=notify: one datagram to $NOTIFY_SOCKET ("@name" is an abstract socket).
void notify_systemd(const char* state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || (path[0] != '/' && path[0] != '@') || std::strlen(path) >= sizeof(sockaddr_un{}.sun_path))
    return;
  UniqueFd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path, std::strlen(path));
  if (a.sun_path[0] == '@') a.sun_path[0] = '\0';
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + std::strlen(path));
  (void)::sendto(s.get(), state, std::strlen(state), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&a), len);  // NOLINT
}

// Detaches: the parent exits 0 once the child says it is ready, or 1 if the child failed.
// Returns in the child, with the write end of the readiness pipe.
Result<UniqueFd> detach() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return fail_errno(errno, "pipe");
  const pid_t pid = ::fork();
  if (pid < 0) return fail_errno(errno, "fork");
  if (pid > 0) {
    ::close(p[1]);
    char ok = 0;
    const bool ready = ::read(p[0], &ok, 1) == 1 && ok == 'R';
    ::_exit(ready ? 0 : 1);  // no destructors: the device now belongs to the child
  }
  ::close(p[0]);
  ::setsid();
  if (::chdir("/") != 0) return fail_errno(errno, "chdir /");
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null >= 0) {
    ::dup2(null, 0);
    ::close(null);
  }
  return UniqueFd(p[1]);
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = postboxd::parse_args(std::vector<std::string>(argv + 1, argv + argc));
  if (!opts) {
    std::fprintf(stderr, "postboxd: %s\n(see postboxd --help)\n", opts.error().message().c_str());
    return 2;
  }
  if (opts->help) {
    std::fputs(postboxd::kUsage, stdout);
    return 0;
  }
  const Options& o = *opts;

  auto group = postboxd::lookup_group(o.group);
  if (!group) return failure("--group", group.error());
  // The lock before the device: a second daemon must not touch the device the first one owns.
  auto listener = postboxd::Listener::lock(o.socket);
  if (!listener) return failure("socket", listener.error());
  auto dev = hal::open_device(o.device);
  if (!dev) return failure("open device '" + o.device.text + "'", dev.error());
  hal::Device& device = **dev;
  bool replaced = false;
  if (auto ok = listener->listen(&replaced); !ok) return failure("socket", ok.error());
  if (replaced) log_line("replaced the stale socket " + o.socket + " (left by a postboxd that stopped)");

  // Signals arrive on a signalfd, read by the event loop; SIGPIPE is never wanted.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  ::signal(SIGPIPE, SIG_IGN);
  if (::sigprocmask(SIG_BLOCK, &sigs, nullptr) != 0) return failure("sigprocmask", make_error(Errc::kIoError, "failed"));

  UniqueFd ready_pipe;
  if (!o.foreground) {
    auto child = detach();
    if (!child) return failure("detach", child.error());
    ready_pipe = std::move(*child);
  }
  UniqueFd sfd(::signalfd(-1, &sigs, SFD_CLOEXEC));
  if (!sfd) return failure("signalfd", make_error(Errc::kIoError, "%s", strerror(errno)));
  if (auto ok = listener->record_pid(); !ok) return failure("socket", ok.error());

  const hal::DeviceInfo& info = device.info();
  // The status page after detaching: its liveness lock belongs to the thread that serves.
  auto page = hal::postboxd::StatusPage::create(info.node_count, info.self.v);
  if (!page) return failure("status page", page.error());
  // auto: on for ivshmem (its link only says the other VM opened the device). Loopback links
  // are up from the start; ntb runs its own bring-up on scratchpads 12..15 (on is refused).
  const bool handshake =
      o.handshake == postboxd::HandshakeMode::kOn ||
      (o.handshake == postboxd::HandshakeMode::kAuto && o.device.kind == hal::DeviceSpec::Kind::kIvshmem);
  hal::HandshakeOptions hs;
  hs.epoch = new_epoch();
  hs.timeout_ns = o.handshake_timeout_ms * 1'000'000;
  MonotonicClock clock;
  auto links = postboxd::LinkKeeper::create(device, *page, handshake, hs, clock, log_line);
  if (!links) return failure("link handshake", links.error());
  auto server = postboxd::Server::create(device, *page, **links, *listener, *group, o.tick_ms, log_line);
  if (!server) return failure("export the windows", server.error());

  char line[512];
  std::snprintf(line, sizeof line, "ready: node %u of %u (%s %s, %zu-byte windows), socket %s, group %s, handshake %s",
                info.self.v, info.node_count, info.backend.c_str(), info.name.c_str(), info.window_size,
                o.socket.c_str(), group->name.c_str(), handshake ? "on" : "off");
  log_line(line);
  notify_systemd("READY=1");
  if (ready_pipe) {
    (void)!::write(ready_pipe.get(), "R", 1);
    ready_pipe.reset();
    to_syslog();
  }

  auto sig = (*server)->run(sfd.get());
  notify_systemd("STOPPING=1");
  (*links)->leave();
  if (!sig) return failure("serving", sig.error());
  log_line(std::string("stopping on ") + strsignal(*sig));
  return 0;
}
