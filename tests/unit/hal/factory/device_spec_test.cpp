// The device spec grammar: every accepted form, and every malformed spec refused with a message
// that names the spec and the accepted forms.
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbx/hal/factory.h"

namespace pbx::hal {
namespace {

using Kind = DeviceSpec::Kind;
using ::testing::HasSubstr;

TEST(DeviceSpec, Loopback) {
  auto s = parse_device_spec("loopback:my.job-1:3");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->kind, Kind::kLoopback);
  EXPECT_EQ(s->text, "loopback:my.job-1:3");
  EXPECT_EQ(s->job, "my.job-1");
  EXPECT_EQ(s->node, 3u);
  EXPECT_EQ(parse_device_spec("loopback:a:b:63")->job, "a:b") << "the node is after the last colon";
  EXPECT_EQ(parse_device_spec("loopback:a:b:63")->node, 63u);
}

TEST(DeviceSpec, IvshmemWithAndWithoutOptions) {
  auto s = parse_device_spec("ivshmem:0000:00:04.0,nodes=4,window=0x100000");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->kind, Kind::kIvshmem);
  EXPECT_EQ(s->bdf, "0000:00:04.0");
  EXPECT_EQ(s->nodes, 4u);
  EXPECT_EQ(s->window, 0x100000u);
  auto d = parse_device_spec("ivshmem:00:04.0");
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->bdf, "0000:00:04.0") << "normalised as sysfs writes it";
  EXPECT_FALSE(d->nodes.has_value()) << "unset: the caller decides (2, or the job's node count)";
  EXPECT_EQ(d->window, 0u);
  EXPECT_EQ(parse_device_spec("ivshmem:00:04.0,window=12K,nodes=1")->window, 12u << 10);
}

TEST(DeviceSpec, Ntb) {
  auto s = parse_device_spec("ntb:0000:af:00.0");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->kind, Kind::kNtb);
  EXPECT_EQ(s->bdf, "0000:af:00.0");
  EXPECT_EQ(s->window, 0u) << "BAR2's size";
  EXPECT_EQ(parse_device_spec("ntb:AF:00.0,window=4M")->window, 4u << 20);
  EXPECT_EQ(parse_device_spec("ntb:af:00.0,window=4096")->window, 4096u);
  EXPECT_EQ(parse_device_spec("ntb:af:00.0,window=1G")->window, 1u << 30);
  EXPECT_EQ(parse_device_spec("ntb:af:00.0,window=0")->window, 0u);
  EXPECT_EQ(parse_device_spec("ntb:af:00.0,window=12K")->window, 12u << 10) << "AMD and Switchtec windows need not "
                                                                              "be powers of two";
  EXPECT_TRUE(s->is_ntb());
}

TEST(DeviceSpec, NtbOfOneKind) {
  for (auto [text, kind] : {std::pair{"intel:af:00.0,window=4M", Kind::kIntel},
                            std::pair{"amd:41:00.1,window=12K", Kind::kAmd},
                            std::pair{"switchtec:0000:03:00.1", Kind::kSwitchtec}}) {
    auto s = parse_device_spec(text);
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->kind, kind) << text;
    EXPECT_TRUE(s->is_ntb());
  }
  EXPECT_EQ(parse_device_spec("switchtec:3:0.1")->bdf, "0000:03:00.1");
  EXPECT_EQ(parse_device_spec("amd:41:00.1,window=12K")->window, 12u << 10);
  EXPECT_FALSE(parse_device_spec("ivshmem:00:04.0")->is_ntb());
}

TEST(DeviceSpec, Postboxd) {
  auto s = parse_device_spec("postboxd");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->kind, Kind::kPostboxd);
  EXPECT_EQ(s->socket, "/run/postbox/postboxd.sock") << "the default socket";
  EXPECT_EQ(parse_device_spec("postboxd:/tmp/pbx1.sock")->socket, "/tmp/pbx1.sock");
}

TEST(DeviceSpec, BuiltSpecsAreWhatTheirTextParsesTo) {
  const DeviceSpec l = loopback_spec("job-1", 3);
  auto lp = parse_device_spec(l.text);
  ASSERT_TRUE(lp) << lp.error().message();
  EXPECT_EQ(lp->kind, Kind::kLoopback);
  EXPECT_EQ(lp->job, l.job);
  EXPECT_EQ(lp->node, l.node);
  for (const std::string& sock : {std::string(), std::string("/tmp/pbx2.sock")}) {
    const DeviceSpec p = postboxd_spec(sock);
    auto pp = parse_device_spec(p.text);
    ASSERT_TRUE(pp) << pp.error().message();
    EXPECT_EQ(pp->kind, Kind::kPostboxd);
    EXPECT_EQ(pp->socket, p.socket);
  }
}

TEST(DeviceSpec, KindNames) {
  EXPECT_STREQ(to_string(Kind::kLoopback), "loopback");
  EXPECT_STREQ(to_string(Kind::kIvshmem), "ivshmem");
  EXPECT_STREQ(to_string(Kind::kNtb), "ntb");
  EXPECT_STREQ(to_string(Kind::kPostboxd), "postboxd");
  EXPECT_STREQ(to_string(Kind::kIntel), "intel");
  EXPECT_STREQ(to_string(Kind::kAmd), "amd");
  EXPECT_STREQ(to_string(Kind::kSwitchtec), "switchtec");
}

