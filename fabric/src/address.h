// The provider's fabric address: which postbox job and which rank in it. 16 bytes, what
// fi_getname returns and fi_av_insert takes (addr_format FI_FORMAT_UNSPEC: provider-defined).
//
//   bytes 0..3   magic "PBXF"      bytes 4..5  version (1)     bytes 6..7  reserved (0)
//   bytes 8..11  job (a hash of the job's name: pbxrun's PBX_JOB, or the PMIx namespace)
//   bytes 12..15 flat rank (node * processes per node + local index)
//
// As text (fi_av_straddr, and a node name fi_getinfo / fi_av_insertsvc accept):
// "postbox://<job as 8 hex digits>/<rank>"; a bare decimal rank names a rank of this job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pbx::fabric {

struct Address {
  static constexpr uint32_t kMagic = 0x46584250;  // "PBXF" little-endian
  static constexpr uint16_t kVersion = 1;
  static constexpr uint32_t kUnknownRank = 0xffffffffu;

  uint32_t magic = kMagic;
  uint16_t version = kVersion;
  uint16_t reserved = 0;
  uint32_t job = 0;
  uint32_t rank = kUnknownRank;
};
static_assert(sizeof(Address) == 16);

// FNV-1a of the job's name: the same name gives the same 32 bits in every process.
uint32_t job_hash(std::string_view name) noexcept;

// Reads an address from `len` bytes; nullopt when they are not a postbox address.
std::optional<Address> decode_address(const void* p, size_t len) noexcept;

// "postbox://0012abcd/3"
std::string to_string(const Address& a);

// A node name as fi_getinfo and fi_av_insertsvc get it: "postbox://<job>/<rank>", or a bare
// decimal rank (taken as a rank of job `job`). nullopt for anything else (a host name, an IP).
std::optional<Address> parse_node(std::string_view node, uint32_t job) noexcept;

}  // namespace pbx::fabric
