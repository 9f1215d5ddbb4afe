// postboxd's command line and its access check.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "access.h"
#include "options.h"

namespace pbx::postboxd {
namespace {

using ::testing::HasSubstr;

TEST(PostboxdOptions, DeviceSpecs) {
  using Kind = hal::DeviceSpec::Kind;
  auto l = parse_device("loopback:my.job-1:3");
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ(l->kind, Kind::kLoopback);
  EXPECT_EQ(l->job, "my.job-1");
  EXPECT_EQ(l->node, 3u);
  auto i = parse_device("ivshmem:0000:00:04.0,nodes=4,window=0x100000");
  ASSERT_TRUE(i) << i.error().message();
  EXPECT_EQ(i->kind, Kind::kIvshmem);
  EXPECT_EQ(i->bdf, "0000:00:04.0");
  EXPECT_EQ(i->nodes, 4u);
  EXPECT_EQ(i->window, 0x100000u);
  EXPECT_FALSE(parse_device("ivshmem:0000:00:04.0")->nodes.has_value()) << "the factory's default: 2";
  auto n = parse_device("ntb:0000:af:00.0,window=64M");
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(n->kind, Kind::kNtb);
  EXPECT_EQ(n->bdf, "0000:af:00.0");
  EXPECT_EQ(n->window, 64u << 20);
  EXPECT_EQ(parse_device("ntb:af:00.0")->window, 0u) << "BAR2's size";
  EXPECT_THAT(parse_device("loopback:job").error().message(), HasSubstr("write loopback:JOB:NODE"));
  EXPECT_THAT(parse_device("ivshmem:0000:00:04.0,speed=9").error().message(), HasSubstr("unknown ivshmem option"));
  EXPECT_THAT(parse_device("ivshmem:0000:00:04.0,nodes=65").error().message(), HasSubstr("1..64"));
  EXPECT_THAT(parse_device("ntb:0000:af:00.0,nodes=2").error().message(), HasSubstr("unknown ntb option 'nodes'"));
  EXPECT_THAT(parse_device("ntb:0000:af:00.0,window=3000").error().message(), HasSubstr("not a multiple of 4 KiB"));
  EXPECT_THAT(parse_device("intel:0000:af:00.0,window=12K").error().message(), HasSubstr("power of two"));
  EXPECT_THAT(parse_device("pcie:0").error().message(), HasSubstr("unknown device kind 'pcie'"));
}

TEST(PostboxdOptions, AMalformedNtbSpecNamesTheSpecTheAddressAndTheAcceptedForms) {
  auto e = parse_device("ntb:0");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), Errc::kInvalidArgument);
  EXPECT_THAT(e.error().message(), HasSubstr("--device: device spec 'ntb:0'"));
  EXPECT_THAT(e.error().message(), HasSubstr("PCI address '0' is invalid"));
  EXPECT_THAT(e.error().message(), HasSubstr("ntb:BDF[,window=BYTES]"));
  EXPECT_THAT(parse_device("ntb:").error().message(), HasSubstr("no PCI address: write ntb:BDF"));
  EXPECT_THAT(parse_args({"--device", "ntb:af:00.9"}).error().message(), HasSubstr("PCI address 'af:00.9'"));
}

TEST(PostboxdOptions, APostboxdSpecIsRefused) {
  auto e = parse_device("postboxd:/tmp/other.sock");
  ASSERT_FALSE(e);
  EXPECT_THAT(e.error().message(), HasSubstr("postboxd owns a device itself"));
  EXPECT_THAT(e.error().message(), HasSubstr("ntb:BDF[,window=BYTES]"));
}

TEST(PostboxdOptions, NtbKeepsTheHandshakeOff) {
  auto o = parse_args({"-d", "ntb:0000:af:00.0"});
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->device.kind, hal::DeviceSpec::Kind::kNtb);
  EXPECT_EQ(o->handshake, HandshakeMode::kAuto) << "auto is off for ntb (main.cpp)";
  EXPECT_TRUE(parse_args({"-d", "ntb:0000:af:00.0", "--handshake", "off"}));
  auto on = parse_args({"--handshake=on", "-d", "ntb:0000:af:00.0"});
  ASSERT_FALSE(on);
  EXPECT_THAT(on.error().message(), HasSubstr("an NTB device brings its link up itself"));
  EXPECT_TRUE(parse_args({"-d", "ivshmem:00:04.0", "--handshake", "on"})) << "ivshmem may have it on";
}

TEST(PostboxdOptions, UsageNamesEveryDeviceKind) {
  const std::string usage = kUsage;
  EXPECT_THAT(usage, HasSubstr("loopback:JOB:NODE"));
  EXPECT_THAT(usage, HasSubstr("ivshmem:BDF[,nodes=N][,window=BYTES]"));
  EXPECT_THAT(usage, HasSubstr("ntb:BDF[,window=BYTES]"));
  EXPECT_THAT(parse_args({}).error().message(), HasSubstr("ntb:BDF[,window=BYTES]"));
}

TEST(PostboxdOptions, DefaultsAndFlags) {
  auto o = parse_args({"--device", "loopback:j:0"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->socket, "/run/postbox/postboxd.sock");
  EXPECT_EQ(o->group, "postbox");
  EXPECT_FALSE(o->foreground);
  EXPECT_EQ(o->handshake, HandshakeMode::kAuto);
  o = parse_args({"-d", "loopback:j:1", "-s", "/tmp/s", "-g", "users", "-f", "--handshake=on", "--tick", "5"});
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->device.node, 1u);
  EXPECT_EQ(o->socket, "/tmp/s");
  EXPECT_EQ(o->group, "users");
  EXPECT_TRUE(o->foreground);
  EXPECT_EQ(o->handshake, HandshakeMode::kOn);
  EXPECT_EQ(o->tick_ms, 5u);
  EXPECT_THAT(parse_args({}).error().message(), HasSubstr("--device is required"));
  EXPECT_THAT(parse_args({"-d"}).error().message(), HasSubstr("needs a value"));
  EXPECT_THAT(parse_args({"-d", "loopback:j:0", "--bogus"}).error().message(), HasSubstr("unknown argument"));
  EXPECT_TRUE(parse_args({"--help"})->help);
}

TEST(PostboxdAccess, RootAndGroupMembersPassOthersAreToldWhichGroupToJoin) {
  const AccessGroup g{"postbox", 4242};
  EXPECT_TRUE(check_access(PeerCred{10, 0, 0, {}}, g)) << "root";
  EXPECT_TRUE(check_access(PeerCred{10, 1000, 4242, {}}, g)) << "primary group";
  EXPECT_TRUE(check_access(PeerCred{10, 1000, 1000, {27, 4242}}, g)) << "supplementary group";
  auto no = check_access(PeerCred{77, 65534, 65534, {100}}, g);
  ASSERT_FALSE(no);
  EXPECT_EQ(no.error().code(), Errc::kPermissionDenied);
  EXPECT_THAT(no.error().message(), HasSubstr("refused pid 77"));
  EXPECT_THAT(no.error().message(), HasSubstr("not in group 'postbox'"));
  EXPECT_THAT(no.error().message(), HasSubstr("usermod -aG postbox"));
}

TEST(PostboxdAccess, AMissingGroupSaysHowToCreateIt) {
  auto g = lookup_group("no-such-group-pbx");
  ASSERT_FALSE(g);
  EXPECT_THAT(g.error().message(), HasSubstr("groupadd --system no-such-group-pbx"));
  EXPECT_TRUE(lookup_group("root"));
}

}  // namespace
}  // namespace pbx::postboxd
