#!/usr/bin/env bash
# fi_pingpong.sh PROVIDER_DIR PBXRUN: libfabric's own fi_pingpong (libfabric-bin) between two
# processes of a loopback job over the postbox provider, every message size (-S all), with
# its data check (-v). fi_pingpong exchanges addresses over a TCP socket: rank 0 is the
# server, rank 1 the client, which starts once the server listens.
set -euo pipefail
export FI_PROVIDER_PATH=${1:?usage: fi_pingpong.sh PROVIDER_DIR PBXRUN}
pbxrun=${2:?}
command -v fi_pingpong >/dev/null || { echo "fi_pingpong.sh: fi_pingpong missing: scripts/setup-deps.sh test installs libfabric-bin"; exit 1; }
port=$((20000 + $$ % 20000))
hexport=$(printf '%04X' "$port")
export PBX_FT_PORT=$port PBX_FT_HEXPORT=$hexport
out=$("$pbxrun" -N 2 -n 1 -- bash -c '
  if [ "$PBX_RANK" = 0 ]; then
    exec fi_pingpong -p postbox -e rdm -S all -I 100 -v -B "$PBX_FT_PORT"
  fi
  for _ in $(seq 1 3000); do   # the server listens: a condition with a deadline, not a delay
    grep -q ":$PBX_FT_HEXPORT 00000000:0000 0A" /proc/net/tcp /proc/net/tcp6 2>/dev/null && break
    sleep 0.01
  done
  exec fi_pingpong -p postbox -e rdm -S all -I 100 -v -P "$PBX_FT_PORT" 127.0.0.1')
echo "$out"
# Both sides print a table of every size, each with 100 messages sent and as many acknowledged,
# up to the largest fi_pingpong -S all tests (6 MiB).
rows=$(grep -cE '^[0-9.]+[kmg]? +100 +=100 ' <<<"$out" || true)
[ "$(grep -c '^6m ' <<<"$out")" -eq 2 ] && [ "$rows" -eq 92 ] ||
  { echo "fi_pingpong.sh: expected 2 x 46 rows (0 B .. 6 MiB), got $rows"; exit 1; }
echo "fi_pingpong.sh: ok"
