// pbx-ivshmem-server: see usage_text() in cli.cpp.
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "cli.h"
#include "pbx/base/unique_fd.h"
#include "pbx/ivshmem_server/server.h"

namespace {

using namespace pbx;
using namespace pbx::ivshmem_server;

constexpr const char* kProg = "pbx-ivshmem-server";

int die(const Error& e) {
  std::fprintf(stderr, "%s: %s\n", kProg, e.message().c_str());
  return 1;
}

Result<void> write_pidfile(const std::string& path, pid_t pid) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return fail_errno(errno, "write pidfile %s", path.c_str());
  const std::string text = std::to_string(pid) + "\n";
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return fail_errno(errno, "write pidfile %s", path.c_str());
  return {};
}

// Blocks the stop signals and returns a signalfd that becomes readable when one arrives.
Result<UniqueFd> stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return fail_errno(errno, "sigprocmask");
  UniqueFd fd(::signalfd(-1, &set, SFD_CLOEXEC));
  if (!fd) return fail_errno(errno, "signalfd");
  return fd;
}

// Forks. The parent writes the child's pid to `pidfile` (if any), so that it exists when the
// command returns, and exits; the socket already listens. The child leaves the session and
// points stdio at /dev/null. Returns in the child only.
Result<void> detach(const std::string& pidfile) {
  const pid_t pid = ::fork();
  if (pid < 0) return fail_errno(errno, "fork");
  if (pid > 0) {
    // _exit, not exit or return: the Server object (socket, shared memory) belongs to the child.
    if (!pidfile.empty()) {
      if (auto p = write_pidfile(pidfile, pid); !p) {
        ::kill(pid, SIGTERM);
        ::_exit(die(p.error()));
      }
    }
    ::_exit(0);
  }
  if (::setsid() < 0) return fail_errno(errno, "setsid");
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null) return fail_errno(errno, "open /dev/null");
  for (int fd = 0; fd <= 2; ++fd) ::dup2(null.get(), fd);
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  auto cli = parse_cli(argc, argv);
  if (!cli) {
    std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", kProg, cli.error().message().c_str(), kProg);
    return 2;
  }
  if (cli->help) {
    std::fputs(usage_text(), stdout);
    return 0;
  }
  auto stop = stop_signals();
  if (!stop) return die(stop.error());
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  LogSink log;
  if (cli->verbose) log = [](std::string_view line) {
    std::printf("%s: %.*s\n", kProg, static_cast<int>(line.size()), line.data());
  };
  auto server = Server::start(cli->server, log);
  if (!server) return die(server.error());
  const ServerOptions& o = server->options();
  std::printf("%s: listening on %s (shared memory %s, %llu bytes, %u vector%s)\n", kProg, o.socket_path.c_str(),
              o.shm_description().c_str(),
              static_cast<unsigned long long>(o.shm_size), o.vectors, o.vectors == 1 ? "" : "s");
  std::fflush(stdout);
  if (cli->daemon) {
    if (auto d = detach(cli->pidfile); !d) return die(d.error());
  } else if (!cli->pidfile.empty()) {
    if (auto p = write_pidfile(cli->pidfile, ::getpid()); !p) return die(p.error());
  }
  auto r = server->run(stop->get());
  if (!cli->pidfile.empty()) ::unlink(cli->pidfile.c_str());
  if (!r) return die(r.error());
  return 0;
}
