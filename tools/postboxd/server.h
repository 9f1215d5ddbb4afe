// The daemon's event loop: accepts clients, checks who they are, hands them the node's
// identity and window files, answers their control requests, and keeps the links.
#pragma once

#include <sys/types.h>

#include <memory>
#include <vector>

#include "access.h"
#include "links.h"
#include "listener.h"
#include "pbx/base/unique_fd.h"
#include "pbx/hal/postboxd/protocol.h"

namespace pbx::postboxd {

class Server {
 public:
  // Builds the Welcome (identity + fd table) once: the windows never change.
  [[nodiscard]] static Result<std::unique_ptr<Server>> create(hal::Device& dev, hal::postboxd::StatusPage& page,
                                                              LinkKeeper& links, Listener& listener, AccessGroup group,
                                                              uint32_t tick_ms, Log log);
  // Serves until a signal arrives on `signal_fd` (a signalfd); returns the signal.
  [[nodiscard]] Result<int> run(int signal_fd);
  size_t clients() const noexcept { return clients_.size(); }

 private:
  struct Client {
    UniqueFd sock;
    PeerCred cred;
    bool welcomed = false;
  };
  Server(hal::Device& dev, LinkKeeper& links, Listener& listener, AccessGroup group, uint32_t tick_ms, Log log)
      : dev_(dev), links_(links), listener_(listener), group_(std::move(group)), tick_ms_(tick_ms), log_(std::move(log)) {}
  void accept_clients();
  bool serve(Client& c);  // false: drop the client
  bool greet(Client& c, std::span<const std::byte> msg);
  Result<uint64_t> execute(const hal::postboxd::Request& r);

  hal::Device& dev_;
  LinkKeeper& links_;
  Listener& listener_;
  AccessGroup group_;
  uint32_t tick_ms_;
  Log log_;
  std::vector<std::byte> welcome_;
  std::vector<int> welcome_fds_;  // owned by the device and the status page
  std::vector<Client> clients_;
};

}  // namespace pbx::postboxd
