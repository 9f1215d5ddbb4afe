#!/usr/bin/env bash
# run-fabric.sh: the hw-emulated fabric run: run-vms.sh with PBX_HW_FABRIC_VMS VMs (4 by default;
# 3 or 2 for a smaller one) on one ivshmem-doorbell device of PBX_HW_FABRIC_SHM bytes (16M by
# default: each of the 16 node pairs gets a window of about 1 MiB), each VM running every entry
# of the fabric plan.
#
#   run-fabric.sh --kernel DIR --plan FILE --server BIN --out DIR
#
# Arguments, output and exit status: run-vms.sh's.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
exec "$here/run-vms.sh" --vms "${PBX_HW_FABRIC_VMS:-4}" --shm "${PBX_HW_FABRIC_SHM:-16M}" "$@"
