// Who may use the node's device: root, or a member of the daemon's group (SO_PEERCRED).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "pbx/base/error.h"

namespace pbx::postboxd {

struct PeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups at connect time (SO_PEERGROUPS)
};

struct AccessGroup {
  std::string name;
  gid_t gid = 0;
};

// The group by name; the error says how to create it or choose another.
[[nodiscard]] Result<AccessGroup> lookup_group(const std::string& name);
// The credentials of the process at the other end of a connected Unix socket.
[[nodiscard]] Result<PeerCred> peer_credentials(int sock);
// Root and members of `group` pass; anyone else gets Errc::kPermissionDenied with a message
// that says which group to join and how.
[[nodiscard]] Result<void> check_access(const PeerCred& who, const AccessGroup& group);

}  // namespace pbx::postboxd
