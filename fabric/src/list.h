// Intrusive doubly linked FIFO lists and fixed-capacity object pools: the provider's queues
// (posted receives, unexpected messages, queued sends) move objects between lists without
// allocating. An object is on one list at a time through its own `prev` / `next` members.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <vector>

namespace pbx::fabric {

template <class T>
class List {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  size_t size() const noexcept { return size_; }
  T* front() const noexcept { return head_; }

  void push_back(T* x) noexcept {
    x->next = nullptr;
    x->prev = tail_;
    if (tail_ != nullptr) tail_->next = x;
    else head_ = x;
    tail_ = x;
    ++size_;
  }
  void push_front(T* x) noexcept {
    x->prev = nullptr;
    x->next = head_;
    if (head_ != nullptr) head_->prev = x;
    else tail_ = x;
    head_ = x;
    ++size_;
  }
  void remove(T* x) noexcept {
    if (x->prev != nullptr) x->prev->next = x->next;
    else head_ = x->next;
    if (x->next != nullptr) x->next->prev = x->prev;
    else tail_ = x->prev;
    x->prev = x->next = nullptr;
    --size_;
  }
  T* pop_front() noexcept {
    T* x = head_;
    if (x != nullptr) remove(x);
    return x;
  }
  // The first element for which pred(x) holds, in list order; nullptr if none.
  template <class Pred>
  T* find(Pred pred) const noexcept {
    for (T* x = head_; x != nullptr; x = x->next)
      if (pred(*x)) return x;
    return nullptr;
  }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
  size_t size_ = 0;
};

// A pool of T allocated in chunks: `reserve` objects up front, more chunks only when a burst
// needs them (unexpected messages have no bound a receiver can set). get() returns nullptr when
// a `limit` is reached. Objects keep their identity (index()) for their lifetime.
template <class T>
class Pool {
 public:
  // Allocates `reserve` objects now (control path); `limit` = 0 means no limit.
  void init(size_t reserve, size_t limit) {
    limit_ = limit;
    grow(reserve);
  }
  T* get() noexcept {
    if (free_.empty()) {
      if (limit_ != 0 && total_ >= limit_) return nullptr;
      try {
        grow(total_ == 0 ? 16 : total_);
      } catch (...) {
        return nullptr;
      }
    }
    ++in_use_;
    return free_.pop_front();
  }
  void put(T* x) noexcept {
    --in_use_;
    free_.push_back(x);
  }
  size_t in_use() const noexcept { return in_use_; }
  size_t available() const noexcept { return limit_ == 0 ? SIZE_MAX : limit_ - in_use_; }
  // Object by index (0 .. total-1), for handles carried in messages; nullptr if out of range.
  T* at(size_t index) const noexcept {
    size_t base = 0;
    for (const Chunk& c : chunks_) {
      if (index < base + c.count) return &c.objs[index - base];
      base += c.count;
    }
    return nullptr;
  }

 private:
  struct Chunk {
    std::unique_ptr<T[]> objs;
    size_t count;
  };
  void grow(size_t n) {
    constexpr size_t kMaxChunk = size_t{1} << 20;
    if (limit_ != 0) n = std::min(n, limit_ > total_ ? limit_ - total_ : 0);
    n = std::min(n, kMaxChunk);
    if (n == 0) return;
    Chunk c{std::make_unique<T[]>(n), n};
    for (size_t i = 0; i < n; ++i) {
      c.objs[i].pool_index = static_cast<uint32_t>(total_ + i);
      free_.push_back(&c.objs[i]);
    }
    total_ += n;
    chunks_.push_back(std::move(c));
  }
  std::vector<Chunk> chunks_;
  List<T> free_;
  size_t total_ = 0, in_use_ = 0, limit_ = 0;
};

}  // namespace pbx::fabric
