// An AccessRecorder that keeps every store, flush and remote read (thread-safe), and checks
// the ordering rules of DESIGN.md on the log.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "pbx/hal/window.h"

namespace pbx::test {

struct Access {
  enum Type { kStore, kFlush, kRead } type;
  size_t offset = 0;
  size_t len = 0;
  hal::StoreKind kind = hal::StoreKind::kControl;
};

class EventLog final : public hal::AccessRecorder {
 public:
  void on_store(size_t off, size_t len, hal::StoreKind kind) override {
    std::lock_guard<std::mutex> g(mu_);
    log_.push_back({Access::kStore, off, len, kind});
  }
  void on_flush() override {
    std::lock_guard<std::mutex> g(mu_);
    log_.push_back({Access::kFlush, 0, 0, hal::StoreKind::kControl});
  }
  void on_read(size_t off, size_t len) override {
    std::lock_guard<std::mutex> g(mu_);
    log_.push_back({Access::kRead, off, len, hal::StoreKind::kControl});
  }

  std::vector<Access> events() const {
    std::lock_guard<std::mutex> g(mu_);
    return log_;
  }
  size_t count(Access::Type t, hal::StoreKind k = hal::StoreKind::kControl, bool any_kind = true) const {
    std::lock_guard<std::mutex> g(mu_);
    size_t n = 0;
    for (const Access& a : log_)
      if (a.type == t && (any_kind || a.kind == k)) ++n;
    return n;
  }
  // The rule for pool messages: every indicator store comes after a flush that follows the
  // last payload store. Returns a description of the first violation, or "".
  std::string first_unflushed_indicator() const {
    std::lock_guard<std::mutex> g(mu_);
    bool payload_unflushed = false;
    for (size_t i = 0; i < log_.size(); ++i) {
      const Access& a = log_[i];
      if (a.type == Access::kFlush) payload_unflushed = false;
      if (a.type != Access::kStore) continue;
      if (a.kind == hal::StoreKind::kPayload) payload_unflushed = true;
      if (a.kind == hal::StoreKind::kIndicator && payload_unflushed)
        return "event " + std::to_string(i) + ": indicator store at offset " + std::to_string(a.offset) +
               " with payload stores before it and no flush in between";
    }
    return {};
  }
  void clear() {
    std::lock_guard<std::mutex> g(mu_);
    log_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<Access> log_;
};

}  // namespace pbx::test
