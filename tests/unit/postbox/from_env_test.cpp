// Endpoint::from_env for processes that open their node's device themselves (PBX_BACKEND=ivshmem
// or ntb, PBX_DEVICE=<BDF>): the spec, the job shape from the device, and clear errors for a
// missing device, a malformed PBX_DEVICE and a PBX_NODE that disagrees with the device.
#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "job_env.h"
#include "pbx/postbox.hpp"

namespace pbx {
namespace {

using ::testing::HasSubstr;

// Sets the PBX_* variables a test names and unsets the others; restores them all on exit.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::map<std::string, std::string>& vars) {
    for (const char* v : {"PBX_BACKEND", "PBX_DEVICE", "PBX_JOB", "PBX_NODES", "PBX_PROCS_PER_NODE", "PBX_NODE",
                          "PBX_LOCAL", "PBX_POSTBOXD_SOCKET", "PBX_TIMEOUT_MS"}) {
      const char* old = std::getenv(v);
      saved_[v] = old != nullptr ? std::optional<std::string>(old) : std::nullopt;
      ::unsetenv(v);
    }
    for (const auto& [k, v] : vars) ::setenv(k.c_str(), v.c_str(), 1);
  }
  ~ScopedEnv() {
    for (const auto& [k, v] : saved_) {
      if (v) ::setenv(k.c_str(), v->c_str(), 1);
      else ::unsetenv(k.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

Error from_env_error(const std::map<std::string, std::string>& vars) {
  ScopedEnv env(vars);
  auto ep = Endpoint::from_env();
  EXPECT_FALSE(ep) << "from_env succeeded";
  return ep ? Error(Errc::kIoError, "(succeeded)") : ep.error();
}

TEST(FromEnvOwnDevice, AMissingNtbIsAClearErrorNamingTheBdf) {
  const Error e = from_env_error({{"PBX_BACKEND", "ntb"}, {"PBX_DEVICE", "0000:ff:1f.7"}});
  EXPECT_THAT(e.message(), HasSubstr("PBX_BACKEND=ntb PBX_DEVICE=0000:ff:1f.7"));
  EXPECT_THAT(e.message(), HasSubstr("0000:ff:1f.7: "));  // the driver's own error about the device
  EXPECT_THAT(e.message(), HasSubstr("lspci -D")) << "and what to do";
}

TEST(FromEnvOwnDevice, NtbWithoutPbxDeviceSaysWhatToSet) {
  const Error e = from_env_error({{"PBX_BACKEND", "ntb"}});
  EXPECT_EQ(e.code(), Errc::kInvalidArgument);
  EXPECT_THAT(e.message(), HasSubstr("PBX_BACKEND=ntb needs PBX_DEVICE=<BDF>"));
  EXPECT_THAT(e.message(), HasSubstr("PBX_DEVICE=0000:af:00.0"));
}

TEST(FromEnvOwnDevice, AMalformedPbxDeviceNamesTheSpecAndTheAcceptedForms) {
  const Error e = from_env_error({{"PBX_BACKEND", "ntb"}, {"PBX_DEVICE", "af:00"}});
  EXPECT_EQ(e.code(), Errc::kInvalidArgument);
  EXPECT_THAT(e.message(), HasSubstr("PBX_BACKEND=ntb PBX_DEVICE=af:00: device spec 'ntb:af:00'"));
  EXPECT_THAT(e.message(), HasSubstr("PCI address 'af:00' is invalid"));
  EXPECT_THAT(e.message(), HasSubstr(hal::kDeviceSpecForms));
  const Error w = from_env_error({{"PBX_BACKEND", "ntb"}, {"PBX_DEVICE", "af:00.0,window=5000"}});
  EXPECT_THAT(w.message(), HasSubstr("not a multiple of 4 KiB"));
}

TEST(FromEnvOwnDevice, MoreThanOneProcessPerNodeIsSentToPostboxd) {
  const Error e = from_env_error({{"PBX_BACKEND", "ntb"}, {"PBX_DEVICE", "af:00.0"}, {"PBX_PROCS_PER_NODE", "2"}});
  EXPECT_EQ(e.code(), Errc::kInvalidArgument);
  EXPECT_THAT(e.message(), HasSubstr("PBX_PROCS_PER_NODE must be 1"));
  EXPECT_THAT(e.message(), HasSubstr("postboxd --device ntb:af:00.0"));
  const Error l = from_env_error({{"PBX_BACKEND", "ivshmem"}, {"PBX_DEVICE", "00:04.0"}, {"PBX_LOCAL", "1"}});
  EXPECT_THAT(l.message(), HasSubstr("PBX_LOCAL 0"));
}

TEST(FromEnvOwnDevice, BadNumbersAreNamed) {
  const Error e = from_env_error({{"PBX_BACKEND", "ntb"}, {"PBX_DEVICE", "af:00.0"}, {"PBX_NODE", "one"}});
  EXPECT_THAT(e.message(), HasSubstr("PBX_NODE = 'one' is not a number"));
}

TEST(FromEnvOwnDevice, AnUnknownBackendListsTheKnownOnes) {
  const Error e = from_env_error({{"PBX_BACKEND", "pcie"}});
  EXPECT_EQ(e.code(), Errc::kNotSupported);
  EXPECT_THAT(e.message(), HasSubstr("PBX_BACKEND = 'pcie'"));
  EXPECT_THAT(e.message(), HasSubstr("'ivshmem' or 'ntb' with PBX_DEVICE=<BDF>"));
}

TEST(FromEnvOwnDevice, LoopbackStillNeedsItsJob) {
  const Error e = from_env_error({{"PBX_NODES", "2"}});
  EXPECT_THAT(e.message(), HasSubstr("PBX_JOB is not set: start this program with pbxrun"));
}

// ---- the parts, without a device

detail::DeviceJobEnv ntb_env() {
  detail::DeviceJobEnv e;
  e.backend = "ntb";
  e.device = "0000:af:00.0";
  return e;
}

hal::DeviceInfo ntb_info(uint16_t self) {
  hal::DeviceInfo i;
  i.backend = "intel-gen3";
  i.name = "0000:af:00.0";
  i.self = hal::NodeIdx(self);
  i.node_count = 2;
  return i;
}

TEST(FromEnvOwnDevice, TheNodeIndexAndNodeCountComeFromTheDevice) {
  auto s = detail::shape_on_device(ntb_info(1), ntb_env());
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->first.nodes, 2u);
  EXPECT_EQ(s->first.procs_per_node, 1u);
  EXPECT_EQ(s->second, (Rank{1, 0}));
  auto agreeing = ntb_env();
  agreeing.node = 1;
  agreeing.nodes = 2;
  EXPECT_TRUE(detail::shape_on_device(ntb_info(1), agreeing));
}

TEST(FromEnvOwnDevice, APbxNodeThatDisagreesWithTheDeviceIsAClearError) {
  auto env = ntb_env();
  env.node = 0;
  auto s = detail::shape_on_device(ntb_info(1), env);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Errc::kInvalidArgument);
  EXPECT_THAT(s.error().message(), HasSubstr("PBX_NODE = 0 but the intel-gen3 device 0000:af:00.0 is node 1"));
  EXPECT_THAT(s.error().message(), HasSubstr("Intel NTB: the USD side is node 0"));
  EXPECT_THAT(s.error().message(), HasSubstr("unset PBX_NODE or set PBX_NODE=1"));
  auto nodes = ntb_env();
  nodes.nodes = 3;
  auto n = detail::shape_on_device(ntb_info(0), nodes);
  ASSERT_FALSE(n);
  EXPECT_THAT(n.error().message(), HasSubstr("PBX_NODES = 3 but the intel-gen3 device 0000:af:00.0 connects 2 nodes"));
}

TEST(FromEnvOwnDevice, IvshmemTakesItsFabricSizeFromPbxNodesOrTheSpec) {
  detail::DeviceJobEnv e;
  e.backend = "ivshmem";
  e.device = "00:04.0,window=1M";
  e.nodes = 4;
  auto s = detail::device_spec_from_env(e);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->kind, hal::DeviceSpec::Kind::kIvshmem);
  EXPECT_EQ(s->bdf, "0000:00:04.0");
  EXPECT_EQ(s->nodes, 4u);
  EXPECT_EQ(s->window, 1u << 20);
  e.device = "00:04.0,nodes=4";
  EXPECT_EQ(detail::device_spec_from_env(e)->nodes, 4u) << "both, agreeing";
  e.device = "00:04.0,nodes=3";
  auto bad = detail::device_spec_from_env(e);
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message(), HasSubstr("PBX_NODES = 4 but PBX_DEVICE = '00:04.0,nodes=3' says nodes=3"));
  e.nodes.reset();
  EXPECT_EQ(detail::device_spec_from_env(e)->nodes, 3u) << "the spec alone";
}

}  // namespace
}  // namespace pbx
