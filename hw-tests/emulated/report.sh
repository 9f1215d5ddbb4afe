#!/usr/bin/env bash
# report.sh: the verdict of one hw-emulated test, from the consoles run-vms.sh collected.
#
#   report.sh --run DIR --test NAME
#
# Passes when every VM that runs NAME (plan in DIR/plan) reported "status=pass"; skips (77) when
# one reported a gtest skip, or when the whole run was skipped (the reason is repeated); fails
# otherwise. Always prints each VM's console lines of the test, between its BEGIN and RESULT
# markers, so a failure shows what the test said.
set -euo pipefail
PROG=report
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

run="" test=""
while [ $# -gt 0 ]; do
  case "$1" in
    --run) run=${2:?}; shift ;;
    --test) test=${2:?}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
[ -n "$run" ] && [ -n "$test" ] || { usage >&2; exit 2; }

[ -f "$run/status" ] || die "no results in $run: the hw-emulated.vms test did not run"
read -r state reason <"$run/status"
case "$state" in
  skip) msg "SKIPPED: the hw-emulated run was skipped: $reason"; exit 77 ;;
  ok|fatal) ;;
  *) die "unreadable status in $run/status" ;;
esac

vms=$(awk -v t="$test" '$1 == t { print $2 }' "$run/plan")
[ -n "$vms" ] || die "$test is not in the plan $run/plan"
if [ "$vms" = "*" ]; then  # every VM of the run
  [ -f "$run/vms" ] || die "no list of VMs in $run: the hw-emulated run did not start"
  vms=$(cat "$run/vms")
fi

verdict=0
for vm in $vms; do
  console=$run/console-$vm.log
  echo "=== VM $vm: $test"
  # The test's own lines: from its BEGIN marker to its RESULT marker.
  tr -d '\r' <"$console" 2>/dev/null |
    awk -v b="@@PBX-HW BEGIN vm=$vm test=$test" -v r="@@PBX-HW RESULT vm=$vm test=$test " \
      'index($0, b) { on = 1; next } index($0, r) { on = 0 } on' || true
  result=$(tr -d '\r' <"$console" 2>/dev/null | grep -a -o "@@PBX-HW RESULT vm=$vm test=$test .*" | head -n 1 || true)
  status=$(sed -n 's/.* status=\([a-z]*\).*/\1/p' <<<"$result")
  case "$status" in
    pass) echo "=== VM $vm: passed" ;;
    skip) echo "=== VM $vm: skipped (see the [  SKIPPED ] lines above)"; [ $verdict = 1 ] || verdict=77 ;;
    fail) echo "=== VM $vm: FAILED (${result##* })"; verdict=1 ;;
    timeout) echo "=== VM $vm: FAILED: killed after the in-guest time-out (PBX_HW_TEST_TIMEOUT_S)"; verdict=1 ;;
    *)
      echo "=== VM $vm: FAILED: no result (the VM stopped before this test finished: ${reason:-see the output of hw-emulated.vms})"
      echo "--- last lines of $console:"
      tail -n 15 "$console" 2>/dev/null || true
      verdict=1 ;;
  esac
done
exit $verdict
