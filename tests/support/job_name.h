// Unique loopback job names, so that tests running in parallel never share shared memory.
#pragma once

#include <unistd.h>

#include <atomic>
#include <string>

#include <gtest/gtest.h>

namespace pbx::test {

inline std::string unique_job_name(const std::string& prefix = "t") {
  static std::atomic<int> counter{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  if (info != nullptr) {
    std::string t = info->name();
    for (char& c : t)
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    name += "-" + t.substr(0, 24);
  }
  return name;
}

}  // namespace pbx::test
