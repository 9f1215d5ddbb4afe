// Register blocks of a Microchip (Microsemi) Switchtec switch as an NT endpoint function sees
// them in its BAR0, the switch's Global Address Space (GAS).
//
// Sources (offsets, struct layouts, bits): linux include/linux/switchtec.h (SWITCHTEC_GAS_*,
// SWITCHTEC_NTB_REG_*, struct ntb_info_regs, ntb_ctrl_regs, ntb_dbmsg_regs, part_cfg_regs,
// pff_csr_regs, NTB_CTRL_*), drivers/ntb/hw/mscc/ntb_hw_switchtec.c (how each field is used),
// drivers/pci/switch/switchtec.c (switchtec_init_pci: where the blocks are). The C structs are
// __packed; the offsets below are computed from them field by field (see the comment of each
// block), and every register is naturally aligned except ntb_info.ep_map (a u64 at offset 4),
// which is read as two 32-bit halves.
//
//   GAS  0x000000  MRPC            (not used here)
//        0x004000  PART_CFG        struct part_cfg_regs[48], 0x400 each
//        0x010000  NTB             INFO +0x0, CTRL +0x4000 (48 x 0x2000), DBMSG +0x64000 (48 x 0x4000)
//        0x134000  PFF_CSR         struct pff_csr_regs[255], 0x1000 each
#pragma once

#include <cstddef>
#include <cstdint>

#include "pbx/ntb/mmio.h"

