// Shared pieces of the ivshmem server tests: a private temporary folder, unique names, and a
// child process whose output lines can be awaited with a deadline.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pbx/base/barrier.h"

namespace pbx::ivshmem_server::test {

inline constexpr uint64_t kTimeoutNs = 20'000'000'000ull;  // generous: CI machines are shared

// A fresh folder under $TMPDIR (short path: socket paths are limited to 107 bytes).
class TempDir {
 public:
  TempDir() {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/pbx-ivs.XXXXXX";
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string unique_shm_name() {
  static std::atomic<int> n{0};
  return "pbx-ivs-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

inline bool shm_exists(const std::string& name) { return std::filesystem::exists("/dev/shm/" + name); }

// A child process with stdout and stderr on pipes.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~Child() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
    if (out_ >= 0) ::close(out_);
    if (err_ >= 0) ::close(err_);
  }
  pid_t pid() const { return pid_; }

  // Reads stdout until a line containing `needle` arrives or the deadline passes.
  bool wait_for_line(const std::string& needle, uint64_t timeout_ns = kTimeoutNs) {
    const uint64_t deadline = now_ns() + timeout_ns;
    for (;;) {
      if (stdout_.find(needle) != std::string::npos) return true;
      const uint64_t now = now_ns();
      if (now >= deadline) return false;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000 + 1)) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) return stdout_.find(needle) != std::string::npos;
      stdout_.append(buf, static_cast<size_t>(n));
    }
  }

  // Waits for the exit status (blocking: the caller made sure the child ends), draining output.
  int wait() {
    if (!status_) {
      drain(out_, stdout_);
      drain(err_, stderr_);
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
      status_ = st;
    }
    return WIFEXITED(*status_) ? WEXITSTATUS(*status_) : 128 + WTERMSIG(*status_);
  }
  const std::string& out() const { return stdout_; }
  const std::string& err() const { return stderr_; }

 private:
  static void drain(int fd, std::string& into) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) into.append(buf, static_cast<size_t>(n));
  }
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  std::string stdout_, stderr_;
  std::optional<int> status_;
};

}  // namespace pbx::ivshmem_server::test
