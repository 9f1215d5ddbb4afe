#!/usr/bin/env bash
# quickstart.sh: sets up what a fresh Debian 12 machine lacks, builds postbox (release), and
# runs the main job: pbx-perf on a loopback job of two simulated nodes, side by side with the
# raw cache-line ping-pong, a hand-written shared-memory ring and Open MPI's shared-memory
# transport, interleaved in one run. Extra arguments go to pbx-perf.
#
#   ./scripts/quickstart.sh              # the full table (about a minute)
#   ./scripts/quickstart.sh --test lat   # only latency
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh bench
cmake --preset release >/dev/null
cmake --build --preset release --target pbx-perf pbxrun pbx-example-ring
exec ./build/release/tools/perf/pbx-perf "$@"
