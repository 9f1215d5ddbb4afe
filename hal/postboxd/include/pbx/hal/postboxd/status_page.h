// The postboxd status page: link state a node manager publishes for its clients, in a small
// shared memory (a memfd the daemon sends as fd 0 of its Welcome). Clients read it on every
// link_status() without a system call.
//
//   page 0 (read-only for clients)        page 1 (read-write)
//   Header{magic, version, nodes, self}   liveness: a process-shared robust mutex that the
//   link word [k] at 64 + 8k              daemon locks at start and holds until it exits
//
// Link word: bit 0 = up, bits 32..63 = generation (changes on every transition), the loopback
// control file's encoding. The daemon's death, even by SIGKILL, is seen without it saying so:
// the kernel marks a robust mutex "owner died" when its owner exits, so a client's trylock
// fails with EOWNERDEAD / ENOTRECOVERABLE instead of EBUSY (no system call while it lives).
#pragma once

#include <pthread.h>

#include <cstdint>

#include "pbx/base/error.h"
#include "pbx/base/unique_fd.h"
#include "pbx/hal/types.h"

namespace pbx::hal::postboxd {

class StatusPage {
 public:
  static constexpr uint64_t kMagic = 0x5441545344584250ull;  // "PBXDSTAT"
  static constexpr uint32_t kVersion = 1;
  static constexpr size_t kPage = 4096;
  static constexpr size_t kSize = 2 * kPage;
  static constexpr uint16_t kMaxNodes = 64;

  // The daemon's side: a new memfd, links down (generation 1), the liveness mutex held by the
  // calling thread, which must live as long as the daemon (its main thread).
  [[nodiscard]] static Result<StatusPage> create(uint16_t node_count, uint16_t self);
  // A client's side: maps the page from the fd received from the daemon; checks the header.
  [[nodiscard]] static Result<StatusPage> attach(int fd, size_t size, uint16_t node_count, uint16_t self);

  StatusPage() = default;
  StatusPage(StatusPage&&) noexcept = default;
  StatusPage& operator=(StatusPage&&) noexcept = default;

  int fd() const noexcept { return fd_.get(); }
  uint16_t node_count() const noexcept { return nodes_; }

  // Daemon: publishes the link to node k (release; pairs with the acquire in link()).
  void publish(uint16_t k, bool up, uint32_t generation) noexcept;
  // The published link to node k.
  LinkStatus link(uint16_t k) const noexcept;
  // Client: false once the daemon has exited (sticky). Lock-free while it lives.
  bool daemon_alive() noexcept;

 private:
  uint64_t* word(size_t off) const noexcept;
  pthread_mutex_t* alive_mutex() const noexcept;

  UniqueFd fd_;         // daemon: the memfd it sends; client: unused (the fd is closed after mapping)
  MmapRegion header_;   // page 0 (client: read-only)
  MmapRegion liveness_; // page 1
  uint16_t nodes_ = 0;
  bool dead_ = false;
};

}  // namespace pbx::hal::postboxd
