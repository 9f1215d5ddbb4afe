// The ivshmem HAL backend over test ports (one memfd, eventfd doorbells): windows, header
// agreement, node identity, link state and generations, scratchpads, doorbells and waits.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <chrono>
#include <future>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/hal/detail/ivshmem_layout.h"
#include "pbx/hal/ivshmem.h"
#include "support/ivshmem_test_port.h"

namespace pbx::hal {
namespace {

namespace L = ivshmem_layout;
using test::IvshmemFabric;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr size_t kShm = 1u << 20;

IvshmemOptions nodes(uint16_t n) {
  IvshmemOptions o;
  o.node_count = n;
  return o;
}

struct Node {
  IvshmemFabric::Port* port = nullptr;  // owned by dev
  std::unique_ptr<IvshmemDevice> dev;
  IvshmemDevice* operator->() const { return dev.get(); }
};

Node join(IvshmemFabric& f, uint16_t id, const IvshmemOptions& o = nodes(2), int vectors = -1,
          MemType data_type = MemType::kUncached) {
  auto p = f.port(id, vectors, data_type);
  Node n{p.get(), nullptr};
  auto d = IvshmemDevice::attach(std::move(p), o);
  EXPECT_TRUE(d) << d.error().message();
  if (d) n.dev = std::move(*d);
  return n;
}

Error join_error(IvshmemFabric& f, uint16_t id, const IvshmemOptions& o, int vectors = -1) {
  auto d = IvshmemDevice::attach(f.port(id, vectors), o);
  EXPECT_FALSE(d);
  return d ? Error(Errc::kIoError, "attached") : d.error();
}

// ---- windows

TEST(IvshmemHal, WindowsSitAtTheirFixedOffsetsAndConnectEachDirection) {
  IvshmemFabric f(kShm, 2, 2);
  Node a = join(f, 0), b = join(f, 1);
  const L::Layout lay(2);
  const size_t w = a->info().window_size;
  EXPECT_EQ(w, lay.max_window(kShm));
  EXPECT_EQ(b->info().window_size, w);
  std::byte* raw = f.map();

  struct Dir { Node* from; uint16_t to; uint64_t value; };
  for (Dir d : {Dir{&a, 1, 0xa1}, Dir{&b, 0, 0xb0}, Dir{&a, 0, 0xa0}, Dir{&b, 1, 0xb1}}) {
    auto out = (*d.from)->peer_mw(NodeIdx(d.to));
    ASSERT_TRUE(out);
    EXPECT_EQ(out->size(), w);
    out->store64(8, d.value, StoreKind::kControl);
    out->store64(w - 8, d.value, StoreKind::kControl);
    const uint16_t src = (*d.from)->info().self.v;
    uint64_t at_offset = 0;
    std::memcpy(&at_offset, raw + lay.window(d.to, src, w) + 8, 8);
    EXPECT_EQ(at_offset, d.value) << "window [" << d.to << "][" << src << "]";
    Node& dst = d.to == 0 ? a : b;
    auto in = dst->local_mw(NodeIdx(src));
    ASSERT_TRUE(in);
    EXPECT_EQ(in->load64_acquire(8), d.value);
    EXPECT_EQ(in->load64_acquire(w - 8), d.value);
  }
  // The four windows are distinct: each holds only its own value.
  EXPECT_EQ(a->local_mw(NodeIdx(1))->load64(8), 0xb0u);
  EXPECT_EQ(a->local_mw(NodeIdx(0))->load64(8), 0xa0u);
  EXPECT_EQ(b->local_mw(NodeIdx(0))->load64(8), 0xa1u);
  EXPECT_EQ(b->local_mw(NodeIdx(1))->load64(8), 0xb1u);
}

TEST(IvshmemHal, ExportedWindowsAreThePortsFileAtTheWindowOffsets) {
  IvshmemFabric f(kShm, 3, 2);
  Node a = join(f, 1, nodes(3));
  Node b = join(f, 2, nodes(3));
  auto ex = a->export_windows();
  ASSERT_TRUE(ex) << ex.error().message();
  ASSERT_EQ(ex->size(), 3u);
  const L::Layout lay(3);
  const size_t ws = a->info().window_size;
  auto file = a.port->shared_memory_file();
  ASSERT_TRUE(file);
  for (uint16_t k = 0; k < 3; ++k) {
    const NodeWindowsExport& w = (*ex)[k];
    EXPECT_EQ(w.outbound.fd, file->fd);
    EXPECT_EQ(w.outbound.offset, lay.window(k, 1, ws));
    EXPECT_EQ(w.inbound.offset, lay.window(1, k, ws));
    EXPECT_EQ(w.outbound.length, ws);
    EXPECT_FALSE(w.outbound.sparse);
    EXPECT_EQ(w.outbound.offset % 4096, 0u);
  }
  // A mapping of the export is the window: node 2 sees what it receives from node 1.
  const WindowExport& out = (*ex)[2].outbound;
  void* p = ::mmap(nullptr, out.length, PROT_READ | PROT_WRITE, MAP_SHARED, out.fd, static_cast<off_t>(out.offset));
  ASSERT_NE(p, MAP_FAILED);
  std::atomic_ref<uint64_t>(*static_cast<uint64_t*>(p)).store(0x5151, std::memory_order_release);
  EXPECT_EQ(b->local_mw(NodeIdx(1))->load64_acquire(0), 0x5151u);
  ::munmap(p, out.length);
}

TEST(IvshmemHal, InfoDescribesTheBackendAndWindowsCarryThePortsMemoryType) {
  IvshmemFabric f(kShm, 2, 2);
  Node a = join(f, 0, nodes(2), -1, MemType::kWriteCombining);
  const DeviceInfo& i = a->info();
  EXPECT_EQ(i.backend, "ivshmem");
  EXPECT_EQ(i.name, "test-ivshmem-0");
  EXPECT_EQ(i.self, NodeIdx(0));
  EXPECT_EQ(i.node_count, 2);
  EXPECT_EQ(i.spad_count, L::kSpadCount);
  EXPECT_EQ(i.db_valid_mask, ~uint64_t{0});
  EXPECT_EQ(i.outbound_mem_type, MemType::kWriteCombining);
  EXPECT_EQ(a->peer_mw(NodeIdx(1))->mem_type(), MemType::kWriteCombining);
  auto bad = a->peer_mw(NodeIdx(2));
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message(), HasSubstr("test-ivshmem-0: peer_mw: node 2 does not exist (the ivshmem device has nodes 0..1)"));
}

TEST(IvshmemHal, ExplicitWindowSizeIsUsedAndLaterNodesMayTakeIt) {
  IvshmemFabric f(kShm, 2, 2);
  IvshmemOptions o = nodes(2);
  o.window_size = 64 << 10;
  Node a = join(f, 0, o);
  EXPECT_EQ(a->info().window_size, 64u << 10);
  Node b = join(f, 1, nodes(2));  // window_size 0: take the first node's
  EXPECT_EQ(b->info().window_size, 64u << 10);
}

// ---- the control area and configuration agreement

TEST(IvshmemHal, NodesWithDifferentNodeCountsAreRefused) {
  IvshmemFabric f(kShm, 3, 2);
  Node a = join(f, 0, nodes(2));
  Error e = join_error(f, 1, nodes(3));
  EXPECT_EQ(e.code(), Errc::kConfigMismatch);
  EXPECT_THAT(e.message(), HasSubstr("test-ivshmem-1: node_count = 3 here, but the ivshmem control area"));
  EXPECT_THAT(e.message(), HasSubstr("says 2: start every node with the same node_count"));
}

TEST(IvshmemHal, NodesWithDifferentWindowSizesAreRefused) {
  IvshmemFabric f(kShm, 2, 2);
  IvshmemOptions o = nodes(2);
  o.window_size = 64 << 10;
  Node a = join(f, 0, o);
  o.window_size = 128 << 10;
  Error e = join_error(f, 1, o);
  EXPECT_EQ(e.code(), Errc::kConfigMismatch);
  EXPECT_THAT(e.message(), HasSubstr("window_size = 131072 here, but the ivshmem control area says 65536"));
}

TEST(IvshmemHal, ForeignDataInTheSharedMemoryIsRefused) {
  IvshmemFabric f(kShm, 2, 2);
  const uint64_t junk = 0x1234;
  std::memcpy(f.map(), &junk, 8);
  Error e = join_error(f, 0, nodes(2));
  EXPECT_EQ(e.code(), Errc::kProtocolError);
  EXPECT_THAT(e.message(), HasSubstr("holds no postbox control area (magic 0x0000000000001234)"));
  EXPECT_THAT(e.message(), HasSubstr("restart the ivshmem server"));
}

TEST(IvshmemHal, AHeaderLeftHalfWrittenTimesOut) {
  IvshmemFabric f(kShm, 2, 2);
  std::memcpy(f.map(), &L::kMagicInitialising, 8);
  IvshmemOptions o = nodes(2);
  o.init_timeout_ns = 0;
  Error e = join_error(f, 0, o);
  EXPECT_EQ(e.code(), Errc::kTimedOut);
  EXPECT_THAT(e.message(), HasSubstr("did not finish"));
}

TEST(IvshmemHal, TooLittleSharedMemoryIsRefusedWithTheSizesNeeded) {
  IvshmemFabric small(8 << 10, 2, 2);
  Error e = join_error(small, 0, nodes(2));
  EXPECT_EQ(e.code(), Errc::kNoMemory);
  EXPECT_THAT(e.message(), HasSubstr("has 8192 bytes; 2 nodes need at least 4096 (control area) + 4 x 4096"));

  IvshmemFabric f(kShm, 2, 2);
  IvshmemOptions o = nodes(2);
  o.window_size = 1 << 20;
  Error big = join_error(f, 0, o);
  EXPECT_EQ(big.code(), Errc::kNoMemory);
  EXPECT_THAT(big.message(), HasSubstr("the largest window is 258048 bytes"));
}

TEST(IvshmemHal, BadOptionsAreRefused) {
  IvshmemFabric f(kShm, 2, 2);
  IvshmemOptions o = nodes(0);
  EXPECT_THAT(join_error(f, 0, o).message(), HasSubstr("node_count = 0 is out of range 1..64"));
  o = nodes(2);
  o.window_size = 1000;
  EXPECT_THAT(join_error(f, 0, o).message(), HasSubstr("window_size = 1000 is not a multiple of 4096"));
}

// ---- which node this is

TEST(IvshmemHal, NodeIndexIsTheIvPositionAndMustBeBelowNodeCount) {
  IvshmemFabric f(kShm, 3, 2);
  Node b = join(f, 1, nodes(2));
  EXPECT_EQ(b->info().self, NodeIdx(1));
  Error e = join_error(f, 2, nodes(2));
  EXPECT_EQ(e.code(), Errc::kInvalidArgument);
  EXPECT_THAT(e.message(), HasSubstr("peer ID (IVPosition) is 2, not below node_count = 2"));
  EXPECT_THAT(e.message(), HasSubstr("numbers VMs from 0 in connection order"));
}

TEST(IvshmemHal, PlainDeviceNeedsAnExplicitNodeIndex) {
  IvshmemFabric f(kShm, 2, 2);
  Error e = join_error(f, 0, nodes(2), /*vectors=*/0);
  EXPECT_THAT(e.message(), HasSubstr("no interrupts (ivshmem-plain)"));
  EXPECT_THAT(e.message(), HasSubstr("IvshmemOptions::self"));
  IvshmemOptions o = nodes(2);
  o.self = 1;
  Node n = join(f, 0, o, /*vectors=*/0);  // IVPosition reads 0 on ivshmem-plain
  EXPECT_EQ(n->info().self, NodeIdx(1));
}

TEST(IvshmemHal, ExplicitNodeIndexMustMatchTheIvPositionWhenDoorbellsExist) {
  IvshmemFabric f(kShm, 2, 2);
  IvshmemOptions o = nodes(2);
  o.self = 1;
  Error e = join_error(f, 0, o);
  EXPECT_THAT(e.message(), HasSubstr("self = 1 but the device's IVPosition is 0"));
}

// ---- link state

TEST(IvshmemHal, LinkIsUpWhileBothNodesHaveTheDeviceOpenAndEveryTransitionChangesTheGeneration) {
  IvshmemFabric f(kShm, 2, 2);
  Node a = join(f, 0);
  EXPECT_TRUE(a->link_status(NodeIdx(0)).up) << "the link to itself is always up";
  const LinkStatus alone = a->link_status(NodeIdx(1));
  EXPECT_FALSE(alone.up);
  uint32_t gen;
  {
    Node b = join(f, 1);
    const LinkStatus up_a = a->link_status(NodeIdx(1));
    const LinkStatus up_b = b->link_status(NodeIdx(0));
    EXPECT_TRUE(up_a.up);
    EXPECT_TRUE(up_b.up);
    EXPECT_NE(up_a.generation, alone.generation);
    EXPECT_EQ(up_a.generation, up_b.generation) << "both ends agree on the generation";
    gen = up_a.generation;
  }
  const LinkStatus gone = a->link_status(NodeIdx(1));
  EXPECT_FALSE(gone.up);
  EXPECT_NE(gone.generation, gen);
  Node b2 = join(f, 1);
  const LinkStatus back = a->link_status(NodeIdx(1));
  EXPECT_TRUE(back.up);
  EXPECT_NE(back.generation, gone.generation);
  EXPECT_NE(back.generation, gen);
  EXPECT_FALSE(a->link_status(NodeIdx(7)).up);
}

TEST(IvshmemHal, APeerThatDiedAndCameBackIsANewGeneration) {
  IvshmemFabric f(kShm, 2, 2);
  Node a = join(f, 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // a VM that opens the device and dies without closing it
    auto d = IvshmemDevice::attach(f.port(1), nodes(2));
    _exit(d ? 0 : 2);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const LinkStatus stale = a->link_status(NodeIdx(1));
  EXPECT_TRUE(stale.up) << "ivshmem has no link events: a dead VM looks present until it returns";
  Node b = join(f, 1);
  const LinkStatus fresh = a->link_status(NodeIdx(1));
  EXPECT_TRUE(fresh.up);
  EXPECT_NE(fresh.generation, stale.generation) << "the restart is visible to a poller that keeps the generation";
  EXPECT_EQ(b->link_status(NodeIdx(0)).generation, fresh.generation);
}

TEST(IvshmemHal, ASecondProcessClaimingTheSameNodeTakesItsLinksDownForTheFirst) {
  IvshmemFabric f(kShm, 2, 2);
  Node a = join(f, 0);
  Node b = join(f, 1);
  ASSERT_TRUE(b->link_status(NodeIdx(0)).up);
  Node b_again = join(f, 1);
  EXPECT_FALSE(b->link_status(NodeIdx(0)).up);
  EXPECT_TRUE(b_again->link_status(NodeIdx(0)).up);
  b.dev.reset();  // the displaced one leaves: it must not take the new owner's node down
  EXPECT_TRUE(a->link_status(NodeIdx(1)).up);
}

TEST(IvshmemHal, ControlOperationsToANodeThatIsDownFailWithLinkDown) {
  IvshmemFabric f(kShm, 2, 2);
  Node a = join(f, 0);
  auto db = a->peer_db_set(NodeIdx(1), 1);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code(), Errc::kLinkDown);
  EXPECT_THAT(db.error().message(), HasSubstr("peer_db_set: the link to node 1 is down"));
  auto sp = a->peer_spad_write(NodeIdx(1), SpadIdx(0), 1);
  ASSERT_FALSE(sp);
  EXPECT_EQ(sp.error().code(), Errc::kLinkDown);
  EXPECT_TRUE(a.port->rings().empty());
}

// ---- scratchpads

TEST(IvshmemHal, ScratchpadsLandAtThePeerFromThisNode) {
  IvshmemFabric f(kShm, 3, 2);
  Node a = join(f, 0, nodes(3)), b = join(f, 1, nodes(3)), c = join(f, 2, nodes(3));
  ASSERT_TRUE(a->peer_spad_write(NodeIdx(1), SpadIdx(3), 0xabcd));
  ASSERT_TRUE(c->peer_spad_write(NodeIdx(1), SpadIdx(3), 0x1234));
  EXPECT_EQ(*b->spad_read(NodeIdx(0), SpadIdx(3)), 0xabcdu);
  EXPECT_EQ(*b->spad_read(NodeIdx(2), SpadIdx(3)), 0x1234u);
  EXPECT_EQ(*a->spad_read(NodeIdx(1), SpadIdx(3)), 0u);
  ASSERT_TRUE(a->peer_spad_write(NodeIdx(1), SpadIdx(15), 7));
  EXPECT_EQ(*b->spad_read(NodeIdx(0), SpadIdx(15)), 7u);
  auto bad = b->spad_read(NodeIdx(0), SpadIdx(16));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::kInvalidArgument);
  EXPECT_THAT(bad.error().message(), HasSubstr("scratchpad 16 does not exist: the ivshmem device gives users scratchpads 0..15"));
}

