// A unit-test stand-in for ivshmem VMs: one shared memory (a memfd) and one eventfd per
// (peer, vector), like the ivshmem server hands out. Each TestIvshmemPort maps the memfd twice
// (a control view and a data view at different addresses, as a VM maps BAR2 uncached and
// write-combining) and rings a peer by writing its eventfd, as QEMU does for a doorbell write.
// Real kernel objects, so ports work across threads and fork()ed processes. Tests only.
#pragma once

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "pbx/hal/ivshmem.h"
#include "pbx/vfio/sys_api.h"

namespace pbx::hal::test {

class IvshmemFabric {
 public:
  // `peers` VMs (peer IDs 0..peers-1), `vectors` interrupt vectors each.
  IvshmemFabric(size_t shm_size, uint16_t peers, uint16_t vectors) : s_(std::make_shared<State>()) {
    s_->size = shm_size;
    s_->vectors = vectors;
    s_->memfd = ::memfd_create("pbx-ivshmem-test", MFD_CLOEXEC);
    EXPECT_GE(s_->memfd, 0);
    EXPECT_EQ(::ftruncate(s_->memfd, static_cast<off_t>(shm_size)), 0);
    s_->efd.resize(peers);
    for (auto& v : s_->efd)
      for (uint16_t i = 0; i < vectors; ++i) v.push_back(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  }

  class Port;
  // A port for peer `id`; `vectors` it listens on (default: all; 0 models ivshmem-plain).
  std::unique_ptr<Port> port(uint16_t id, int vectors = -1, MemType data_type = MemType::kUncached) {
    return std::make_unique<Port>(s_, id, vectors < 0 ? s_->vectors : static_cast<uint16_t>(vectors), data_type);
  }
  // Raw access to the shared memory (a third mapping), to plant bad data.
  std::byte* map() {
    void* p = ::mmap(nullptr, s_->size, PROT_READ | PROT_WRITE, MAP_SHARED, s_->memfd, 0);
    EXPECT_NE(p, MAP_FAILED);
    maps_.push_back(p);
    return static_cast<std::byte*>(p);
  }
  ~IvshmemFabric() {
    for (void* p : maps_) ::munmap(p, s_->size);
  }

  struct State {
    size_t size = 0;
    uint16_t vectors = 0;
    int memfd = -1;
    std::vector<std::vector<int>> efd;  // [peer][vector]
    ~State() {
      for (auto& v : efd)
        for (int fd : v) ::close(fd);
      if (memfd >= 0) ::close(memfd);
    }
  };

  class Port final : public IvshmemPort {
   public:
    Port(std::shared_ptr<State> s, uint16_t id, uint16_t vectors, MemType data_type)
        : s_(std::move(s)), id_(id), vectors_(vectors), data_type_(data_type) {
      ctl_ = map_shared();
      data_ = map_shared();
    }
    ~Port() override {
      ::munmap(ctl_, s_->size);
      ::munmap(data_, s_->size);
    }

    std::string name() const override { return "test-ivshmem-" + std::to_string(id_); }
    std::span<std::byte> control_memory() const noexcept override { return {ctl_, s_->size}; }
    std::span<std::byte> data_memory() const noexcept override { return {data_, s_->size}; }
    MemType data_mem_type() const noexcept override { return data_type_; }
    uint16_t peer_id() const noexcept override { return id_; }
    uint16_t vector_count() const noexcept override { return vectors_; }
    void ring(uint16_t peer, uint16_t vector) noexcept override {
      {
        std::lock_guard lock(mu_);
        rings_.emplace_back(peer, vector);
      }
      if (peer >= s_->efd.size() || vector >= s_->efd[peer].size()) return;  // ignored, as ivshmem does
      const uint64_t one = 1;
      (void)!::write(s_->efd[peer][vector], &one, sizeof one);
    }
    Result<bool> wait(uint16_t vector, uint64_t timeout_ns) override {
      {
        std::lock_guard lock(mu_);
        ++waits_;
      }
      if (on_wait) on_wait();
      pollfd p{s_->efd[id_][vector], POLLIN, 0};
      const int r = vfio::system_sys_api().poll(&p, 1, static_cast<int64_t>(timeout_ns));
      if (r < 0) return fail_errno(errno, "poll");
      if (r == 0) return false;
      uint64_t n;
      const bool drained = ::read(s_->efd[id_][vector], &n, sizeof n) == static_cast<ssize_t>(sizeof n);
      if (drained) {
        std::lock_guard lock(mu_);
        ++wakeups_;
      }
      return drained;
    }

    // The memfd, as the VFIO device fd would be handed out (mapped write-back here).
    Result<MappableFile> shared_memory_file() override { return MappableFile{s_->memfd, 0, MemType::kWriteBack}; }

    std::vector<std::pair<uint16_t, uint16_t>> rings() const {
      std::lock_guard lock(mu_);
      return rings_;
    }
    int waits() const {
      std::lock_guard lock(mu_);
      return waits_;
    }
    // Waits that ended because the vector fired (not by time-out).
    int wakeups() const {
      std::lock_guard lock(mu_);
      return wakeups_;
    }
    // Called when wait() is entered, before it blocks (lets a test act once a waiter is inside).
    std::function<void()> on_wait;

   private:
    std::byte* map_shared() {
      void* p = ::mmap(nullptr, s_->size, PROT_READ | PROT_WRITE, MAP_SHARED, s_->memfd, 0);
      EXPECT_NE(p, MAP_FAILED);
      return static_cast<std::byte*>(p);
    }
    std::shared_ptr<State> s_;
    uint16_t id_;
    uint16_t vectors_;
    MemType data_type_;
    std::byte* ctl_;
    std::byte* data_;
    mutable std::mutex mu_;
    std::vector<std::pair<uint16_t, uint16_t>> rings_;
    int waits_ = 0;
    int wakeups_ = 0;
  };

 private:
  std::shared_ptr<State> s_;
  std::vector<void*> maps_;
};

}  // namespace pbx::hal::test
