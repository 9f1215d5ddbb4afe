#include "access.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace pbx::postboxd {

Result<AccessGroup> lookup_group(const std::string& name) {
  std::vector<char> buf(16384);
  group g{};
  group* found = nullptr;
  const int rc = ::getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found);
  if (rc != 0) return fail_errno(rc, "look up group '%s'", name.c_str());
  if (found == nullptr)
    return fail(Errc::kNoDevice,
                "group '%s' does not exist: create it (groupadd --system %s) and add the users who run postbox "
                "programs, or start postboxd with --group NAME",
                name.c_str(), name.c_str());
  return AccessGroup{name, g.gr_gid};
}

Result<PeerCred> peer_credentials(int sock) {
  ucred uc{};
  socklen_t len = sizeof uc;
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0) return fail_errno(errno, "getsockopt(SO_PEERCRED)");
  PeerCred c{uc.pid, uc.uid, uc.gid, {}};
  std::vector<gid_t> groups(64);
  for (;;) {
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
      groups.resize(glen / sizeof(gid_t));
      break;
    }
    if (errno != ERANGE) return fail_errno(errno, "getsockopt(SO_PEERGROUPS)");
    groups.resize(glen / sizeof(gid_t) + 1);  // the kernel says how much it needs
  }
  c.groups = std::move(groups);
  return c;
}

Result<void> check_access(const PeerCred& who, const AccessGroup& group) {
  if (who.uid == 0 || who.gid == group.gid) return {};
  if (std::find(who.groups.begin(), who.groups.end(), group.gid) != who.groups.end()) return {};
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  std::string user = std::to_string(who.uid);
  if (::getpwuid_r(who.uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) user = pw.pw_name;
  return fail(Errc::kPermissionDenied,
              "postboxd refused pid %d: user %s (uid %u) is not root and not in group '%s': add the user to it "
              "(usermod -aG %s %s), log in again, and retry",
              static_cast<int>(who.pid), user.c_str(), static_cast<unsigned>(who.uid), group.name.c_str(),
              group.name.c_str(), user.c_str());
}

}  // namespace pbx::postboxd
