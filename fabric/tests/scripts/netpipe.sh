#!/usr/bin/env bash
# netpipe.sh PROVIDER_DIR: Debian's NetPIPE (netpipe-openmpi) between two MPI processes over
# the postbox provider, every size from 1 B up to 8 MiB (NetPIPE's default range, with its
# perturbations); passes when the run reaches the last size and exits 0.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prov=${1:?usage: netpipe.sh PROVIDER_DIR}
command -v NPopenmpi >/dev/null || { echo "netpipe.sh: NPopenmpi missing: scripts/setup-deps.sh test installs netpipe-openmpi"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$here/mpi_run.sh" "$prov" 2 2 NPopenmpi -o "$dir/np.out" | tail -5
lines=$(wc -l <"$dir/np.out")
last=$(tail -1 "$dir/np.out" | awk '{print $1}')
echo "netpipe.sh: $lines sizes measured, the largest $last bytes"
[ "$last" -ge 8388608 ] || { echo "netpipe.sh: NetPIPE stopped before 8 MiB"; exit 1; }
echo "netpipe.sh: ok"
