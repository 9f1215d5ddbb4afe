// pbx-probe helpers: the device table, address parsing, error wording.
#include <cerrno>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bind.h"
#include "report.h"
#include "supported.h"
#include "sysfs.h"

namespace pbx::probe {
namespace {

using ::testing::HasSubstr;

TEST(ProbeTable, ClassifiesEverySupportedFamily) {
  EXPECT_EQ(classify(0x8086, 0x201c, 4, 0x068000)->kind, "intel-gen3");
  EXPECT_EQ(classify(0x8086, 0x347e, 0x10, 0x068000)->part, "SPR");
  EXPECT_EQ(classify(0x8086, 0x347e, 0x04, 0x068000)->part, "ICX");
  EXPECT_FALSE(classify(0x8086, 0x347e, 0x01, 0x068000)->postbox_driver);
  EXPECT_EQ(classify(0x8086, 0x7868, 0, 0x068000)->kind, "intel-gen4");
  EXPECT_EQ(classify(0x1af4, 0x1110, 1, 0x050000)->kind, "ivshmem");
  EXPECT_EQ(classify(0x1022, 0x14c3, 0, 0x068000)->kind, "amd-ntb");
  EXPECT_EQ(classify(0x1d94, 0x145b, 0, 0x068000)->kind, "amd-ntb");
  EXPECT_EQ(classify(0x11f8, 0x4000, 0, 0x068000)->kind, "switchtec-ntb");
  EXPECT_EQ(classify(0x11f8, 0x4000, 0, 0x068000)->part, "PFX 100XG4");
  EXPECT_EQ(classify(0x1055, 0x1002, 0, 0x068000)->part, "PCI1002XG4");
  EXPECT_EQ(classify(0x11f8, 0x6000, 0, 0x068000)->kind, "switchtec-ntb") << "newer IDs are matched by class";
  EXPECT_TRUE(classify(0x11f8, 0x4000, 0, 0x068000)->postbox_driver);
  EXPECT_TRUE(classify(0x11f8, 0x4000, 0, 0x068000)->hal_backend);
  EXPECT_EQ(classify(0x11f8, 0x4000, 0, 0x068000)->spec("0000:03:00.1"), "ntb:0000:03:00.1");
  EXPECT_TRUE(classify(0x1022, 0x148b, 0, 0x068000)->postbox_driver);
  EXPECT_TRUE(classify(0x1022, 0x148b, 0, 0x068000)->hal_backend);
  EXPECT_EQ(classify(0x1af4, 0x1110, 1, 0x050000)->spec("0000:00:04.0"), "ivshmem:0000:00:04.0");
  EXPECT_EQ(classify(0x8086, 0x347e, 0x01, 0x068000)->spec("0000:17:00.0"), "") << "no driver, no spec";
  EXPECT_TRUE(classify(0x8086, 0x0db4, 0, 0x068000)->hal_backend);
  EXPECT_FALSE(classify(0x11f8, 0x4000, 0, 0x058000)) << "the management endpoint is not an NT function";
  EXPECT_FALSE(classify(0x8086, 0x6f0d, 0, 0x068000)) << "gen1 Xeon NTB";
  EXPECT_FALSE(classify(0x1af4, 0x1041, 1, 0x020000));
}

TEST(ProbeTable, VfioBindIdsAreTheDevicesWithAPostboxDriver) {
  for (PciId id : vfio_bind_ids()) EXPECT_TRUE(classify(id.vendor, id.device, 0x10, 0)->postbox_driver);
  EXPECT_EQ(vfio_bind_ids().size(), 13u);  // 4 Intel, ivshmem, 8 AMD/Hygon
  for (PciClassMatch m : vfio_bind_classes()) EXPECT_TRUE(classify(m.vendor, 0x1234, 0, m.class_code)->postbox_driver);
}

TEST(ProbeBdf, CanonicalFormAddsTheDomain) {
  EXPECT_EQ(*canonical_bdf("af:00.0"), "0000:af:00.0");
  EXPECT_EQ(*canonical_bdf("0001:AF:1f.7"), "0001:af:1f.7");
  for (const char* bad : {"", "af:00", "af:20.0", "af:00.8", "0000:af:00.0x", "zz:00.0"})
    EXPECT_FALSE(canonical_bdf(bad).has_value()) << bad;
  EXPECT_THAT(canonical_bdf("nope").error().message(), HasSubstr("'nope' is not a PCI address"));
}

TEST(ProbeSysfs, PermissionErrorsSayToRunAsRoot) {
  EXPECT_EQ(describe_write_error("/sys/bus/pci/drivers_probe", EACCES),
            "write /sys/bus/pci/drivers_probe: Permission denied (run as root)");
  EXPECT_EQ(describe_write_error("/x", EPERM), "write /x: Operation not permitted (run as root)");
  EXPECT_EQ(describe_write_error("/x", ENODEV), "write /x: No such device");
}

TEST(ProbeReport, ShortSizes) {
  EXPECT_EQ(short_size(256), "256");
  EXPECT_EQ(short_size(64 << 10), "64K");
  EXPECT_EQ(short_size(512u << 20), "512M");
  EXPECT_EQ(short_size(16ull << 30), "16G");
  EXPECT_EQ(short_size(1000), "1000");
}

}  // namespace
}  // namespace pbx::probe
