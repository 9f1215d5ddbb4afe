// The postboxd client backend: connect, receive identity and window files, map the windows.
#include "pbx/hal/postboxd/client.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "pbx/base/barrier.h"
#include "pbx/hal/postboxd/seqpacket.h"

namespace pbx::hal {

namespace pd = postboxd;

namespace {

constexpr int kReplyTimeoutS = 10;  // a live daemon answers at once; this only ends a hang

std::string group_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  const group* g = ::getgrgid(st.st_gid);
  return g != nullptr ? g->gr_name : std::to_string(st.st_gid);
}

Result<UniqueFd> connect_to(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return fail(Errc::kInvalidArgument, "postboxd socket path '%s' is empty or longer than %zu characters",
                path.c_str(), sizeof addr.sun_path - 1);
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  UniqueFd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!s) return fail_errno(errno, "socket(AF_UNIX, SOCK_SEQPACKET)");
  int rc;
  do {
    rc = ::connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);  // NOLINT: sockaddr API
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) {
    const timeval tv{kReplyTimeoutS, 0};
    if (::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
      return fail_errno(errno, "setsockopt(SO_RCVTIMEO) on %s", path.c_str());
    return s;
  }
  const int err = errno;
  switch (err) {
    case ENOENT:
      return tl::unexpected(Error(Errc::kNoDevice, err,
                                  "no postboxd socket at " + path +
                                      ": start the node manager (systemctl start postboxd, or postboxd --device ...), "
                                      "or point PBX_POSTBOXD_SOCKET at the --socket it serves"));
    case ECONNREFUSED:
      return tl::unexpected(Error(Errc::kNoDevice, err,
                                  "nothing listens on " + path +
                                      " (a socket left by a postboxd that stopped): start postboxd again"));
    case EACCES:
    case EPERM:
      return tl::unexpected(Error(Errc::kPermissionDenied, err,
                                  "permission denied connecting to " + path + ": join group '" + group_of(path) +
                                      "' (usermod -aG " + group_of(path) + " $USER, then log in again)"));
    case EPROTOTYPE:
    case ENOTSOCK:
      return tl::unexpected(Error(Errc::kInvalidArgument, err, path + " is not a postboxd socket"));
    default:
      return fail_errno(err, "connect to postboxd at %s", path.c_str());
  }
}

Result<MmapRegion> map_window(int fd, const pd::WireWindow& w, int prot, const char* what, uint16_t node) {
  void* p = ::mmap(nullptr, w.length, prot, MAP_SHARED, fd, static_cast<off_t>(w.offset));
  if (p == MAP_FAILED)
    return fail_errno(errno, "mmap the %s window of node %u received from postboxd (%llu bytes at offset %llu)", what,
                      node, static_cast<unsigned long long>(w.length), static_cast<unsigned long long>(w.offset));
  return MmapRegion(p, w.length);
}

}  // namespace

Result<std::unique_ptr<PostboxdClientDevice>> PostboxdClientDevice::open(const std::string& socket_path) {
  std::unique_ptr<PostboxdClientDevice> dev(new PostboxdClientDevice());
  dev->path_ = socket_path;
  auto s = connect_to(socket_path);
  if (!s) return tl::unexpected(s.error());
  dev->sock_ = std::move(*s);
  if (auto ok = dev->handshake(); !ok) return tl::unexpected(ok.error());
  return dev;
}

PostboxdClientDevice::~PostboxdClientDevice() = default;

Result<void> PostboxdClientDevice::handshake() {
  const std::string who = "postboxd at " + path_;
  pd::Hello hello{pd::header(pd::MsgType::kHello, sizeof(pd::Hello)), static_cast<uint32_t>(::getpid()), 0};
  if (auto ok = pd::send_message(sock_.get(), pd::encode(hello)); !ok) return gone(ok.error(), "saying hello");
  auto msg = pd::recv_message(sock_.get(), pd::kMaxMessage);
  if (!msg) return gone(msg.error(), "waiting for its welcome");
  if (msg->bytes.empty()) return gone(Error(Errc::kLinkDown, "it closed the connection"), "waiting for its welcome");
  auto id = pd::decode_welcome(msg->bytes, msg->fds.size(), who);
  if (!id) return tl::unexpected(id.error());
  info_.backend = "postboxd/" + id->backend;
  info_.name = id->name;
  info_.self = NodeIdx(id->self);
  info_.node_count = id->node_count;
  info_.spad_count = id->spad_count;
  info_.db_valid_mask = id->db_valid_mask;
  info_.window_size = id->window_size;
  // The windows to other nodes (the one to self is local memory, write-back on every backend).
  const uint16_t first_peer = id->node_count > 1 && id->self == 0 ? 1 : 0;
  info_.outbound_mem_type = static_cast<MemType>(id->outbound[first_peer].mem_type);
  return map_windows(*id, std::move(msg->fds));
}

Result<void> PostboxdClientDevice::map_windows(const pd::Identity& id, std::vector<UniqueFd> fds) {
  auto page = pd::StatusPage::attach(fds[0].get(), id.status_size, id.node_count, id.self);
  if (!page) return tl::unexpected(page.error());
  status_ = std::move(*page);
  for (uint16_t k = 0; k < id.node_count; ++k) {
    auto out = map_window(fds[id.outbound[k].fd_index].get(), id.outbound[k], PROT_READ | PROT_WRITE, "outbound", k);
    if (!out) return tl::unexpected(out.error());
    // Inbound read-only: a receiver never writes its own postboxes.
    auto in = map_window(fds[id.inbound[k].fd_index].get(), id.inbound[k], PROT_READ, "inbound", k);
    if (!in) return tl::unexpected(in.error());
    outbound_.push_back(std::move(*out));
    inbound_.push_back(std::move(*in));
  }
  out_desc_ = id.outbound;
  fds[0].reset();  // the status page stays mapped
  files_ = std::move(fds);
  return {};
}

