// The loopback HAL backend: windows, scratchpads, doorbells, link state, and its errors.
#include "pbx/hal/loopback.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>

#include <gtest/gtest.h>

#include "support/job_name.h"

namespace pbx::hal {
namespace {

using test::unique_job_name;

LoopbackJob make_job(uint16_t nodes, size_t window = 2u << 20) {
  auto job = LoopbackJob::create({unique_job_name(), nodes, window, {}});
  EXPECT_TRUE(job.has_value()) << (job ? "" : job.error().message());
  return std::move(*job);
}

std::unique_ptr<LoopbackDevice> open_dev(const LoopbackJob& job, uint16_t node) {
  auto d = LoopbackDevice::open(job.spec().name, NodeIdx(node));
  EXPECT_TRUE(d.has_value()) << (d ? "" : d.error().message());
  return std::move(*d);
}

TEST(LoopbackHal, StoresThroughPeerWindowAppearInPeersInboundWindow) {
  auto job = make_job(3);
  auto n0 = open_dev(job, 0);
  auto n2 = open_dev(job, 2);
  auto out = n0->peer_mw(NodeIdx(2));
  ASSERT_TRUE(out);
  auto in = n2->local_mw(NodeIdx(0));
  ASSERT_TRUE(in);
  EXPECT_EQ(out->size(), 2u << 20);
  EXPECT_EQ(out->mem_type(), MemType::kWriteBack);
  out->store64(4096, 0x1122334455667788ull, StoreKind::kControl);
  const char msg[] = "hello node 2";
  out->write(64, msg, sizeof msg);
  EXPECT_EQ(in->load64_acquire(4096), 0x1122334455667788ull);
  char got[sizeof msg];
  in->read(64, got, sizeof got);
  EXPECT_STREQ(got, msg);
  // Node 1's window from node 0 is a different region: untouched.
  auto n1 = open_dev(job, 1);
  EXPECT_EQ(n1->local_mw(NodeIdx(0))->load64(4096), 0u);
  // Node 2's window from itself is a different region too.
  EXPECT_EQ(n2->local_mw(NodeIdx(2))->load64(4096), 0u);
}

TEST(LoopbackHal, WindowsWorkAcrossProcesses) {
  auto job = make_job(2);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto d = LoopbackDevice::open(job.spec().name, NodeIdx(1));
    if (!d) _exit(2);
    auto w = (*d)->peer_mw(NodeIdx(0));
    if (!w) _exit(3);
    w->store64_release(0, 42, StoreKind::kControl);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto d = open_dev(job, 0);
  EXPECT_EQ(d->local_mw(NodeIdx(1))->load64_acquire(0), 42u);
}

// What another process does with an export: map the fd at the offset.
struct Mapped {
  explicit Mapped(const WindowExport& e)
      : p(static_cast<std::byte*>(::mmap(nullptr, e.length, PROT_READ | PROT_WRITE, MAP_SHARED, e.fd,
                                         static_cast<off_t>(e.offset)))),
        len(e.length) {}
  ~Mapped() {
    if (p != MAP_FAILED) ::munmap(p, len);
  }
  uint64_t load(size_t off) const { return std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(p + off)).load(); }
  void store(size_t off, uint64_t v) { std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(p + off)).store(v); }
  std::byte* p;
  size_t len;
};

TEST(LoopbackHal, ExportedWindowsMapTheSameMemoryAsTheDevicesOwn) {
  auto job = make_job(3);
  auto n1 = open_dev(job, 1);
  auto n2 = open_dev(job, 2);
  auto ex = n1->export_windows();
  ASSERT_TRUE(ex) << ex.error().message();
  ASSERT_EQ(ex->size(), 3u);
  for (const NodeWindowsExport& w : *ex) {
    EXPECT_EQ(w.outbound.length, 2u << 20);
    EXPECT_EQ(w.inbound.length, 2u << 20);
    EXPECT_TRUE(w.outbound.sparse && w.inbound.sparse) << "tmpfs files: commit before storing";
    EXPECT_EQ(w.outbound.mem_type, MemType::kWriteBack);
  }
  // Outbound to node 2, mapped from the export: lands in node 2's window from node 1.
  Mapped out((*ex)[2].outbound);
  ASSERT_NE(out.p, MAP_FAILED);
  out.store(4096, 0xabcd);
  EXPECT_EQ(n2->local_mw(NodeIdx(1))->load64_acquire(4096), 0xabcdu);
  EXPECT_EQ(n2->local_mw(NodeIdx(0))->load64_acquire(4096), 0u);
  // Inbound from node 2, mapped from the export: what node 2 stores through its peer_mw(1).
  Mapped in((*ex)[2].inbound);
  ASSERT_NE(in.p, MAP_FAILED);
  n2->peer_mw(NodeIdx(1))->store64(128, 0x77, StoreKind::kControl);
  EXPECT_EQ(in.load(128), 0x77u);
  // Between processes of node 1 itself.
  Mapped self_out((*ex)[1].outbound), self_in((*ex)[1].inbound);
  self_out.store(64, 5);
  EXPECT_EQ(self_in.load(64), 5u);
  EXPECT_EQ(n1->local_mw(NodeIdx(1))->load64_acquire(64), 5u);
}

TEST(LoopbackHal, FilesAreSparseUntilWritten) {
  auto job = make_job(2, 4u << 20);
  const std::string path = LoopbackJob::default_dir() + "/pbx." + job.spec().name + ".node1";
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 8 << 20);
  EXPECT_EQ(st.st_blocks, 0);
  auto d = open_dev(job, 0);
  d->peer_mw(NodeIdx(1))->store64(0, 1, StoreKind::kControl);
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_GT(st.st_blocks, 0);
  EXPECT_LE(st.st_blocks * 512, 64 << 10);
}

