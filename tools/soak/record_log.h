// pbx-soak's record log: what one process (one incarnation of a rank) sent, received and was
// told it lost, as fixed-size records in a memory-mapped file. The records survive the process
// being killed (they are in the page cache the moment they are stored), so the checker can
// account for every message of a run with kills.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <time.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>

namespace pbx::soak {

enum class RecordType : uint8_t {
  kSent = 1,       // a send to `peer` completed; records of one peer are in numbering order
  kReceived = 2,   // a message from `peer` (incarnation `pid`) arrived, verified
  kLost = 3,       // take_lost(): message number `value` to `peer` (reason in `aux`)
  kViolation = 4,  // something the promise forbids (aux: ViolationKind), seen when receiving
};
enum class ViolationKind : uint8_t { kReordered = 1, kCorrupted = 2, kDuplicated = 3, kUnexpectedError = 4 };

struct Record {
  uint8_t type;
  uint8_t aux;
  uint16_t peer;    // flat rank
  uint32_t pid;     // kReceived: the sender's pid (its incarnation)
  uint64_t value;   // kSent, kReceived: attempt number | size << 32; kLost: the message number
  uint64_t time_ns; // CLOCK_REALTIME: kSent: when the send started; else when it was logged
};
static_assert(sizeof(Record) == 24);

inline uint64_t realtime_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

struct LogHeader {
  uint64_t magic;
  uint32_t rank, pid, size;  // this process, the job's size
  uint32_t finished;         // 1: the process ended normally (its losses are all reported)
  uint64_t capacity;
  std::atomic<uint64_t> count;
};
inline constexpr uint64_t kLogMagic = 0x31474f4c4b414f53ull;  // "SOAKLOG1"

// Writes one process's log (the worker).
class RecordLog {
 public:
  bool open(const std::string& path, uint32_t rank, uint32_t size, uint64_t capacity) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    bytes_ = sizeof(LogHeader) + capacity * sizeof(Record);
    const bool ok = ::ftruncate(fd, static_cast<off_t>(bytes_)) == 0;
    void* p = ok ? ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    ::close(fd);
    if (p == MAP_FAILED) return false;
    hdr_ = static_cast<LogHeader*>(p);
    recs_ = reinterpret_cast<Record*>(hdr_ + 1);
    hdr_->rank = rank;
    hdr_->pid = static_cast<uint32_t>(::getpid());
    hdr_->size = size;
    hdr_->capacity = capacity;
    hdr_->magic = kLogMagic;
    return true;
  }
  ~RecordLog() {
    if (hdr_ != nullptr) ::munmap(hdr_, bytes_);
  }
  // Relaxed: only this process writes the count; nothing is read through it here.
  bool full() const noexcept { return hdr_->count.load(std::memory_order_relaxed) + 64 >= hdr_->capacity; }
  // `when`: the time the record is about (0: now), e.g. when an isend started.
  void add(RecordType t, uint16_t peer, uint64_t value, uint32_t pid = 0, uint8_t aux = 0, uint64_t when = 0) noexcept {
    // Relaxed: only this process writes the count.
    const uint64_t n = hdr_->count.load(std::memory_order_relaxed);
    if (n >= hdr_->capacity) return;
    recs_[n] = Record{static_cast<uint8_t>(t), aux, peer, pid, value, when != 0 ? when : realtime_ns()};
    // Release: the record is complete before the count that makes it visible to the checker.
    hdr_->count.store(n + 1, std::memory_order_release);
  }
  void finish() noexcept { hdr_->finished = 1; }

 private:
  LogHeader* hdr_ = nullptr;
  Record* recs_ = nullptr;
  size_t bytes_ = 0;
};

// The payload of a soak message: a 16-byte header, then bytes derived from (pid, attempt).
struct MessageHeader {
  uint32_t magic_dst;  // kMagic << 16 | destination rank
  uint32_t pid;        // the sender's pid (its incarnation)
  uint32_t attempt;    // per (sender incarnation, destination), counting every try
  uint32_t size;
};
inline constexpr uint32_t kMagic = 0x50b0;
inline constexpr uint32_t kDoneTag = 0xd0e;  // "I send no more": the sender's last message
inline constexpr uint32_t kDoneAttempt = 0xffffffff;  // its attempt number (not logged on arrival)
inline constexpr size_t kMinSize = sizeof(MessageHeader);

inline uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
// The body bytes of message (pid, attempt) from offset 16 on.
inline void fill_body(unsigned char* p, size_t n, uint32_t pid, uint32_t attempt) {
  uint64_t s = mix((uint64_t{pid} << 32) | attempt);
  for (size_t i = 0; i < n; i += 8) {
    s = mix(s + 0x9e3779b97f4a7c15ull);
    const size_t k = n - i < 8 ? n - i : 8;
    std::memcpy(p + i, &s, k);
  }
}

}  // namespace pbx::soak
