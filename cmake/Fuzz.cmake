# PBX_FUZZ=ON: the build is for tests/fuzz (libFuzzer), nothing else. Everything compiled in it
# gets coverage instrumentation (-fsanitize=fuzzer-no-link) and AddressSanitizer +
# UndefinedBehaviorSanitizer, aborting on the first report; the fuzz targets link libFuzzer
# (-fsanitize=fuzzer, tests/fuzz/CMakeLists.txt). Needs clang with its runtime libraries
# (Debian: clang-14 libclang-rt-14-dev, `scripts/setup-deps.sh fuzz`); `cmake --preset fuzz`.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang" OR NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "PBX_FUZZ needs clang (libFuzzer), not ${CMAKE_CXX_COMPILER_ID}: configure with "
                      "`cmake --preset fuzz`, or -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 "
                      "in a fresh build folder")
endif()

set(PBX_FUZZ_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
add_compile_options(${PBX_FUZZ_FLAGS})
add_link_options(-fsanitize=address,undefined)

include(CheckCXXSourceCompiles)
set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer,address,undefined")
set(CMAKE_REQUIRED_LINK_OPTIONS -fsanitize=fuzzer,address,undefined)
check_cxx_source_compiles([[
#include <cstddef>
#include <cstdint>
extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }
]] PBX_HAVE_LIBFUZZER)
unset(CMAKE_REQUIRED_FLAGS)
unset(CMAKE_REQUIRED_LINK_OPTIONS)
if(NOT PBX_HAVE_LIBFUZZER)
  message(FATAL_ERROR "PBX_FUZZ: ${CMAKE_CXX_COMPILER} cannot link a libFuzzer target "
                      "(-fsanitize=fuzzer,address,undefined): install its runtime, libclang-rt-14-dev "
                      "(scripts/setup-deps.sh fuzz)")
endif()
