#include "sysfs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "pbx/base/unique_fd.h"

namespace pbx::probe {

std::string Sysfs::default_root() {
  const char* r = std::getenv("PBX_SYSFS_ROOT");
  return (r != nullptr && *r != '\0') ? r : "/sys";
}

bool Sysfs::exists(const std::string& path) const {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::optional<std::string> Sysfs::link_name(const std::string& path) const {
  char buf[4096];
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return std::nullopt;
  std::string target(buf, static_cast<size_t>(n));
  const auto slash = target.find_last_of('/');
  return slash == std::string::npos ? target : target.substr(slash + 1);
}

Result<std::string> Sysfs::read_line(const std::string& path) const {
  std::ifstream f(path);
  if (!f) return fail_errno(errno != 0 ? errno : ENOENT, "read %s", path.c_str());
  std::string line;
  std::getline(f, line);
  return line;
}

std::string describe_write_error(const std::string& path, int err) {
  std::string m = "write " + path + ": " + std::strerror(err);
  if (err == EACCES || err == EPERM) m += " (run as root)";
  return m;
}

Result<void> Sysfs::write(const std::string& path, const std::string& value) const {
  // O_TRUNC as the shell's `echo x > attr` does: sysfs ignores it, a regular file (tests) needs it.
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    return tl::unexpected(Error(errc_from_errno(err), err, describe_write_error(path, err)));
  }
  const ssize_t n = ::write(fd.get(), value.data(), value.size());
  if (n < 0) {
    const int err = errno;
    return tl::unexpected(Error(errc_from_errno(err), err, describe_write_error(path, err)));
  }
  return {};
}

std::string Sysfs::driver_of(const std::string& bdf) const {
  return link_name(device_dir(bdf) + "/driver").value_or("");
}

std::optional<int> Sysfs::iommu_group_of(const std::string& bdf) const {
  auto g = link_name(device_dir(bdf) + "/iommu_group");
  if (!g || g->empty()) return std::nullopt;
  char* end = nullptr;
  const long v = std::strtol(g->c_str(), &end, 10);
  if (end == g->c_str() || *end != '\0') return std::nullopt;
  return static_cast<int>(v);
}

}  // namespace pbx::probe