// ---- doorbells

TEST(IvshmemHal, DoorbellBitsLandAtThePeerAndRingItsVectorForThisNode) {
  IvshmemFabric f(kShm, 2, 2);
  Node a = join(f, 0), b = join(f, 1);
  ASSERT_TRUE(a->peer_db_set(NodeIdx(1), 0b101));
  EXPECT_EQ(*b->db_read(NodeIdx(0)), 0b101u);
  EXPECT_EQ(*a->db_read(NodeIdx(1)), 0u);
  EXPECT_THAT(a.port->rings(), ElementsAre(std::pair<uint16_t, uint16_t>(1, 0)));  // node 0 -> vector 0
  ASSERT_TRUE(b->peer_db_set(NodeIdx(0), 0b10));
  EXPECT_THAT(b.port->rings(), ElementsAre(std::pair<uint16_t, uint16_t>(0, 1)));  // node 1 -> vector 1
  EXPECT_EQ(*b.port->wait(0, 0), true) << "node 1's vector 0 fired";
  EXPECT_EQ(*a.port->wait(1, 0), true) << "node 0's vector 1 fired";
}

TEST(IvshmemHal, DoorbellsAreWriteOneToClear) {
  IvshmemFabric f(kShm, 2, 2);
  Node a = join(f, 0), b = join(f, 1);
  ASSERT_TRUE(a->peer_db_set(NodeIdx(1), 0b101));
  ASSERT_TRUE(b->db_clear(NodeIdx(0), 0b001));
  EXPECT_EQ(*b->db_read(NodeIdx(0)), 0b100u);
  ASSERT_TRUE(a->peer_db_set(NodeIdx(1), 0b010));
  EXPECT_EQ(*b->db_read(NodeIdx(0)), 0b110u);
  ASSERT_TRUE(b->db_clear(NodeIdx(0), ~0ull));
  EXPECT_EQ(*b->db_read(NodeIdx(0)), 0u);
}