Result<void> PostboxdClientDevice::gone(const Error& why, const char* what) {
  disconnected_ = true;
  return tl::unexpected(Error(Errc::kLinkDown, why.sys_errno(),
                              "postboxd at " + path_ + " has gone (" + what + ": " + why.message() +
                                  "): restart the node manager (systemctl restart postboxd), then this process"));
}

Result<uint64_t> PostboxdClientDevice::call(pd::Op op, NodeIdx peer, uint16_t idx, uint64_t value, const char* what) {
  if (disconnected_ || !status_.daemon_alive())
    return tl::unexpected(Error(Errc::kLinkDown, "postboxd at " + path_ + " has gone: " + what +
                                                     " needs it; restart it (systemctl restart postboxd), then this "
                                                     "process"));
  pd::Request r{pd::header(pd::MsgType::kRequest, sizeof(pd::Request)), static_cast<uint16_t>(op), peer.v, idx, 0,
                value};
  if (auto ok = pd::send_message(sock_.get(), pd::encode(r)); !ok) {
    auto e = gone(ok.error(), what);
    return tl::unexpected(e.error());
  }
  auto msg = pd::recv_message(sock_.get(), pd::kMaxMessage);
  if (!msg) {
    if (msg.error().sys_errno() == EAGAIN)
      return fail(Errc::kTimedOut, "%s: postboxd at %s did not answer within %d s (stopped? overloaded?)", what,
                  path_.c_str(), kReplyTimeoutS);
    auto e = gone(msg.error(), what);
    return tl::unexpected(e.error());
  }
  if (msg->bytes.empty()) {
    auto e = gone(Error(Errc::kLinkDown, "it closed the connection"), what);
    return tl::unexpected(e.error());
  }
  return pd::decode_status(msg->bytes, "postboxd at " + path_);
}

Result<OutboundWindow> PostboxdClientDevice::do_peer_mw(NodeIdx peer) {
  return OutboundWindow(outbound_[peer.v].data(), info_.window_size, static_cast<MemType>(out_desc_[peer.v].mem_type));
}

Result<InboundWindow> PostboxdClientDevice::do_local_mw(NodeIdx peer) {
  return InboundWindow(inbound_[peer.v].data(), info_.window_size);
}

Result<void> PostboxdClientDevice::do_commit_peer_memory(NodeIdx peer, size_t off, size_t len) {
  const pd::WireWindow& w = out_desc_[peer.v];
  if (w.sparse == 0) return {};
  // Allocates the pages now: a full tmpfs is an error here instead of a SIGBUS on first store.
  if (::fallocate(files_[w.fd_index].get(), 0, static_cast<off_t>(w.offset + off), static_cast<off_t>(len)) != 0) {
    const int err = errno;
    if (err == ENOSPC)
      return fail(Errc::kNoMemory,
                  "shared memory is full: no room for %zu KiB more in node %u's window from node %u (served by "
                  "postboxd at %s); free memory or enlarge the tmpfs, or lower pool_size",
                  len >> 10, peer.v, info_.self.v, path_.c_str());
    return fail_errno(err, "fallocate %zu bytes in node %u's window (postboxd at %s)", len, peer.v, path_.c_str());
  }
  return {};
}

LinkStatus PostboxdClientDevice::do_link_status(NodeIdx peer) noexcept {
  LinkStatus ls = status_.link(peer.v);
  if (!status_.daemon_alive() && ls.up) {
    // The daemon died without saying so: nobody keeps this link any more.
    ls.up = false;
    ++ls.generation;
  }
  return ls;
}

Result<uint32_t> PostboxdClientDevice::do_spad_read(NodeIdx peer, SpadIdx idx) {
  auto v = call(pd::Op::kSpadRead, peer, idx.v, 0, "spad_read");
  if (!v) return tl::unexpected(v.error());
  return static_cast<uint32_t>(*v);
}

Result<void> PostboxdClientDevice::do_peer_spad_write(NodeIdx peer, SpadIdx idx, uint32_t v) {
  auto r = call(pd::Op::kPeerSpadWrite, peer, idx.v, v, "peer_spad_write");
  if (!r) return tl::unexpected(r.error());
  return {};
}

Result<void> PostboxdClientDevice::do_peer_db_set(NodeIdx peer, uint64_t bits) {
  // Drains write-combining buffers: window stores made before ringing land before the daemon
  // rings (its own barrier then orders the doorbell after our stores, which it cannot see).
  wc_flush();
  auto r = call(pd::Op::kPeerDbSet, peer, 0, bits, "peer_db_set");
  if (!r) return tl::unexpected(r.error());
  return {};
}

Result<uint64_t> PostboxdClientDevice::do_db_read(NodeIdx peer) {
  return call(pd::Op::kDbRead, peer, 0, 0, "db_read");
}

Result<void> PostboxdClientDevice::do_db_clear(NodeIdx peer, uint64_t bits) {
  auto r = call(pd::Op::kDbClear, peer, 0, bits, "db_clear");
  if (!r) return tl::unexpected(r.error());
  return {};
}

Result<void> PostboxdClientDevice::db_sleep(NodeIdx /*peer*/, uint64_t /*token*/, uint64_t ns) {
  // Control path: the doorbell interrupt is the daemon's, so look again after a short nap.
  const timespec nap{0, static_cast<long>(std::min<uint64_t>(ns, 100'000))};
  ::nanosleep(&nap, nullptr);
  return {};
}

}  // namespace pbx::hal
