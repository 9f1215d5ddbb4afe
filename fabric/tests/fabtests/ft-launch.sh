#!/usr/bin/env bash
# ft-launch.sh server|client PROGRAM [ARGS...]: runs one process of a fabtests test as a rank
# of a postbox loopback job. runfabtests.sh starts a test's server, then (a second later) its
# client, each through SERVER_CMD / CLIENT_CMD; run-fabtests.sh points those at this script:
#   server: takes the next test number N ($PBX_FT_STATE/counter), creates a fresh 2-node job,
#           writes its name to $PBX_FT_STATE/job.N, runs PROGRAM as rank 0 (node 0), writes
#           PROGRAM's exit status to $PBX_FT_STATE/exit.N and removes the job;
#   client: runs PROGRAM as rank 1 (node 1) of job N, the last server started (waiting up to
#           60 s for its job; if that server already exited, in a job of its own).
# Unit tests run as a server alone. The exit status is PROGRAM's (runfabtests reads 61 and 38
# as "not run").
set -u
role=$1
shift
state=${PBX_FT_STATE:?set PBX_FT_STATE to a scratch folder}
tool=${PBX_FT_JOB_TOOL:?set PBX_FT_JOB_TOOL to pbx-fi-job}

child=
job=
finish() {  # removes the job; a timeout's TERM stops the program first
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null && wait "$child" 2>/dev/null
  [ -n "$job" ] && "$tool" remove "$job"
}
trap 'finish; exit 124' TERM INT

run_as() {  # rank PROGRAM...
  PBX_BACKEND=loopback PBX_JOB=$job PBX_NODES=2 PBX_PROCS_PER_NODE=1 PBX_NODE=$1 PBX_LOCAL=0 PBX_RANK=$1 \
    PBX_SIZE=2 setpriv --pdeathsig KILL "${@:2}" &
  child=$!
  wait "$child"
  local rc=$?
  child=
  return $rc
}

case $role in
  server)
    n=$(($(cat "$state/counter" 2>/dev/null || echo 0) + 1))
    echo "$n" >"$state/counter"
    job=${PBX_FT_PREFIX:-ft}-$n
    "$tool" remove "$job"
    "$tool" create "$job" 2 || exit 1
    echo "$job" >"$state/job.$n.tmp" && mv "$state/job.$n.tmp" "$state/job.$n"
    run_as 0 "$@"
    rc=$?
    echo "$rc" >"$state/exit.$n"
    "$tool" remove "$job"
    exit $rc
    ;;
  client)
    n=$(cat "$state/counter" 2>/dev/null || echo 0)
    for _ in $(seq 1 6000); do
      if [ -e "$state/exit.$n" ]; then
        # The server is gone (often: the test needs what postbox lacks, and fi_getinfo said so).
        # The client still runs, in a job of its own, and fails or reports "not run" by itself.
        echo "ft-launch: the test's server (test $n) exited with status $(cat "$state/exit.$n") before the client" \
             "started" >&2
        job=${PBX_FT_PREFIX:-ft}-$n-alone
        "$tool" create "$job" 2 || exit 1
        break
      fi
      if [ -e "$state/job.$n" ]; then
        job=$(cat "$state/job.$n")
        break
      fi
      sleep 0.01  # waiting for the server's job: a condition with a deadline, not a delay
    done
    if [ -z "$job" ]; then
      echo "ft-launch: no server started a job in $state within 60 s" >&2
      exit 1
    fi
    run_as 1 "$@"
    rc=$?
    "$tool" remove "$job"
    exit $rc
    ;;
  *)
    echo "usage: ft-launch.sh server|client PROGRAM [ARGS...]" >&2
    exit 2
    ;;
esac