struct Malformed {
  std::string spec;
  const char* why;  // what the message must say beyond the spec and the accepted forms
};

class MalformedDeviceSpec : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedDeviceSpec, IsRefusedNamingTheSpecAndTheAcceptedForms) {
  const Malformed& m = GetParam();
  auto s = parse_device_spec(m.spec);
  ASSERT_FALSE(s) << "'" << m.spec << "' was accepted";
  EXPECT_EQ(s.error().code(), Errc::kInvalidArgument);
  EXPECT_THAT(s.error().message(), HasSubstr("device spec '" + m.spec + "'"));
  EXPECT_THAT(s.error().message(), HasSubstr(std::string("accepted forms: ") + kDeviceSpecForms));
  EXPECT_THAT(s.error().message(), HasSubstr(m.why));
}

const std::string kLongSocket = "postboxd:/" + std::string(120, 's');

INSTANTIATE_TEST_SUITE_P(
    Specs, MalformedDeviceSpec,
    ::testing::Values(Malformed{"", "the spec is empty"},
                      Malformed{"pcie:0", "unknown device kind 'pcie'"},
                      Malformed{"NTB:af:00.0", "unknown device kind 'NTB'"},
                      Malformed{"loopback", "write loopback:JOB:NODE"},
                      Malformed{"loopback:job", "write loopback:JOB:NODE"},
                      Malformed{"loopback::1", "write loopback:JOB:NODE"},
                      Malformed{"loopback:job:64", "the loopback node '64' is not a number in 0..63"},
                      Malformed{"loopback:job:x", "the loopback node 'x'"},
                      Malformed{"loopback:job:", "the loopback node ''"},
                      Malformed{"ntb", "no PCI address: write ntb:BDF"},
                      Malformed{"ntb:", "no PCI address: write ntb:BDF"},
                      Malformed{"ntb:,window=4096", "no PCI address"},
                      Malformed{"ntb:0", "PCI address '0' is invalid"},
                      Malformed{"ntb:af:20.0", "the device is not a hex number 00-1f"},
                      Malformed{"ntb:af:00.0,window=3000", "window 3000 is not a multiple of 4 KiB"},
                      Malformed{"intel:af:00.0,window=3000", "window 3000 is not a power of two of at least 4 KiB"},
                      Malformed{"intel:af:00.0,window=2K", "not a power of two of at least 4 KiB"},
                      Malformed{"intel:af:00.0,window=12K", "not a power of two"},
                      Malformed{"switchtec:03:00.1,window=6000", "not a multiple of 4 KiB"},
                      Malformed{"amd", "no PCI address: write amd:BDF"},
                      Malformed{"switchtec:03:00.1,nodes=3", "unknown switchtec option 'nodes' (window=BYTES)"},
                      Malformed{"ntb:af:00.0,window", "window '' is not a byte count"},
                      Malformed{"ntb:af:00.0,window=", "window '' is not a byte count"},
                      Malformed{"ntb:af:00.0,window=-4096", "window '-4096' is not a byte count"},
                      Malformed{"ntb:af:00.0,window=4T", "window '4T' is not a byte count"},
                      Malformed{"ntb:af:00.0,window=0x", "window '0x' is not a byte count"},
                      Malformed{"ntb:af:00.0,window=99999999999999999999", "is not a byte count"},
                      Malformed{"ntb:af:00.0,window=2048G", "up to 1T"},
                      Malformed{"ntb:af:00.0,window=1M,window=2M", "window is given twice"},
                      Malformed{"ntb:af:00.0,nodes=2", "unknown ntb option 'nodes' (window=BYTES)"},
                      Malformed{"ntb:af:00.0,", "an empty option"},
                      Malformed{"ntb:af:00.0,,window=1M", "an empty option"},
                      Malformed{"ivshmem", "no PCI address: write ivshmem:BDF"},
                      Malformed{"ivshmem:00:04", "PCI address '00:04' is invalid"},
                      Malformed{"ivshmem:00:04.0,nodes=65", "nodes '65' is not a number in 1..64"},
                      Malformed{"ivshmem:00:04.0,nodes=0", "nodes '0' is not a number in 1..64"},
                      Malformed{"ivshmem:00:04.0,nodes=2,nodes=3", "nodes is given twice"},
                      Malformed{"ivshmem:00:04.0,window=5000", "window 5000 is not a multiple of 4 KiB"},
                      Malformed{"ivshmem:00:04.0,speed=9", "unknown ivshmem option 'speed' (nodes=N, window=BYTES)"},
                      Malformed{"postboxd:", "the socket path must have 1..107 characters"},
                      Malformed{kLongSocket, "the socket path must have 1..107 characters"}),
    [](const ::testing::TestParamInfo<Malformed>& i) { return "Case" + std::to_string(i.index); });

}  // namespace
}  // namespace pbx::hal