TEST(LoopbackHal, ScratchpadsLandAtThePeer) {
  auto job = make_job(2);
  auto a = open_dev(job, 0);
  auto b = open_dev(job, 1);
  ASSERT_TRUE(a->peer_spad_write(NodeIdx(1), SpadIdx(3), 0xabcd));
  EXPECT_EQ(*b->spad_read(NodeIdx(0), SpadIdx(3)), 0xabcdu);
  EXPECT_EQ(*a->spad_read(NodeIdx(1), SpadIdx(3)), 0u);
  auto bad = a->spad_read(NodeIdx(1), SpadIdx(16));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("scratchpad 16"), std::string::npos);
}

TEST(LoopbackHal, DoorbellsAreWriteOneToClear) {
  auto job = make_job(2);
  auto a = open_dev(job, 0);
  auto b = open_dev(job, 1);
  ASSERT_TRUE(a->peer_db_set(NodeIdx(1), 0b101));
  EXPECT_EQ(*b->db_read(NodeIdx(0)), 0b101u);
  ASSERT_TRUE(b->db_clear(NodeIdx(0), 0b001));
  EXPECT_EQ(*b->db_read(NodeIdx(0)), 0b100u);
  EXPECT_EQ(*b->db_wait(NodeIdx(0), 0), 0b100u);
  ASSERT_TRUE(b->db_clear(NodeIdx(0), ~0ull));
  EXPECT_EQ(*b->db_wait(NodeIdx(0), 1000), 0u);  // times out with no bits
}

TEST(LoopbackHal, DoorbellWakesAWaiterInAnotherProcess) {
  auto job = make_job(2);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto d = LoopbackDevice::open(job.spec().name, NodeIdx(1));
    if (!d) _exit(2);
    auto bits = (*d)->db_wait(NodeIdx(0), 30'000'000'000ull);
    _exit(bits && *bits == 0x8 ? 0 : 1);
  }
  auto a = open_dev(job, 0);
  ASSERT_TRUE(a->peer_db_set(NodeIdx(1), 0x8));
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(LoopbackHal, LinkDownDropsStoresAndBumpsGeneration) {
  auto job = make_job(2);
  auto a = open_dev(job, 0);
  auto b = open_dev(job, 1);
  auto out = *a->peer_mw(NodeIdx(1));
  auto in = *b->local_mw(NodeIdx(0));
  const LinkStatus before = a->link_status(NodeIdx(1));
  EXPECT_TRUE(before.up);
  ASSERT_TRUE(LoopbackJob::set_link(job.spec().name, NodeIdx(0), NodeIdx(1), false));
  const LinkStatus down = a->link_status(NodeIdx(1));
  EXPECT_FALSE(down.up);
  EXPECT_NE(down.generation, before.generation);
  EXPECT_FALSE(b->link_status(NodeIdx(0)).up);
  out.store64(0, 7, StoreKind::kControl);  // goes nowhere, as on a real link that is down
  EXPECT_EQ(in.load64(0), 0u);
  auto db = a->peer_db_set(NodeIdx(1), 1);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code(), Errc::kLinkDown);
  ASSERT_TRUE(a->force_link(NodeIdx(1), true));
  const LinkStatus up = a->link_status(NodeIdx(1));
  EXPECT_TRUE(up.up);
  EXPECT_NE(up.generation, down.generation);
  out.store64(0, 9, StoreKind::kControl);
  EXPECT_EQ(in.load64(0), 9u);
  EXPECT_TRUE(a->link_status(NodeIdx(0)).up);  // self
}

TEST(LoopbackHal, BadJobShapesAreRejectedWithTheLimits) {
  auto e = LoopbackJob::create({"x y", 2, 2u << 20, {}});
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(e.error().message().find("job name"), std::string::npos);
  e = LoopbackJob::create({unique_job_name(), 0, 2u << 20, {}});
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message().find("1..64"), std::string::npos);
  e = LoopbackJob::create({unique_job_name(), 2, 12345, {}});
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message().find("multiple of 2 MiB"), std::string::npos);
}

TEST(LoopbackHal, MissingJobAndBadNodeAreClearErrors) {
  auto d = LoopbackDevice::open("no-such-job-" + std::to_string(getpid()), NodeIdx(0));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), Errc::kNoDevice);
  EXPECT_NE(d.error().message().find("pbxrun"), std::string::npos);
  auto job = make_job(2);
  d = LoopbackDevice::open(job.spec().name, NodeIdx(2));
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("nodes 0..1"), std::string::npos);
  auto dev = open_dev(job, 0);
  auto w = dev->peer_mw(NodeIdx(5));
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), Errc::kInvalidArgument);
}

TEST(LoopbackHal, ExistingJobIsNotClobbered) {
  auto job = make_job(2);
  auto again = LoopbackJob::create({job.spec().name, 2, 2u << 20, {}});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Errc::kBusy);
  EXPECT_NE(again.error().message().find("--cleanup"), std::string::npos);
  // The failed create must not have removed the first job's files.
  EXPECT_TRUE(LoopbackDevice::open(job.spec().name, NodeIdx(1)));
}

TEST(LoopbackHal, DestroyingTheJobRemovesItsFiles) {
  std::string name;
  {
    auto job = make_job(2);
    name = job.spec().name;
  }
  struct stat st {};
  EXPECT_NE(stat((LoopbackJob::default_dir() + "/pbx." + name + ".ctl").c_str(), &st), 0);
  EXPECT_NE(stat((LoopbackJob::default_dir() + "/pbx." + name + ".node0").c_str(), &st), 0);
}

}  // namespace
}  // namespace pbx::hal
