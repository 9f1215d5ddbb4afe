// End-to-end payload integrity (Config::checksum): CRC32C (Castagnoli) of every pool message
// and every piece, computed by the sender over its own buffer while it copies the payload into
// the window, carried in the indicator, and checked by the receiver over its own copy. It
// catches what PCIe's link CRC cannot: a sender that crashed in the middle of a payload, a
// buggy or malicious peer writing into the pool, a bit flip past the link.
//
// The copies go in chunks that stay in the L1 cache: copy a chunk (hal::window_copy), then
// checksum it from the local side (the sender's source, the receiver's destination), so that
// memory is crossed once and a window is never read back. With SSE4.2 the CRC runs three
// independent streams of the crc32 instruction and combines them; without it, a table.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pbx::detail {

// CRC32C of n bytes (initial value ~0, final xor ~0: crc32c("123456789") == 0xe3069283).
// `crc` continues an earlier result: crc32c(b, crc32c(a)) == crc32c(a || b).
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0) noexcept;

// Copies n bytes and returns the CRC32C of them, read from the source (into a window: the
// source is local) or from the destination (out of a window: the destination is local).
enum class ChecksumSide : uint8_t { kSource, kDestination };
uint32_t copy_with_crc32c(void* dst, const void* src, size_t n, ChecksumSide side) noexcept;

// Which implementation runs ("sse4.2, 3 streams" or "table"), for pbx-perf's header.
const char* crc32c_implementation() noexcept;

// Tests: force the table implementation (false) or the CPU's (true, where it has SSE4.2).
void crc32c_use_hardware(bool on) noexcept;

}  // namespace pbx::detail
