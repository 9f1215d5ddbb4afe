// open_device(): each spec kind reaches its backend (VFIO ones on FakeVfio machines), and a
// device that is not there is an error naming it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/hal/factory.h"
#include "pbx/hal/loopback.h"
#include "support/job_name.h"
#include "support/vfio/fake_intel_ntb.h"
#include "support/vfio/fake_ivshmem.h"

namespace pbx::hal {
namespace {

using vfio::test::FakeVfio;
using ::testing::HasSubstr;

DeviceSpec spec(const char* text) {
  auto s = parse_device_spec(text);
  EXPECT_TRUE(s) << s.error().message();
  return s ? *s : DeviceSpec{};
}

TEST(OpenDevice, NtbSpecOpensTheIntelBackendThroughVfio) {
  FakeVfio f;
  vfio::test::make_skx(f);
  auto dev = open_device(spec("ntb:af:00.0"), {.vfio_sys = &f});
  ASSERT_TRUE(dev) << dev.error().message();
  const DeviceInfo& i = (*dev)->info();
  EXPECT_EQ(i.backend, "intel-gen3");
  EXPECT_EQ(i.name, "0000:af:00.0");
  EXPECT_EQ(i.self, NodeIdx(1)) << "the DSD side: the node index comes from the device";
  EXPECT_EQ(i.node_count, 2u);
  EXPECT_EQ(i.window_size, 1u << 20) << "BAR2's size";
  EXPECT_EQ(f.dma_maps.size(), 1u) << "the inbound window is DMA-mapped";
}

TEST(OpenDevice, NtbWindowOptionReachesTheBackend) {
  FakeVfio f;
  vfio::test::make_skx(f);
  auto dev = open_device(spec("ntb:0000:af:00.0,window=256K"), {.vfio_sys = &f});
  ASSERT_TRUE(dev) << dev.error().message();
  EXPECT_EQ((*dev)->info().window_size, 256u << 10);
  ASSERT_EQ(f.dma_maps.size(), 1u);
  EXPECT_EQ(f.dma_maps[0].size, 256u << 10);
}

TEST(OpenDevice, AMissingNtbIsAnErrorNamingItsAddress) {
  FakeVfio f;
  vfio::test::make_skx(f);  // the machine has 0000:af:00.0 only
  auto dev = open_device(spec("ntb:0000:17:00.0"), {.vfio_sys = &f});
  ASSERT_FALSE(dev);
  EXPECT_THAT(dev.error().message(), HasSubstr("0000:17:00.0"));
}

// An AMD NTB (148B, primary side) whose BAR0 is plain memory: enough to open the backend.
void make_amd(FakeVfio& f) {
  f.bdf = "0000:41:00.1";
  f.set16(0x00, 0x1022);
  f.set16(0x02, 0x148b);
  f.set16(0x04, 0x0000);
  f.config[0x0a] = 0x80;  // class 068000: bridge, other
  f.config[0x0b] = 0x06;
  f.add_bar(0, 4096, false);
  f.add_bar(2, 1u << 20, true);
  f.add_bar(4, 1u << 20, true);
}

// A Switchtec NT endpoint whose GAS is plain memory (no partitions: its driver refuses it).
void make_switchtec(FakeVfio& f) {
  f.bdf = "0000:03:00.1";
  f.set16(0x00, 0x11f8);
  f.set16(0x02, 0x4036);
  f.set16(0x04, 0x0000);
  f.config[0x0a] = 0x80;
  f.config[0x0b] = 0x06;
  f.add_bar(0, 4u << 20, false);
  f.add_bar(2, 4u << 20, true);
}

TEST(OpenDevice, NtbSpecOpensAnAmdNtbWithTheAmdBackend) {
  FakeVfio f;
  make_amd(f);
  auto dev = open_device(spec("ntb:41:00.1"), {.vfio_sys = &f});
  ASSERT_TRUE(dev) << dev.error().message();
  EXPECT_EQ((*dev)->info().backend, "amd");
  EXPECT_EQ((*dev)->info().self, NodeIdx(0)) << "the primary side";
  EXPECT_EQ((*dev)->info().node_count, 2u);
  EXPECT_EQ((*dev)->info().window_size, 1u << 20) << "BAR2's size";
  EXPECT_EQ(f.dma_maps.size(), 1u);
  auto amd = open_device(spec("amd:41:00.1,window=64K"), {.vfio_sys = &f});
  ASSERT_TRUE(amd) << amd.error().message();
  EXPECT_EQ((*amd)->info().window_size, 64u << 10);
}

TEST(OpenDevice, NtbSpecTakesASwitchtecNtEndpointToTheSwitchtecBackend) {
  FakeVfio f;
  make_switchtec(f);
  auto dev = open_device(spec("ntb:03:00.1"), {.vfio_sys = &f});
  ASSERT_FALSE(dev);
  EXPECT_THAT(dev.error().message(), HasSubstr("0000:03:00.1: NTB info partition_count"))
      << "the Switchtec driver read the GAS";
}

TEST(OpenDevice, ASpecOfOneKindRefusesAnotherKindNamingBoth) {
  FakeVfio f;
  vfio::test::make_skx(f);
  auto dev = open_device(spec("switchtec:af:00.0"), {.vfio_sys = &f});
  ASSERT_FALSE(dev);
  EXPECT_THAT(dev.error().message(), HasSubstr("[8086:201c] is an intel NTB, not switchtec: write ntb:0000:af:00.0"));
  FakeVfio a;
  make_amd(a);
  auto i = open_device(spec("intel:41:00.1"), {.vfio_sys = &a});
  ASSERT_FALSE(i);
  EXPECT_THAT(i.error().message(), HasSubstr("is an amd NTB, not intel"));
}

TEST(OpenDevice, NtbSpecOnADeviceThatIsNoNtbSaysWhatIsDriven) {
  FakeVfio f;
  vfio::test::make_ivshmem(f, 0, 1u << 20);
  auto dev = open_device(spec("ntb:00:04.0"), {.vfio_sys = &f});
  ASSERT_FALSE(dev);
  EXPECT_THAT(dev.error().message(), HasSubstr("[1af4:1110] class"));
  EXPECT_THAT(dev.error().message(), HasSubstr("is not an NTB postbox drives"));
  EXPECT_THAT(dev.error().message(), HasSubstr("QEMU's ivshmem is opened with ivshmem:BDF"));
}

TEST(OpenDevice, IvshmemSpecOpensTheIvshmemBackendWithItsNodeCount) {
  FakeVfio f;
  vfio::test::make_ivshmem(f, /*iv_position=*/2, 4u << 20);
  f.bdf = "0000:00:04.0";
  auto dev = open_device(spec("ivshmem:00:04.0,nodes=3"), {.vfio_sys = &f});
  ASSERT_TRUE(dev) << dev.error().message();
  EXPECT_EQ((*dev)->info().backend, "ivshmem");
  EXPECT_EQ((*dev)->info().node_count, 3u);
  EXPECT_EQ((*dev)->info().self, NodeIdx(2)) << "IVPosition";
}

TEST(OpenDevice, IvshmemDefaultsToTwoNodes) {
  FakeVfio f;
  vfio::test::make_ivshmem(f, 0, 1u << 20);
  auto dev = open_device(spec("ivshmem:00:04.0"), {.vfio_sys = &f});
  ASSERT_TRUE(dev) << dev.error().message();
  EXPECT_EQ((*dev)->info().node_count, 2u);
}

TEST(OpenDevice, LoopbackSpecOpensANodeOfTheJob) {
  auto job = LoopbackJob::create({test::unique_job_name("fac"), 3, 2u << 20, {}});
  ASSERT_TRUE(job) << job.error().message();
  auto dev = open_device(spec(("loopback:" + job->spec().name + ":2").c_str()));
  ASSERT_TRUE(dev) << dev.error().message();
  EXPECT_EQ((*dev)->info().backend, "loopback");
  EXPECT_EQ((*dev)->info().self, NodeIdx(2));
  EXPECT_EQ((*dev)->info().node_count, 3u);
}

TEST(OpenDevice, MissingLoopbackJobAndPostboxdSocketAreNamed) {
  auto l = open_device(spec("loopback:no-such-job-pbx:0"));
  ASSERT_FALSE(l);
  EXPECT_THAT(l.error().message(), HasSubstr("no-such-job-pbx"));
  auto d = open_device(spec("postboxd:/nonexistent-pbx/d.sock"));
  ASSERT_FALSE(d);
  EXPECT_THAT(d.error().message(), HasSubstr("/nonexistent-pbx/d.sock"));
}

TEST(OpenDevice, AHandBuiltSpecWithABadAddressIsRefused) {
  DeviceSpec s;
  s.kind = DeviceSpec::Kind::kNtb;
  s.bdf = "not-a-bdf";
  auto dev = open_device(s);
  ASSERT_FALSE(dev);
  EXPECT_THAT(dev.error().message(), HasSubstr("PCI address 'not-a-bdf' is invalid"));
}

}  // namespace
}  // namespace pbx::hal
