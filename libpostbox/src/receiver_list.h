// The sender's receiver list (c7, c10, c27-c30): the receivers that hold buffer blocks, in
// the order this sender first sent to each. Under memory pressure the sender walks it to
// reclaim acknowledged memory, only visiting receivers on the node whose pool ran short (c28,
// the pool is per node). A receiver whose block count drops to zero leaves the list (c20,
// c30) and rejoins at the end when it next gets blocks.
//
// Intrusive and allocation-free: each channel embeds its hook.
#pragma once

#include <cassert>

namespace pbx::detail {

template <class T>
class IntrusiveList {
 public:
  struct Hook {
    T* prev = nullptr;
    T* next = nullptr;
    bool linked = false;
  };

  void push_back(T* x) noexcept {
    Hook& h = x->hook;
    assert(!h.linked);
    h.prev = tail_;
    h.next = nullptr;
    h.linked = true;
    if (tail_ != nullptr) tail_->hook.next = x;
    else head_ = x;
    tail_ = x;
    ++size_;
  }
  void remove(T* x) noexcept {
    Hook& h = x->hook;
    assert(h.linked);
    if (h.prev != nullptr) h.prev->hook.next = h.next;
    else head_ = h.next;
    if (h.next != nullptr) h.next->hook.prev = h.prev;
    else tail_ = h.prev;
    h = Hook{};
    --size_;
  }
  T* front() const noexcept { return head_; }
  static T* next(const T* x) noexcept { return x->hook.next; }
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return head_ == nullptr; }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
  size_t size_ = 0;
};

}  // namespace pbx::detail
