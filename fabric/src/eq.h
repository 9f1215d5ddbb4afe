// Event queue: control events (an application's fi_eq_write, address-vector insert results
// with FI_EVENT). A control-path object, so it is locked and may allocate; with FI_WAIT_FD or
// FI_WAIT_UNSPEC it has an eventfd that is readable while an event is queued.
#pragma once

#include <rdma/fi_eq.h>

#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include <atomic>

#include "pbx/base/unique_fd.h"
#include "provider.h"

namespace pbx::fabric {

class Fabric;

class Eq {
 public:
  static int open(Fabric* fabric, fi_eq_attr* attr, fid_eq** out, void* context);

  // An error event (err is a positive FI_E* value), as util providers write for AV inserts.
  void push_error(fid_t fid, void* context, uint64_t data, int err, std::string message);
  // An event of `len` bytes.
  ssize_t push(uint32_t event, const void* buf, size_t len);
  bool empty();
  void ref() noexcept { refs_.fetch_add(1); }
  void unref() noexcept { refs_.fetch_sub(1); }

 private:
  struct Event {
    uint32_t event = 0;
    bool error = false;
    std::vector<std::byte> bytes;  // the entry (event) or fi_eq_err_entry (error)
    std::string message;           // error text
  };

  Eq(Fabric* fabric, const fi_eq_attr& attr, void* context, UniqueFd efd);
  ssize_t read(uint32_t* event, void* buf, size_t len, uint64_t flags, int timeout);
  ssize_t readerr(fi_eq_err_entry* buf, uint64_t flags);
  void signal_locked();
  void consume_locked();

  static int close(fid* f);
  static int control(fid* f, int command, void* arg);
  static ssize_t op_read(fid_eq* eq, uint32_t* event, void* buf, size_t len, uint64_t flags);
  static ssize_t op_readerr(fid_eq* eq, fi_eq_err_entry* buf, uint64_t flags);
  static ssize_t op_write(fid_eq* eq, uint32_t event, const void* buf, size_t len, uint64_t flags);
  static ssize_t op_sread(fid_eq* eq, uint32_t* event, void* buf, size_t len, int timeout, uint64_t flags);
  static const char* op_strerror(fid_eq* eq, int prov_errno, const void* err_data, char* buf, size_t len);

  Handle<fid_eq, Eq> h_;
  Fabric* fabric_;
  fi_wait_obj wait_obj_;
  UniqueFd efd_;  // eventfd in semaphore mode: one count per queued event (none with FI_WAIT_NONE)
  std::mutex mu_;
  std::deque<Event> events_;
  std::string last_error_;
  std::atomic<int> refs_{0};
};

}  // namespace pbx::fabric
