// postboxd's command line and its access check.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "access.h"
#include "options.h"

namespace pbx::postboxd {
namespace {

using ::testing::HasSubstr;

TEST(PostboxdOptions, DeviceSpecs) {
  auto l = parse_device("loopback:my.job-1:3");
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ(l->kind, DeviceSpec::Kind::kLoopback);
  EXPECT_EQ(l->job, "my.job-1");
  EXPECT_EQ(l->node, 3u);
  auto i = parse_device("ivshmem:0000:00:04.0,nodes=4,window=0x100000");
  ASSERT_TRUE(i) << i.error().message();
  EXPECT_EQ(i->kind, DeviceSpec::Kind::kIvshmem);
  EXPECT_EQ(i->bdf, "0000:00:04.0");
  EXPECT_EQ(i->nodes, 4u);
  EXPECT_EQ(i->window, 0x100000u);
  EXPECT_EQ(parse_device("ivshmem:0000:00:04.0")->nodes, 2u);
  EXPECT_THAT(parse_device("loopback:job").error().message(), HasSubstr("write loopback:JOB:NODE"));
  EXPECT_THAT(parse_device("ivshmem:0000:00:04.0,speed=9").error().message(), HasSubstr("unknown ivshmem option"));
  EXPECT_THAT(parse_device("ivshmem:0000:00:04.0,nodes=65").error().message(), HasSubstr("1..64"));
  EXPECT_THAT(parse_device("ntb:0").error().message(), HasSubstr("unknown device kind 'ntb'"));
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
