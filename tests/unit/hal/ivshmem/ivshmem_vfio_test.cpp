// The product path, IvshmemDevice::open(), through VFIO on a FakeVfio machine: two fake VMs
// whose BAR2 is one memory; doorbells must reach the ivshmem Doorbell register.
#include <sys/mman.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/hal/detail/ivshmem_layout.h"
#include "pbx/hal/ivshmem.h"
#include "pbx/vfio/pci.h"
#include "support/vfio/fake_ivshmem.h"

namespace pbx::hal {
namespace {

using vfio::test::doorbell_register;
using vfio::test::FakeVfio;
using vfio::test::make_ivshmem;

constexpr size_t kShm = 1u << 20;
const vfio::Bdf kBdf = *vfio::Bdf::parse("0000:00:04.0");

struct SharedMemory {
  SharedMemory() {
    p = static_cast<std::byte*>(::mmap(nullptr, kShm, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  }
  ~SharedMemory() { ::munmap(p, kShm); }
  std::byte* p;
};

std::unique_ptr<IvshmemDevice> open_vm(FakeVfio& fake) {
  IvshmemOptions o;
  o.node_count = 2;
  o.vfio.sys = &fake;
  auto d = IvshmemDevice::open(kBdf, o);
  EXPECT_TRUE(d) << d.error().message();
  return d ? std::move(*d) : nullptr;
}

TEST(IvshmemHalOverVfio, TwoVmsShareWindowsAndRingThroughTheDoorbellRegister) {
  SharedMemory shm;
  FakeVfio vm0, vm1;
  make_ivshmem(vm0, /*iv_position=*/0, kShm, 2, shm.p);
  make_ivshmem(vm1, /*iv_position=*/1, kShm, 2, shm.p);
  auto a = open_vm(vm0);
  auto b = open_vm(vm1);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->info().self, NodeIdx(0));
  EXPECT_EQ(b->info().self, NodeIdx(1));
  EXPECT_EQ(a->info().name, "0000:00:04.0");
  EXPECT_EQ(a->info().outbound_mem_type, MemType::kUncached);
  EXPECT_TRUE(a->link_status(NodeIdx(1)).up);
  EXPECT_EQ(vm0.get16(vfio::pci::kCommand) & vfio::pci::kCommandBusMaster, vfio::pci::kCommandBusMaster);
  ASSERT_EQ(vm0.irq_sets.size(), 1u);
  EXPECT_EQ(vm0.irq_sets[0].size(), 2u) << "both MSI-X vectors bound to eventfds";

  a->peer_mw(NodeIdx(1))->store64(0, 0x5eed, StoreKind::kControl);
  EXPECT_EQ(b->local_mw(NodeIdx(0))->load64_acquire(0), 0x5eedu);

  ASSERT_TRUE(a->peer_db_set(NodeIdx(1), 0x2));
  EXPECT_EQ(doorbell_register(vm0), 0x0001'0000u) << "peer 1, vector 0 (node 0 % 2 vectors)";
  EXPECT_EQ(*b->db_read(NodeIdx(0)), 0x2u);
  ASSERT_TRUE(b->peer_db_set(NodeIdx(0), 0x1));
  EXPECT_EQ(doorbell_register(vm1), 0x0000'0001u) << "peer 0, vector 1 (node 1 % 2 vectors)";
}

TEST(IvshmemHalOverVfio, WindowsAreExportedAsTheDeviceFdAtBar2sRegionOffset) {
  SharedMemory shm;
  FakeVfio vm0;
  make_ivshmem(vm0, 0, kShm, 2, shm.p);
  auto a = open_vm(vm0);
  ASSERT_TRUE(a);
  auto ex = a->export_windows();
  ASSERT_TRUE(ex) << ex.error().message();
  ASSERT_EQ(ex->size(), 2u);
  const uint64_t bar2 = vfio::test::region_offset(2);
  const ivshmem_layout::Layout lay(2);
  const size_t ws = a->info().window_size;
  EXPECT_EQ((*ex)[1].outbound.fd, vfio::test::kDeviceFd);
  EXPECT_EQ((*ex)[1].outbound.offset, bar2 + lay.window(1, 0, ws));
  EXPECT_EQ((*ex)[1].inbound.offset, bar2 + lay.window(0, 1, ws));
  EXPECT_EQ((*ex)[0].inbound.fd, vfio::test::kDeviceFd);
  EXPECT_EQ((*ex)[1].outbound.mem_type, MemType::kUncached) << "a VFIO fd maps BARs uncached";
}

TEST(IvshmemHalOverVfio, WindowsAreWriteCombiningWhereTheBarMappingIs) {
  SharedMemory shm;
  FakeVfio vm0;
  make_ivshmem(vm0, 0, kShm, 2, shm.p);
  vm0.wc_file = true;
  auto a = open_vm(vm0);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->info().outbound_mem_type, MemType::kWriteCombining);
  EXPECT_EQ(a->peer_mw(NodeIdx(1))->mem_type(), MemType::kWriteCombining);
}

TEST(IvshmemHalOverVfio, DeviceErrorsPassThroughWithTheirFix) {
  FakeVfio vm0;
  make_ivshmem(vm0, 0, kShm);
  vm0.driver = "ivshmem";
  IvshmemOptions o;
  o.vfio.sys = &vm0;
  auto d = IvshmemDevice::open(kBdf, o);
  ASSERT_FALSE(d);
  EXPECT_THAT(d.error().message(), ::testing::HasSubstr("pbx-probe bind 0000:00:04.0"));
}

}  // namespace
}  // namespace pbx::hal
