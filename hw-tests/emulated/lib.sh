# Shared by the hw-emulated scripts (sourced, not run).
#
# Skip or fail: a missing prerequisite (qemu, busybox, apt) skips the tier (exit 77, which CTest
# reports as Skipped) with the reason and the command that fixes it; where the tier is required
# (CI=true, or PBX_HW_EMULATED=require) the same reason fails instead, so that CI cannot pass by
# skipping. PBX_HW_EMULATED=off skips on purpose.

PROG=${PROG:-$(basename "$0")}
# The guest kernel's modules for VFIO, in load order (emulated-hw.md).
# shellcheck disable=SC2034
VFIO_MODULES=(irqbypass vfio_virqfd vfio vfio_iommu_type1 vfio-pci-core vfio-pci)

msg() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { msg "error: $*"; exit 1; }

tier_required() { [ "${PBX_HW_EMULATED:-}" = require ] || [ "${CI:-}" = true ]; }

skip() {
  if tier_required; then
    die "$* (the hw-emulated tier must run here: CI=${CI:-} PBX_HW_EMULATED=${PBX_HW_EMULATED:-})"
  fi
  msg "SKIPPED: $*"
  if declare -F on_skip >/dev/null; then on_skip "$*"; fi
  exit 77
}

check_not_disabled() {
  [ "${PBX_HW_EMULATED:-}" != off ] || skip "PBX_HW_EMULATED=off"
}

# need_cmd COMMAND DEBIAN_PACKAGE: skips when the command is missing.
need_cmd() {
  command -v "$1" >/dev/null 2>&1 ||
    skip "$1 not found: install $2 (scripts/setup-deps.sh test installs everything the tests need)"
}

# Whatever the tier needs on the host to run VMs at all.
need_vm_tools() {
  check_not_disabled
  need_cmd qemu-system-x86_64 qemu-system-x86
  need_cmd busybox busybox-static
  need_cmd cpio cpio
}
