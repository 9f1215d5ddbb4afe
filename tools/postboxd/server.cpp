#include "server.h"

#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>

#include "pbx/hal/postboxd/seqpacket.h"
#include "pbx/hal/spad_handshake.h"

namespace pbx::postboxd {

namespace pd = hal::postboxd;

Result<std::unique_ptr<Server>> Server::create(hal::Device& dev, pd::StatusPage& page, LinkKeeper& links,
                                               Listener& listener, AccessGroup group, uint32_t tick_ms, Log log) {
  std::unique_ptr<Server> s(new Server(dev, links, listener, std::move(group), tick_ms, std::move(log)));
  auto ex = dev.export_windows();
  if (!ex) return tl::unexpected(ex.error());
  const hal::DeviceInfo& info = dev.info();
  pd::Identity id;
  id.self = info.self.v;
  id.node_count = info.node_count;
  id.spad_count = info.spad_count;
  id.db_valid_mask = info.db_valid_mask;
  id.window_size = info.window_size;
  id.status_size = pd::StatusPage::kSize;
  id.backend = info.backend;
  id.name = info.name;
  s->welcome_fds_.push_back(page.fd());
  std::map<int, uint32_t> index;  // one entry per distinct file: loopback has one per node
  auto wire = [&](const hal::WindowExport& w) {
    auto [it, added] = index.emplace(w.fd, static_cast<uint32_t>(s->welcome_fds_.size()));
    if (added) s->welcome_fds_.push_back(w.fd);
    return pd::WireWindow{it->second, static_cast<uint8_t>(w.mem_type), static_cast<uint8_t>(w.sparse ? 1 : 0), 0,
                          w.offset, w.length};
  };
  for (const hal::NodeWindowsExport& n : *ex) {
    id.outbound.push_back(wire(n.outbound));
    id.inbound.push_back(wire(n.inbound));
  }
  if (s->welcome_fds_.size() > pd::kMaxFds)
    return fail(Errc::kNotSupported, "the device exports %zu files, more than one message can pass (%zu)",
                s->welcome_fds_.size(), pd::kMaxFds);
  id.fd_count = static_cast<uint16_t>(s->welcome_fds_.size());
  s->welcome_ = pd::encode_welcome(id);
  return s;
}

void Server::accept_clients() {
  for (;;) {
    UniqueFd c(::accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!c) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) log_("accept: " + std::string(strerror(errno)));
      return;
    }
    auto cred = peer_credentials(c.get());
    if (!cred) {
      log_("dropping a client: " + cred.error().message());
      continue;
    }
    clients_.push_back(Client{std::move(c), *cred, false});
  }
}

bool Server::greet(Client& c, std::span<const std::byte> msg) {
  const std::string who = "pid " + std::to_string(c.cred.pid) + " (uid " + std::to_string(c.cred.uid) + ")";
  auto hello = pd::decode_hello(msg);
  Result<void> ok = hello ? check_access(c.cred, group_) : tl::unexpected(hello.error());
  if (!ok) {
    log_("refused " + who + ": " + ok.error().message());
    (void)pd::send_message(c.sock.get(), pd::encode_status(pd::MsgType::kRefused, tl::unexpected(ok.error())));
    return false;
  }
  if (auto sent = pd::send_message(c.sock.get(), welcome_, welcome_fds_); !sent) {
    log_("could not welcome " + who + ": " + sent.error().message());
    return false;
  }
  c.welcomed = true;
  log_("client " + who + " connected");
  return true;
}

Result<uint64_t> Server::execute(const pd::Request& r) {
  const hal::NodeIdx peer(r.peer);
  switch (static_cast<pd::Op>(r.op)) {
    case pd::Op::kSpadRead: {
      auto v = dev_.spad_read(peer, hal::SpadIdx(r.idx));
      if (!v) return tl::unexpected(v.error());
      return uint64_t{*v};
    }
    case pd::Op::kPeerSpadWrite: {
      if (links_.handshake() && r.idx < hal::SpadHandshake::kSpadsUsed)
        return fail(Errc::kPermissionDenied,
                    "peer_spad_write: scratchpads 0..%u carry postboxd's link handshake; use %u..%u",
                    hal::SpadHandshake::kSpadsUsed - 1u, unsigned{hal::SpadHandshake::kSpadsUsed},
                    dev_.info().spad_count - 1u);
      auto ok = dev_.peer_spad_write(peer, hal::SpadIdx(r.idx), static_cast<uint32_t>(r.value));
      if (!ok) return tl::unexpected(ok.error());
      return uint64_t{0};
    }
    case pd::Op::kPeerDbSet: {
      auto ok = dev_.peer_db_set(peer, r.value);
      if (!ok) return tl::unexpected(ok.error());
      return uint64_t{0};
    }
    case pd::Op::kDbRead: return dev_.db_read(peer);
    case pd::Op::kDbClear: {
      auto ok = dev_.db_clear(peer, r.value);
      if (!ok) return tl::unexpected(ok.error());
      return uint64_t{0};
    }
  }
  return fail(Errc::kProtocolError, "unknown operation %u", r.op);
}

bool Server::serve(Client& c) {
  auto msg = pd::recv_message(c.sock.get(), pd::kMaxMessage);
  if (!msg) {
    if (msg.error().sys_errno() == EAGAIN) return true;
    log_("dropping pid " + std::to_string(c.cred.pid) + ": " + msg.error().message());
    return false;
  }
  if (msg->bytes.empty()) {
    if (c.welcomed) log_("client pid " + std::to_string(c.cred.pid) + " left");
    return false;
  }
  if (!c.welcomed) return greet(c, msg->bytes);
  auto req = pd::decode_request(msg->bytes);
  if (!req) {
    log_("dropping pid " + std::to_string(c.cred.pid) + ": " + req.error().message());
    return false;
  }
  if (auto sent = pd::send_message(c.sock.get(), pd::encode_status(pd::MsgType::kReply, execute(*req))); !sent) {
    log_("dropping pid " + std::to_string(c.cred.pid) + ": " + sent.error().message());
    return false;
  }
  return true;
}

Result<int> Server::run(int signal_fd) {
  std::vector<pollfd> fds;
  for (;;) {
    links_.tick();
    fds.clear();
    fds.push_back({signal_fd, POLLIN, 0});
    fds.push_back({listener_.fd(), POLLIN, 0});
    for (const Client& c : clients_) fds.push_back({c.sock.get(), POLLIN, 0});
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(tick_ms_));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, "poll");
    }
    if (n == 0) continue;
    if ((fds[0].revents & POLLIN) != 0) {
      signalfd_siginfo si{};
      if (::read(signal_fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) return static_cast<int>(si.ssi_signo);
    }
    // Clients first (their indices match fds[2..]), then new ones.
    std::vector<size_t> drop;
    for (size_t i = 0; i < clients_.size(); ++i)
      if (fds[i + 2].revents != 0 && !serve(clients_[i])) drop.push_back(i);
    for (auto it = drop.rbegin(); it != drop.rend(); ++it) clients_.erase(clients_.begin() + static_cast<ptrdiff_t>(*it));
    if ((fds[1].revents & POLLIN) != 0) accept_clients();
  }
}

}  // namespace pbx::postboxd
