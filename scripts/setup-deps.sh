#!/usr/bin/env bash
# setup-deps.sh: installs the Debian 12 packages postbox needs, only those missing.
#
#   scripts/setup-deps.sh build   # compiler, CMake, libraries: enough to build and run a loopback job
#   scripts/setup-deps.sh bench   # build + Open MPI, the peer pbx-perf --compare measures against
#   scripts/setup-deps.sh test    # build + what the whole test suite needs (QEMU for hw-emulated tests,
#                                 #   libfabric, PMIx, Open MPI and NetPIPE for the provider in fabric/)
#   scripts/setup-deps.sh fuzz    # build + clang and its libFuzzer/sanitizer runtime (scripts/fuzz.sh)
#
# Runs apt-get as root (directly when root, else through sudo when it exists).
set -euo pipefail

BUILD_PKGS=(g++ cmake ninja-build pkg-config make git
            linux-libc-dev  # <linux/vfio.h>
            libexpected-dev libdpdk-dev libpci-dev pciutils
            libgtest-dev libgmock-dev)
BENCH_PKGS=(openmpi-bin libopenmpi-dev)
TEST_PKGS=(python3
           qemu-system-x86 busybox-static cpio xz-utils kmod zstd
           # fabric/ (the libfabric provider): libfabric, fi_pingpong/fi_info, PMIx, Open MPI and
           # NetPIPE, and what builds fabtests (autogen, configure, make); setpriv is util-linux's
           libfabric-dev libfabric-bin libpmix-dev openmpi-bin libopenmpi-dev netpipe-openmpi
           autoconf automake libtool util-linux)
FUZZ_PKGS=(clang-14 libclang-rt-14-dev)

want=("${BUILD_PKGS[@]}")
case "${1:-build}" in
  build) ;;
  bench) want+=("${BENCH_PKGS[@]}") ;;
  test) want+=("${TEST_PKGS[@]}") ;;
  fuzz) want+=("${FUZZ_PKGS[@]}") ;;
  *) echo "usage: $0 build|bench|test|fuzz" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

as_root=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "setup-deps: need root to install: ${missing[*]} (run as root or install sudo)" >&2; exit 1; }
  as_root=(sudo)
fi
echo "setup-deps: installing ${missing[*]}" >&2
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
