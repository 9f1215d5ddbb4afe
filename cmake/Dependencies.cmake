# Dependencies, all from Debian 12 packages (scripts/setup-deps.sh installs them).
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)

# tl::expected (libexpected-dev): Result<T> = tl::expected<T, Error>.
find_package(tl-expected 1.0 REQUIRED)

# DPDK (libdpdk-dev), header-only here: the inline barriers, pause and cycle counter. We take
# only its include directories, not its flags (-march=corei7, -include rte_config.h), so that
# nothing of DPDK is forced on an application; the EAL is linked only where a process owns
# hugepage memory (postboxd).
pkg_check_modules(DPDK REQUIRED libdpdk)
add_library(pbx_dpdk_headers INTERFACE)
target_include_directories(pbx_dpdk_headers SYSTEM INTERFACE ${DPDK_INCLUDE_DIRS})
add_library(pbx::dpdk_headers ALIAS pbx_dpdk_headers)

if(PBX_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
