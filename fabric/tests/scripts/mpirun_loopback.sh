#!/usr/bin/env bash
# mpirun_loopback.sh EXAMPLE_RING: a pbx::Endpoint program started by mpirun (not pbxrun)
# learns its rank and job shape from PMIx: 4 processes as 2 simulated nodes of 2
# (PBX_PROCS_PER_NODE=2) pass a token around; afterwards the loopback job's shared memory is
# gone (the PMIx server removed it at the end of the job). A PBX_PROCS_PER_NODE that does not
# divide the job is refused with a message.
set -euo pipefail
ring=${1:?usage: mpirun_loopback.sh EXAMPLE_RING}
mpirun=$(command -v mpirun.openmpi || command -v mpirun)
dir=${PBX_SHM_DIR:-/dev/shm}
before=$(ls "$dir" | grep -c '^pbx\.pmix-' || true)
out=$("$mpirun" --allow-run-as-root --oversubscribe -np 4 --host localhost:4 -x PBX_PROCS_PER_NODE=2 "$ring")
echo "$out"
grep -q "token after 3 laps: 12 (expected 12)" <<<"$out" || { echo "mpirun_loopback.sh: the ring did not complete"; exit 1; }
after=$(ls "$dir" | grep -c '^pbx\.pmix-' || true)
[ "$after" -le "$before" ] || { echo "mpirun_loopback.sh: the job's files stayed in $dir:"; ls "$dir" | grep '^pbx\.pmix-'; exit 1; }
if out=$("$mpirun" --allow-run-as-root --oversubscribe -np 4 --host localhost:4 -x PBX_PROCS_PER_NODE=3 "$ring" 2>&1); then
  echo "mpirun_loopback.sh: PBX_PROCS_PER_NODE=3 with 4 processes was accepted"; exit 1
fi
grep -q "PBX_PROCS_PER_NODE = 3 does not divide the job's 4 processes" <<<"$out" ||
  { echo "mpirun_loopback.sh: no clear message for a bad PBX_PROCS_PER_NODE:"; echo "$out"; exit 1; }
echo "mpirun_loopback.sh: ok"
