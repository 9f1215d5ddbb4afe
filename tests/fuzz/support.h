// What every fuzz target shares: reading libFuzzer's bytes as fixed-width fields (ByteReader),
// writing the same fields for the seed generator (ByteWriter), choosing a value in a range
// from a field (pick), and the check that stops the fuzzer on a broken invariant.
//
// Fields are little-endian and taken off the front of the input; once the input runs out every
// further field reads as zero, so every input, however short, is a valid one.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <type_traits>
#include <vector>

namespace pbx::fuzz {

static_assert(std::endian::native == std::endian::little, "fuzz inputs are read as little-endian fields");

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) noexcept : p_(data), left_(size) {}

  template <class T>
  T take() noexcept {
    static_assert(std::is_integral_v<T>);
    T v = 0;
    const size_t n = std::min(sizeof v, left_);
    if (n != 0) std::memcpy(&v, p_, n);
    p_ += n, left_ -= n;
    return v;
  }
  // Up to n bytes (fewer at the end of the input).
  std::span<const uint8_t> take_bytes(size_t n) noexcept {
    const size_t k = std::min(n, left_);
    std::span<const uint8_t> s(p_, k);
    p_ += k, left_ -= k;
    return s;
  }
  // Everything not taken yet.
  std::span<const uint8_t> rest() noexcept { return take_bytes(left_); }
  bool empty() const noexcept { return left_ == 0; }

 private:
  const uint8_t* p_;
  size_t left_;
};

class ByteWriter {
 public:
  template <class T>
  ByteWriter& put(T v) {
    static_assert(std::is_integral_v<T>);
    const auto* b = reinterpret_cast<const uint8_t*>(&v);
    bytes_.insert(bytes_.end(), b, b + sizeof v);
    return *this;
  }
  ByteWriter& put_bytes(std::span<const uint8_t> s) {
    bytes_.insert(bytes_.end(), s.begin(), s.end());
    return *this;
  }
  const std::vector<uint8_t>& bytes() const noexcept { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

// A value in [lo, hi] chosen by `sel`: lo + sel mod (hi - lo + 1). unpick() is its inverse for
// the seed generator: pick(unpick(v, lo), lo, hi) == v for v in [lo, hi].
constexpr uint64_t pick(uint64_t sel, uint64_t lo, uint64_t hi) noexcept {
  const uint64_t span = hi - lo;
  return span == ~uint64_t{0} ? sel : lo + sel % (span + 1);
}
constexpr uint64_t unpick(uint64_t value, uint64_t lo) noexcept { return value - lo; }

// Stops the fuzzer (abort() is a crash to libFuzzer, which saves the input) when an invariant
// that the code after the parser relies on does not hold.
[[noreturn]] inline void invariant_broken(const char* what, const char* file, int line) noexcept {
  std::fprintf(stderr, "fuzz invariant broken: %s (%s:%d)\n", what, file, line);
  std::abort();
}

}  // namespace pbx::fuzz

#define PBX_FUZZ_CHECK(cond)                                                     \
  do {                                                                           \
    if (!(cond)) ::pbx::fuzz::invariant_broken(#cond, __FILE__, __LINE__);       \
  } while (0)
