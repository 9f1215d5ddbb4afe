#!/usr/bin/env bash
# test-all.sh: sets up what a fresh Debian 12 machine lacks and runs the whole test suite:
#   1. release build: unit, loopback, tools and hw-emulated tiers (QEMU VMs sharing ivshmem: a
#      pair, and a fabric of four), and fabric (the libfabric provider: fabtests, fi_pingpong,
#      Open MPI over it);
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build: unit, loopback and tools tiers;
#   3. ThreadSanitizer build: unit and loopback tiers.
# On NTB hardware, the real-hardware tier runs with: PBX_DEVICE=<BDF> ctest --preset release -L hw-device
#
#   ./scripts/test-all.sh            # everything
#   PBX_TEST_PRESETS=release ./scripts/test-all.sh   # a subset of the builds
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh test
# The hw-emulated tier must run, not skip: this script installs QEMU.
export PBX_HW_EMULATED=${PBX_HW_EMULATED:-require}
presets=${PBX_TEST_PRESETS:-release asan-ubsan tsan}
jobs=$(nproc)
for preset in $presets; do
  echo "=== $preset: build ==="
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== $preset: test ==="
  case "$preset" in
    release) ctest --preset "$preset" ;;
    asan-ubsan) ctest --preset "$preset" -j "$jobs" -L 'unit|loopback|tools' ;;
    tsan) ctest --preset "$preset" -j "$jobs" -L 'unit|loopback' ;;
    *) ctest --preset "$preset" ;;
  esac
done
./scripts/fuzz.sh  # libFuzzer on every parser of peer-written memory, 60 s per target (tests/fuzz/README.md)
echo "=== all tests passed ($presets) ==="