namespace pbx::ntb::switchtec {

// ---- Global Address Space map (switchtec.h SWITCHTEC_GAS_*_OFFSET) ------------------------

inline constexpr std::size_t kGasPartCfgOffset = 0x4000;
inline constexpr std::size_t kGasNtbOffset = 0x10000;
inline constexpr std::size_t kGasPffCsrOffset = 0x134000;
// NTB block (switchtec.h SWITCHTEC_NTB_REG_*_OFFSET), relative to kGasNtbOffset.
inline constexpr std::size_t kNtbInfoOffset = 0x0000;
inline constexpr std::size_t kNtbCtrlOffset = 0x4000;
inline constexpr std::size_t kNtbDbMsgOffset = 0x64000;

inline constexpr unsigned kMaxPartitions = 48;   // ntb_info_regs.ntp_info[48]
inline constexpr unsigned kMaxPff = 255;         // SWITCHTEC_MAX_PFF_CSR
inline constexpr unsigned kBarEntries = 6;       // ntb_ctrl_regs.bar_entry[6], index = BAR number
inline constexpr unsigned kLutEntries = 512;     // ntb_ctrl_regs.lut_entry[512]
inline constexpr unsigned kRidEntries = 512;     // ntb_ctrl_regs.req_id_table[512]
inline constexpr unsigned kMsgRegs = 4;          // omsg[4], imsg[4]

inline constexpr std::size_t kCtrlStride = 0x2000;     // sizeof(struct ntb_ctrl_regs)
inline constexpr std::size_t kDbMsgStride = 0x4000;    // sizeof(struct ntb_dbmsg_regs)
inline constexpr std::size_t kPartCfgStride = 0x400;   // sizeof(struct part_cfg_regs)
inline constexpr std::size_t kPffCsrStride = 0x1000;   // sizeof(struct pff_csr_regs)

constexpr std::size_t info_offset() noexcept { return kGasNtbOffset + kNtbInfoOffset; }
constexpr std::size_t ctrl_offset(unsigned partition) noexcept {
  return kGasNtbOffset + kNtbCtrlOffset + kCtrlStride * partition;
}
constexpr std::size_t dbmsg_offset(unsigned partition) noexcept {
  return kGasNtbOffset + kNtbDbMsgOffset + kDbMsgStride * partition;
}
constexpr std::size_t part_cfg_offset(unsigned partition) noexcept {
  return kGasPartCfgOffset + kPartCfgStride * partition;
}
constexpr std::size_t pff_csr_offset(unsigned pff) noexcept { return kGasPffCsrOffset + kPffCsrStride * pff; }
// The GAS bytes every block above needs: through the last PFF CSR block.
inline constexpr std::size_t kGasMinSize = kGasPffCsrOffset + kPffCsrStride * kMaxPff;
static_assert(ctrl_offset(kMaxPartitions) == kGasNtbOffset + kNtbDbMsgOffset, "48 control blocks end at DBMSG");
static_assert(part_cfg_offset(kMaxPartitions) == kGasNtbOffset, "48 partition configs end at the NTB block");

// ---- struct ntb_info_regs (NTB + 0x0) --------------------------------------------------------
// u8 partition_count @0, u8 partition_id @1, u16 reserved @2, u64 ep_map @4, u16 requester_id @0xC,
// u16 reserved @0xE, u32 reserved[4] @0x10, ntp_info[48] @0x20 of 16 bytes
// {u32 xlink_enabled, u32 target_part_low, u32 target_part_high, u32 reserved}.
struct InfoRegs {
  static constexpr std::size_t kSize = 0x320;
  static constexpr Reg<uint8_t, 0x00, Access::kRO> partition_count{};
  static constexpr Reg<uint8_t, 0x01, Access::kRO> partition_id{};
  static constexpr Reg<uint32_t, 0x04, Access::kRO> ep_map_lo{};   // NT endpoint partitions, bits 0..31
  static constexpr Reg<uint32_t, 0x08, Access::kRO> ep_map_hi{};   // bits 32..63
  static constexpr Reg<uint16_t, 0x0c, Access::kRO> requester_id{};  // the host bridge's requester ID
  static constexpr RegArray<uint32_t, 0x20, 0x10, kMaxPartitions, Access::kRO> xlink_enabled{};
  static constexpr RegArray<uint32_t, 0x24, 0x10, kMaxPartitions, Access::kRO> target_part_low{};
  static constexpr RegArray<uint32_t, 0x28, 0x10, kMaxPartitions, Access::kRO> target_part_high{};
};

// ---- struct ntb_ctrl_regs (NTB + 0x4000 + 0x2000 * partition) -------------------------------
// u32 partition_status @0, partition_op @4, partition_ctrl @8, bar_setup @0xC, bar_error @0x10,
// u16 lut_table_entries @0x14, u16 lut_table_offset @0x16, u32 lut_error @0x18,
// u16 req_id_table_size @0x1C, u16 req_id_table_offset @0x1E, u32 req_id_error @0x20,
// u32 reserved[7], bar_entry[6] @0x40 of 16 bytes {u32 ctl, u32 win_size, u64 xlate_addr},
// bar_ext_entry[6] @0xA0 of 16 bytes {u32 win_size, u32 reserved[3]}, u32 reserved[192],
// u32 req_id_table[512] @0x400, u32 reserved[256], u64 lut_entry[512] @0x1000.
struct CtrlRegs {
  static constexpr std::size_t kSize = kCtrlStride;
  static constexpr Reg<uint32_t, 0x00, Access::kRO> partition_status{};  // low 16 bits: kStatus*
  static constexpr Reg<uint32_t, 0x04> partition_op{};                   // kOp*
  static constexpr Reg<uint32_t, 0x08> partition_ctrl{};
  static constexpr Reg<uint32_t, 0x0c> bar_setup{};
  static constexpr Reg<uint32_t, 0x10, Access::kRO> bar_error{};
  static constexpr Reg<uint16_t, 0x14, Access::kRO> lut_table_entries{};  // set by the switch configuration
  static constexpr Reg<uint16_t, 0x16, Access::kRO> lut_table_offset{};
  static constexpr Reg<uint32_t, 0x18, Access::kRO> lut_error{};
  static constexpr Reg<uint16_t, 0x1c, Access::kRO> req_id_table_size{};
  static constexpr Reg<uint16_t, 0x1e, Access::kRO> req_id_table_offset{};
  static constexpr Reg<uint32_t, 0x20, Access::kRO> req_id_error{};
  static constexpr RegArray<uint32_t, 0x40, 0x10, kBarEntries> bar_ctl{};
  static constexpr RegArray<uint32_t, 0x44, 0x10, kBarEntries> bar_win_size{};
  static constexpr RegArray<uint64_t, 0x48, 0x10, kBarEntries> bar_xlate_addr{};
  static constexpr RegArray<uint32_t, 0xa0, 0x10, kBarEntries> bar_ext_win_size{};
  static constexpr RegArray<uint32_t, 0x400, 4, kRidEntries> req_id_table{};
  static constexpr RegArray<uint64_t, 0x1000, 8, kLutEntries> lut_entry{};
};

// partition_op / partition_status (switchtec.h NTB_CTRL_PART_OP_*, NTB_CTRL_PART_STATUS_*).
inline constexpr uint32_t kOpLock = 0x1;
inline constexpr uint32_t kOpCfg = 0x2;
inline constexpr uint32_t kOpReset = 0x3;
inline constexpr uint32_t kStatusNormal = 0x1;
inline constexpr uint32_t kStatusLocked = 0x2;
inline constexpr uint32_t kStatusLocking = 0x3;
inline constexpr uint32_t kStatusConfiguring = 0x4;
inline constexpr uint32_t kStatusResetting = 0x5;
inline constexpr uint32_t kStatusMask = 0xffff;  // ntb_hw_switchtec.c masks the status with 0xFFFF

// bar_entry.ctl (NTB_CTRL_BAR_*; the LUT fields as config_rsvd_lut_win() writes them).
inline constexpr uint32_t kBarValid = 1u << 0;
inline constexpr uint32_t kBarDirWinEn = 1u << 4;
inline constexpr uint32_t kBarLutWinEn = 1u << 5;
inline constexpr unsigned kBarLutSizeShift = 8;    // log2(LUT window size)
inline constexpr uint32_t kBarLutSizeMask = 0x3fu << kBarLutSizeShift;  // bits 13:8 (up to the count field)
inline constexpr unsigned kBarLutCountShift = 14;  // LUT window count - 1
// bar_entry.win_size = log2(size) | (size & 0xFFFFF000); bar_ext_entry.win_size = size >> 32.
inline constexpr uint32_t kWinSizeAddrMask = 0xfffff000u;
inline constexpr uint32_t kWinSizeLog2Mask = 0xfffu;

inline constexpr uint32_t kPartCtrlIdProtDis = 1u << 0;  // NTB_PART_CTRL_ID_PROT_DIS
inline constexpr uint32_t kReqIdEn = 1u << 0;            // NTB_CTRL_REQ_ID_EN; entry = requester << 16 | EN
inline constexpr unsigned kReqIdShift = 16;
inline constexpr unsigned kProxyIdShift = 1;             // read back: proxy devfn in bits 8:1
inline constexpr uint64_t kLutEn = 1u << 0;              // NTB_CTRL_LUT_EN; entry = EN | partition << 1 | addr
inline constexpr unsigned kLutPartitionShift = 1;
inline constexpr uint64_t kLutPartitionMask = 0x3full << kLutPartitionShift;  // partitions 0..47

// The LUT window size Linux uses (LUT_SIZE = SZ_64K in ntb_hw_switchtec.c).
inline constexpr uint64_t kLinuxLutSize = 64 * 1024;

// ---- struct ntb_dbmsg_regs (NTB + 0x64000 + 0x4000 * partition) -----------------------------
// u32 reserved[1024], u64 odb @0x1000, odb_mask @0x1008, idb @0x1010, idb_mask @0x1018,
// u8 idb_vec_map[64] @0x1020, u32 msg_map @0x1060, u32 reserved, omsg[4] @0x1068 of 8 bytes
// {u32 msg, u32 status}, imsg[4] @0x1088 of 8 bytes {u32 msg, u8 status, u8 mask, u8 src, u8 res},
// then the MSI-X table @0x2000 and PBA @0x3000.
struct DbMsgRegs {
  static constexpr std::size_t kSize = kDbMsgStride;
  static constexpr Reg<uint64_t, 0x1000, Access::kWO> odb{};   // rings doorbells
  static constexpr Reg<uint64_t, 0x1008> odb_mask{};           // 1 = this outgoing bit may be rung
  static constexpr Reg<uint64_t, 0x1010, Access::kW1C> idb{};  // doorbells rung here
  static constexpr Reg<uint64_t, 0x1018> idb_mask{};           // 1 = interrupt enabled (Linux writes ~mask)
  static constexpr RegArray<uint8_t, 0x1020, 1, 64> idb_vec_map{};
  static constexpr Reg<uint32_t, 0x1060> msg_map{};            // byte i: source of imsg[i] = partition << 2 | omsg
  static constexpr RegArray<uint32_t, 0x1068, 8, kMsgRegs> omsg{};
  static constexpr RegArray<uint64_t, 0x1088, 8, kMsgRegs> imsg{};  // msg | status << 32 | mask << 40 | src << 48
  static constexpr RegArray<uint8_t, 0x108c, 8, kMsgRegs, Access::kW1C> imsg_status{};
};
inline constexpr uint64_t kImsgStatus = uint64_t{1} << 32;  // NTB_DBMSG_IMSG_STATUS
inline constexpr uint64_t kImsgMask = uint64_t{1} << 40;    // NTB_DBMSG_IMSG_MASK
inline constexpr unsigned kImsgSrcShift = 48;
// The top 4 doorbells share their interrupt with the message registers (ntb_hw_switchtec.c
// switchtec_ntb_init_db / init_db_msg_irq: idb_vec_map[60..63] = message vector).
inline constexpr uint64_t kDbMsgBits = uint64_t{0xf} << 60;

// ---- struct part_cfg_regs (GAS 0x4000 + 0x400 * partition) ----------------------------------
// u32 status @0, state @4, port_cnt @8, usp_port_mode @0xC, usp_pff_inst_id @0x10,
// vep_pff_inst_id @0x14, ..., u16 vep_vector_number @0x100.
struct PartCfgRegs {
  static constexpr std::size_t kSize = kPartCfgStride;
  static constexpr Reg<uint32_t, 0x14, Access::kRO> vep_pff_inst_id{};  // the partition's virtual EP function
  static constexpr Reg<uint16_t, 0x100, Access::kRO> vep_vector_number{};
};

// ---- struct pff_csr_regs (GAS 0x134000 + 0x1000 * pff) --------------------------------------
// u16 vendor_id @0, u16 device_id @2, ..., u32 pci_cap_region[48] @0x40: the dword at index 13
// (0x74) carries the link status in bits 31:16 (ntb_hw_switchtec.c switchtec_ntb_part_link_speed:
// speed = bits 19:16, width = bits 25:20).
struct PffCsrRegs {
  static constexpr std::size_t kSize = kPffCsrStride;
  static constexpr Reg<uint16_t, 0x00, Access::kRO> vendor_id{};
  static constexpr Reg<uint16_t, 0x02, Access::kRO> device_id{};
  static constexpr Reg<uint32_t, 0x74, Access::kRO> link_ctl_sta{};  // pci_cap_region[13]
};
inline constexpr unsigned kPffLinkSpeedShift = 16;
inline constexpr uint32_t kPffLinkSpeedMask = 0xf;
inline constexpr unsigned kPffLinkWidthShift = 20;
inline constexpr uint32_t kPffLinkWidthMask = 0x3f;

// ---- struct shared_mw (ntb_hw_switchtec.c): the page Linux puts behind LUT entry 0 ----------
// Linux emulates scratchpads in memory: each side exposes one of these to the other and the
// link is "up" when both wrote the magic and link_sta = 1. postbox keeps the same layout for
// the control page of each peer (so a memory dump reads the same); see PeerPage below.
inline constexpr uint32_t kSharedMagic = 0x45CC0001;  // SWITCHTEC_NTB_MAGIC
inline constexpr unsigned kSharedMaxMws = 128;       // MAX_MWS
inline constexpr unsigned kSharedSpads = 128;

struct PeerPage {
  uint32_t magic;          // kSharedMagic once the writer has initialised the page
  uint32_t link_sta;       // 1: the writer wants the link up
  uint32_t partition_id;   // the writer's partition
  uint32_t reserved0;      // padding in Linux's struct (u64 alignment of mw_sizes)
  uint64_t mw_sizes[kSharedMaxMws];
  uint32_t spad[kSharedSpads];
};
static_assert(offsetof(PeerPage, link_sta) == 4 && offsetof(PeerPage, partition_id) == 8);
static_assert(offsetof(PeerPage, mw_sizes) == 16 && offsetof(PeerPage, spad) == 16 + 8 * kSharedMaxMws);
static_assert(sizeof(PeerPage) == 1552);

// Message values on message register 0 (ntb_hw_switchtec.c enum switchtec_msg).
inline constexpr unsigned kLinkMessage = 0;
inline constexpr uint32_t kMsgLinkUp = 1;
inline constexpr uint32_t kMsgLinkDown = 2;
inline constexpr uint32_t kMsgCheckLink = 3;
inline constexpr uint32_t kMsgLinkForceDown = 4;

}  // namespace pbx::ntb::switchtec
