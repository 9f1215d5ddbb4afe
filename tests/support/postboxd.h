// A real postboxd for tests: fork/exec of the built binary in the foreground, its stderr read
// by a thread. start() returns once the daemon printed its "ready" line or exited: an event,
// never a sleep. Tests only.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace pbx::test {

// A private directory for sockets (traversable by other users: some tests drop privileges).
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/pbx-postboxd-XXXXXX";
    path_ = ::mkdtemp(tmpl);
    ::chmod(path_.c_str(), 0755);
  }
  ~TempDir() { (void)!std::system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The name of this process's primary group (root passes postboxd's check anyway).
inline std::string own_group() {
  const group* g = ::getgrgid(::getgid());
  return g != nullptr ? g->gr_name : "root";
}

class Daemon {
 public:
  // Starts POSTBOXD with `args` plus --foreground.
  explicit Daemon(std::vector<std::string> args) {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    args.insert(args.begin(), POSTBOXD);
    args.push_back("--foreground");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(p[1], 2);
      ::close(p[0]);
      ::close(p[1]);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(p[1]);
    reader_ = std::thread([this, fd = p[0]] {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        std::lock_guard lock(mu_);
        log_.append(buf, static_cast<size_t>(n));
        cv_.notify_all();
      }
      ::close(fd);
      std::lock_guard lock(mu_);
      eof_ = true;
      cv_.notify_all();
    });
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return eof_ || log_.find("postboxd: ready:") != std::string::npos; });
    ready_ = log_.find("postboxd: ready:") != std::string::npos;
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon() {
    if (running()) (void)stop(SIGKILL);
    if (reader_.joinable()) reader_.join();
  }

  bool ready() const { return ready_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && status_ < 0; }
  std::string log() {
    std::lock_guard lock(mu_);
    return log_;
  }
  // Waits until the log contains `text` or the daemon's stderr closes; true if it appeared.
  bool wait_for_log(const std::string& text) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return eof_ || log_.find(text) != std::string::npos; });
    return log_.find(text) != std::string::npos;
  }
  // Sends `sig` and reaps the daemon: its exit status (128 + signal if killed).
  int stop(int sig = SIGTERM) {
    if (!running()) return status_;
    ::kill(pid_, sig);
    return wait();
  }
  // Reaps a daemon that exits by itself.
  int wait() {
    int st = 0;
    ::waitpid(pid_, &st, 0);
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (reader_.joinable()) reader_.join();  // its stderr is closed now
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool ready_ = false;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string log_;
  bool eof_ = false;
};

}  // namespace pbx::test
