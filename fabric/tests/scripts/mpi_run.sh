#!/usr/bin/env bash
# mpi_run.sh PROVIDER_DIR NP PPN PROGRAM [ARGS...]: runs PROGRAM under Open MPI's mpirun on this
# host over the postbox provider (pml cm, mtl ofi, provider postbox), NP processes as
# NP / PPN simulated nodes of PPN processes (PBX_PROCS_PER_NODE). mpirun is allowed to run as
# root and to oversubscribe the CPUs (tests run 8 processes on 2 cores).
set -euo pipefail
prov=${1:?usage: mpi_run.sh PROVIDER_DIR NP PPN PROGRAM [ARGS...]}
np=${2:?}
ppn=${3:?}
shift 3
mpirun=$(command -v mpirun.openmpi || command -v mpirun || true)
[ -n "$mpirun" ] || { echo "mpi_run.sh: mpirun missing: scripts/setup-deps.sh test installs openmpi-bin"; exit 1; }
exec "$mpirun" --allow-run-as-root --oversubscribe -np "$np" --host "localhost:$np" \
  -x FI_PROVIDER_PATH="$prov" -x PBX_PROCS_PER_NODE="$ppn" \
  --mca pml cm --mca mtl ofi --mca mtl_ofi_provider_include postbox --mca btl self "$@"