TEST(IvshmemHal, DbWaitReturnsPendingBitsAndTimesOutWithNone) {
  IvshmemFabric f(kShm, 2, 2);
  Node a = join(f, 0), b = join(f, 1);
  EXPECT_EQ(*b->db_wait(NodeIdx(0), 1'000'000), 0u);
  ASSERT_TRUE(a->peer_db_set(NodeIdx(1), 0x8));
  EXPECT_EQ(*b->db_wait(NodeIdx(0), 0), 0x8u);
  EXPECT_EQ(*b->db_wait(NodeIdx(0), 0), 0x8u) << "waiting does not clear";
}

TEST(IvshmemHal, DbWaitSleepsOnTheInterruptUntilThePeerRings) {
  IvshmemFabric f(kShm, 2, 2);
  Node a = join(f, 0), b = join(f, 1);
  std::promise<void> inside;
  bool told = false;
  b.port->on_wait = [&] {  // runs on the waiter thread
    if (!told) inside.set_value();
    told = true;
  };
  Result<uint64_t> got = uint64_t{0};
  std::thread waiter([&] { got = b->db_wait(NodeIdx(0), 60'000'000'000ull); });
  // Until the waiter has found no bits and gone to wait on its eventfd (bounded only so that a
  // broken build fails instead of hanging; the ring below releases the waiter either way).
  const bool waiting = inside.get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  ASSERT_TRUE(a->peer_db_set(NodeIdx(1), 0x40));
  waiter.join();
  EXPECT_TRUE(waiting) << "db_wait never waited on its interrupt";
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, 0x40u);
  EXPECT_EQ(b.port->wakeups(), 1) << "woken by the interrupt the ring raised, not by its time-out";
}

TEST(IvshmemHal, RingsUseTheVectorCountEachPeerAnnounced) {
  IvshmemFabric f(kShm, 4, 4);
  IvshmemOptions plain = nodes(4);
  plain.self = 2;
  Node n0 = join(f, 0, nodes(4), 4), n1 = join(f, 1, nodes(4), 2), n2 = join(f, 2, plain, 0), n3 = join(f, 3, nodes(4), 4);
  ASSERT_TRUE(n3->peer_db_set(NodeIdx(0), 1));  // 4 vectors: vector 3 % 4
  ASSERT_TRUE(n3->peer_db_set(NodeIdx(1), 1));  // 2 vectors: vector 3 % 2
  ASSERT_TRUE(n3->peer_db_set(NodeIdx(2), 1));  // no vectors: bits only
  EXPECT_THAT(n3.port->rings(), ElementsAre(std::pair<uint16_t, uint16_t>(0, 3), std::pair<uint16_t, uint16_t>(1, 1)));
  EXPECT_EQ(*n0->db_wait(NodeIdx(3), 0), 1u);
  EXPECT_EQ(*n0.port->wait(3, 0), true) << "node 0 waits for node 3 on vector 3: the one rung";
  EXPECT_EQ(*n2->db_wait(NodeIdx(3), 1'000'000'000), 1u) << "a node without vectors polls its bits";
  EXPECT_EQ(n2.port->waits(), 0);
}

}  // namespace
}  // namespace pbx::hal
