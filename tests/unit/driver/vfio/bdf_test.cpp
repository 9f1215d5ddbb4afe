// Bdf: parsing the forms lspci prints, formatting the form sysfs uses, and rejecting the rest.
#include "pbx/vfio/bdf.h"

#include <gtest/gtest.h>

namespace pbx::vfio {
namespace {

TEST(Bdf, ParsesTheFullForm) {
  auto b = Bdf::parse("0001:3a:1f.7");
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->domain, 1u);
  EXPECT_EQ(b->bus, 0x3a);
  EXPECT_EQ(b->device, 0x1f);
  EXPECT_EQ(b->function, 7);
  EXPECT_EQ(b->str(), "0001:3a:1f.7");
}

TEST(Bdf, DomainDefaultsToZeroAndDigitsMayBeShortOrUppercase) {
  auto b = Bdf::parse("0:4.0");
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->str(), "0000:00:04.0");
  EXPECT_EQ(Bdf::parse("00:04.0")->str(), "0000:00:04.0");
  EXPECT_EQ(Bdf::parse("0000:AF:00.1")->str(), "0000:af:00.1");
  EXPECT_EQ(Bdf::parse("10000:01:00.0")->str(), "10000:01:00.0");  // VMD domain
}

TEST(Bdf, BadStringsAreErrorsThatNameTheString) {
  for (const char* s : {"", "00:04", "00.04.0", "0000:00:20.0", "0000:00:04.8", "zz:04.0", "0000:000:04.0",
                        "00:04.0 ", "123456789:00:04.0", ":04.0"}) {
    auto b = Bdf::parse(s);
    ASSERT_FALSE(b) << s;
    EXPECT_EQ(b.error().code(), Errc::kInvalidArgument) << s;
    EXPECT_NE(b.error().message().find(std::string("'") + s + "'"), std::string::npos) << b.error().message();
    EXPECT_NE(b.error().message().find("[dddd:]bb:dd.f"), std::string::npos) << b.error().message();
  }
}

TEST(Bdf, ComparesByValue) {
  EXPECT_EQ(*Bdf::parse("00:04.0"), *Bdf::parse("0000:00:04.0"));
  EXPECT_LT(*Bdf::parse("00:04.0"), *Bdf::parse("00:04.1"));
}

}  // namespace
}  // namespace pbx::vfio
