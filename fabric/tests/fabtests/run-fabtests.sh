#!/usr/bin/env bash
# run-fabtests.sh: libfabric's own provider test suite, fabtests 1.17.0, over the postbox
# provider on loopback jobs: the unit, functional and short groups of runfabtests.sh, with the
# tests postbox does not support excluded (postbox.exclude says why, test by test).
#
#   run-fabtests.sh BUILD_DIR PROVIDER_DIR PBX_FI_JOB [GROUPS]    # GROUPS default unit,functional,short
#
# Builds fabtests once into BUILD_DIR (build-fabtests.sh), then runs a copy of runfabtests.sh
# whose servers and clients start through ft-launch.sh (each test gets a fresh two-node job) and
# whose clean-up kills nothing machine-wide (upstream it kills every process named fi_*; here
# each test's processes die with the command that launched them).
# Addresses are exchanged out of band (-b: a TCP socket on 127.0.0.1, ports 3000 and 9228).
# Prints the counts; exits 1 if a test failed or none passed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run-fabtests.sh BUILD_DIR PROVIDER_DIR PBX_FI_JOB [GROUPS]}
prov=${2:?}
tool=${3:?}
mkdir -p "$build"
build=$(cd "$build" && pwd)
prov=$(cd "$prov" && pwd)
tool=$(cd "$(dirname "$tool")" && pwd)/$(basename "$tool")
groups=${4:-unit,functional,short}

"$here/build-fabtests.sh" "$build"
bin=$build/install/bin

state=$(mktemp -d "${TMPDIR:-/tmp}/pbx-fabtests.XXXXXX")
prefix=ft$$
cleanup() {
  for f in /dev/shm/pbx."$prefix"-*.ctl; do
    [ -e "$f" ] || continue
    f=${f#/dev/shm/pbx.}
    "$tool" remove "${f%.ctl}"
  done
  rm -rf "$state"
}
trap cleanup EXIT

script=$state/runfabtests.sh
# Each level dies with its parent (setpriv --pdeathsig): when runfabtests.sh kills a test's
# launch command, the test's processes go too (upstream's machine-wide kill is what did it).
launch="setpriv --pdeathsig KILL timeout \${TIMEOUT_VAL} setpriv --pdeathsig KILL $here/ft-launch.sh"
sed -e "s|declare SERVER_CMD=\"eval timeout \${TIMEOUT_VAL}\"|declare SERVER_CMD=\"eval $launch server\"|" \
    -e "s|declare CLIENT_CMD=\"eval timeout \${TIMEOUT_VAL}\"|declare CLIENT_CMD=\"eval $launch client\"|" \
    -e "/ps -eo comm,pid .*xargs kill -9/c\\\t: # run-fabtests.sh: no machine-wide kill of fi_* processes" \
    "$bin/runfabtests.sh" >"$script"
if ! grep -q "ft-launch.sh server" "$script" || ! grep -q "ft-launch.sh client" "$script" ||
   grep -q "xargs kill" "$script"; then
  echo "run-fabtests: runfabtests.sh does not look like fabtests 1.17.0's: cannot redirect its launch commands" >&2
  exit 1
fi

export PBX_FT_STATE=$state PBX_FT_JOB_TOOL=$tool PBX_FT_PREFIX=$prefix
export FI_PROVIDER_PATH=$prov PATH=$bin:$PATH
log=$state/results.txt
set +e
# -b: out-of-band address exchange; -g 0: the unit tests' "good address" is rank 0 (a postbox
# address names a rank, not an IP); -T: per-process time-out in seconds.
# (runfabtests.sh keeps its output files in the current folder: the scratch folder)
(cd "$state" && bash "$script" -b -v -T "${PBX_FT_TIMEOUT:-120}" -g 0 -p "$bin" -f "$here/postbox.exclude" \
  -t "$groups" postbox) 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
pass=$(grep -c "result: *Pass" "$log" || true)
fail=$(grep -c "result: *Fail" "$log" || true)
excluded=$(grep -c "result: *Excluded" "$log" || true)
notrun=$(grep -c "result: *Notrun" "$log" || true)
echo "fabtests over postbox ($groups): $pass passed, $fail failed, $excluded excluded (postbox.exclude), $notrun not run"
if [ "$rc" -ne 0 ] || [ "$fail" -ne 0 ] || [ "$pass" -eq 0 ]; then
  echo "run-fabtests: failures above (runfabtests.sh exit status $rc)" >&2
  exit 1
fi
