#!/usr/bin/env bash
# fuzz.sh: sets up what a fresh Debian 12 machine lacks (clang-14, its libFuzzer runtime),
# builds the libFuzzer targets of tests/fuzz (preset "fuzz", build/fuzz), and runs each target
# over a copy of its corpus, two at a time; prints executions, speed, coverage and crashes per
# target, and exits 1 if any target crashed or failed (the input that did it is kept).
#
#   ./scripts/fuzz.sh                          # every target for PBX_FUZZ_SECONDS (60) seconds
#   ./scripts/fuzz.sh fuzz_ack fuzz_presence   # only these
#   ./scripts/fuzz.sh --runs 10000000          # every target for that many executions (long run)
#
# tests/fuzz/corpus is only read: each run starts from a fresh copy in build/fuzz/run/<target>/
# (corpus/: the seeds and what the run added; crashes/: failing inputs; log: libFuzzer's output).
# PBX_FUZZ_JOBS: targets run at a time (default 2). tests/fuzz/README.md explains the targets.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every target, and the largest input it is given: its layout (tests/fuzz/inputs.h) with room
# to spare; the postboxd target's largest message is a Welcome for 64 nodes (3216 bytes).
all=(fuzz_indicator fuzz_ack fuzz_presence fuzz_postboxd_protocol fuzz_ivshmem_protocol fuzz_spad_handshake)
declare -A max_len=([fuzz_indicator]=128 [fuzz_ack]=64 [fuzz_presence]=64 [fuzz_postboxd_protocol]=4096
                    [fuzz_ivshmem_protocol]=512 [fuzz_spad_handshake]=256)

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
runs=""
targets=()
while (($#)); do
  case "$1" in
    --runs) runs=${2:-}; shift $(($# > 1 ? 2 : 1)) ;;
    --runs=*) runs=${1#--runs=}; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *)
      [ -n "${max_len[$1]:-}" ] || { echo "fuzz.sh: no target $1 (targets: ${all[*]})" >&2; exit 2; }
      targets+=("$1"); shift ;;
  esac
done
((${#targets[@]} != 0)) || targets=("${all[@]}")
seconds=${PBX_FUZZ_SECONDS:-60}
jobs_max=${PBX_FUZZ_JOBS:-2}
for n in "$seconds" "$jobs_max" ${runs:+"$runs"}; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: '$n' is not a positive number (--runs, PBX_FUZZ_SECONDS, PBX_FUZZ_JOBS)" >&2; exit 2; }
done
if [ -n "$runs" ]; then limit=(-runs="$runs"); else limit=(-max_total_time="$seconds"); fi

./scripts/setup-deps.sh fuzz
echo "=== fuzz: build ==="
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"

bin=build/fuzz/tests/fuzz
scratch=build/fuzz/run

# Runs one target to its limit; records its exit status and wall time next to its log.
run_one() {
  local t=$1 dir=$scratch/$1
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/crashes"
  cp tests/fuzz/corpus/"$t"/* "$dir/corpus/"
  local dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  local start=$SECONDS rc=0
  "$bin/$t" "${limit[@]}" -max_len="${max_len[$t]}" "${dict[@]}" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$dir/crashes/" "$dir/corpus" >"$dir/log" 2>&1 || rc=$?
  echo "$rc" >"$dir/rc"
  echo $((SECONDS - start)) >"$dir/wall"
}

if [ -n "$runs" ]; then each="$runs executions"; else each="$seconds s"; fi
echo "=== fuzz: ${#targets[@]} targets, $each each, $jobs_max at a time ==="
for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= jobs_max)); do wait -n || true; done
  echo "fuzz: $t started"
  run_one "$t" &
done
wait

# One line per target from libFuzzer's final statistics and its last status line: cov (edges
# covered), corpus (inputs/bytes libFuzzer keeps), wall time in seconds.
failed=0
printf '%-24s %14s %10s %8s %12s %6s %7s\n' target executions exec/s crashes corpus cov wall_s
for t in "${targets[@]}"; do
  dir=$scratch/$t
  stat() { sed -n "s/^stat::$1: *//p" "$dir/log" | tail -n 1; }
  execs=$(stat number_of_executed_units)
  speed=$(stat average_exec_per_sec)
  cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' "$dir/log" | tail -n 1)
  crashes=$(find "$dir/crashes" -type f | wc -l)
  corpus=$(sed -n 's/.* corp: \([^ ]*\) .*/\1/p' "$dir/log" | tail -n 1)
  rc=$(cat "$dir/rc")
  printf '%-24s %14s %10s %8s %12s %6s %7s\n' "$t" "${execs:--}" "${speed:--}" "$crashes" "${corpus:--}" "${cov:--}" \
    "$(cat "$dir/wall")"
  if ((crashes != 0 || rc != 0)); then
    failed=1
    echo "fuzz: $t FAILED (exit status $rc): $dir/log" >&2
    for f in "$dir"/crashes/*; do
      [ -f "$f" ] && echo "fuzz:   reproduce: $bin/$t $f" >&2
    done
  fi
done
if ((failed)); then
  echo "=== fuzz: FAILED ===" >&2
  exit 1
fi
echo "=== fuzz: no crashes ==="
