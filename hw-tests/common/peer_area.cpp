#include "peer_area.h"

#include <atomic>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "common/test_device.h"
#include "pbx/base/barrier.h"

namespace pbx::hwtest {

namespace {

constexpr size_t kPresent = 0, kStep = 8, kVerdict = 16, kDone = 24;
constexpr uint64_t kGood = 0x600d600d600d600dull;
constexpr uint64_t kBad = 0xbadbadbadbadbad0ull;

// FNV-1a over the run nonce and the running test's full name; never 0.
uint64_t make_tag() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string key = std::to_string(run_nonce());
  if (info != nullptr) key += std::string("/") + info->test_suite_name() + "." + info->name();
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : key) h = (h ^ c) * 0x100000001b3ull;
  return (h & ~0xffffffffull) | 0x1000;  // low 32 bits: room for step numbers
}

}  // namespace

PeerArea::PeerArea(std::span<std::byte> ctl, std::span<std::byte> data, uint32_t self)
    : ctl_(ctl.data() + ctl.size() - kAreaSize), data_(data.data() + data.size() - kAreaSize), self_(self),
      tag_(make_tag()) {}

std::atomic_ref<uint64_t> PeerArea::word(uint32_t id, size_t off) const noexcept {
  return std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(ctl_ + id * kSlotSize + off));
}

std::span<std::byte> PeerArea::payload(uint32_t id) const noexcept {
  return {data_ + id * kSlotSize + kPayloadOff, kPayloadSize};
}

uint64_t* PeerArea::payload_word(uint32_t id, size_t index) const noexcept {
  return reinterpret_cast<uint64_t*>(ctl_ + id * kSlotSize + kPayloadOff) + index;
}

template <class Pred>
Result<uint64_t> PeerArea::wait_word(uint32_t id, size_t off, Pred ok, const char* what) const {
  const uint64_t deadline = now_ns() + peer_timeout_ns();
  for (;;) {
    // Acquire: pairs with the release store of this word by its writer.
    const uint64_t v = word(id, off).load(std::memory_order_acquire);
    if (ok(v)) return v;
    if (now_ns() >= deadline)
      return fail(Errc::kTimedOut, "node %u: node %u did not %s within %llu s (is it running this test?)", self_, id,
                  what, static_cast<unsigned long long>(peer_timeout_ns() / 1'000'000'000));
    cpu_pause();
  }
}

Result<void> PeerArea::meet() {
  if (self_ >= kSlots)
    return fail(Errc::kInvalidArgument,
                "node %u: the test area has slots for peer ids 0..%u; restart the ivshmem server so that ids start "
                "at 0",
                self_, kSlots - 1);
  // Release: pairs with the acquire load of this word in the peer's meet().
  word(self_, kPresent).store(tag_, std::memory_order_release);
  wc_flush();
  const uint64_t deadline = now_ns() + peer_timeout_ns();
  for (;;) {
    int found = -1, count = 0;
    for (uint32_t id = 0; id < kSlots; ++id)
      if (id != self_ && word(id, kPresent).load(std::memory_order_acquire) == tag_) found = static_cast<int>(id), ++count;
    if (count > 1) return fail(Errc::kProtocolError, "node %u: %d other nodes run this test; it takes two", self_, count + 1);
    if (count == 1) {
      peer_ = static_cast<uint32_t>(found);
      return {};
    }
    if (now_ns() >= deadline)
      return fail(Errc::kTimedOut, "node %u: no other node joined this test within %llu s (is it running it?)", self_,
                  static_cast<unsigned long long>(peer_timeout_ns() / 1'000'000'000));
    cpu_pause();
  }
}

Result<void> PeerArea::sync(uint32_t step) {
  // Drains the payload stores (data view) before the step word that vouches for them.
  wc_flush();
  // Release: pairs with the acquire load of this word in the peer's sync().
  word(self_, kStep).store(tag_ + step, std::memory_order_release);
  wc_flush();
  // The peer may already be one phase further (it saw our step and went on to its next).
  auto v = wait_word(peer_, kStep, [&](uint64_t w) { return (w >> 32) == (tag_ >> 32) && w >= tag_ + step; },
                     ("reach phase " + std::to_string(step)).c_str());
  if (!v) return tl::unexpected(v.error());
  from_peer_barrier();  // the caller's loads of the peer's payload come after the step's load
  return {};
}

Result<bool> PeerArea::exchange_verdicts(bool peer_payload_good) {
  // Release: pairs with the acquire load in the peer's exchange_verdicts().
  word(self_, kVerdict).store(tag_ ^ (peer_payload_good ? kGood : kBad), std::memory_order_release);
  wc_flush();
  auto v = wait_word(peer_, kVerdict, [&](uint64_t w) { return w == (tag_ ^ kGood) || w == (tag_ ^ kBad); },
                     "give its verdict on this node's payload");
  if (!v) return tl::unexpected(v.error());
  return *v == (tag_ ^ kGood);
}

Result<void> PeerArea::leave() {
  word(self_, kDone).store(tag_, std::memory_order_release);
  wc_flush();
  auto peer_done = wait_word(peer_, kDone, [&](uint64_t w) { return w == tag_; }, "finish this test");
  if (!peer_done) return tl::unexpected(peer_done.error());
  // The peer reads nothing of ours any more, except our done word, which it clears.
  std::memset(data_ + self_ * kSlotSize + kPayloadOff, 0, kPayloadSize);
  wc_flush();
  for (size_t off : {kPresent, kStep, kVerdict}) word(self_, off).store(0, std::memory_order_relaxed);
  // Release: our clears land before the peer sees its done word cleared and moves on.
  word(peer_, kDone).store(0, std::memory_order_release);
  wc_flush();
  auto own = wait_word(self_, kDone, [](uint64_t w) { return w == 0; }, "clear this node's done word");
  if (!own) return tl::unexpected(own.error());
  return {};
}

}  // namespace pbx::hwtest
