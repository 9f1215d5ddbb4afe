#!/usr/bin/env bash
# run-fabric.sh: the hw-emulated fabric run: run-vms.sh with PBX_HW_FABRIC_VMS VMs (3 by default,
# up to 4) on one ivshmem-doorbell device of PBX_HW_FABRIC_SHM bytes (16M by default: every
# node pair gets a window of about 1 MiB), each VM running every entry of the fabric plan.
#
#   run-fabric.sh --kernel DIR --plan FILE --server BIN --out DIR
#
# Arguments, output and exit status: run-vms.sh's.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
exec "$here/run-vms.sh" --vms "${PBX_HW_FABRIC_VMS:-3}" --shm "${PBX_HW_FABRIC_SHM:-16M}" "$@"
