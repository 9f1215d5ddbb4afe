#!/usr/bin/env bash
# run-vms.sh: runs a hw-emulated plan in QEMU VMs that share one ivshmem-doorbell device.
#
#   run-vms.sh --kernel DIR --plan FILE --server BIN --out DIR [--vms N] [--shm SIZE]
#
#   --kernel DIR   what fetch-kernel.sh made (DIR/vmlinux, DIR/lib/modules)
#   --plan FILE    the tests: NAME VM BINARY [ARGS...] per line (see make-initramfs.sh); VM "*"
#                  is every VM
#   --server BIN   pbx-ivshmem-server
#   --out DIR      emptied, then filled with: initramfs.cpio, console-<vm>.log (the guests'
#                  serial consoles), qemu-<vm>.log and .cmd (QEMU's own output and command
#                  line), server.log, plan, vms (the VMs' names), and status ("ok",
#                  "skip REASON" or "fatal REASON")
#   --vms N        how many VMs share the device: 2 (a, b; the default) up to 4 (a, b, c, d).
#                  Each VM's node index is its ivshmem peer id (IVPosition), which the server
#                  hands out in connection order; the guests get pbx.nodes=N
#   --shm SIZE     the shared memory (default $PBX_HW_SHM_SIZE, else 4M)
#
# Steps: build the initramfs; start pbx-ivshmem-server on a private socket (fresh shared memory,
# 2 vectors); boot the VMs (TCG, q35, emulated IOMMU with interrupt remapping), each under its
# own time-out, because QEMU pauses rather than exits on some errors; then check that every VM
# ran its whole plan and print every test's result. The verdict per test is report.sh's.
#
# Environment: PBX_HW_VM_TIMEOUT_S (360), PBX_HW_TEST_TIMEOUT_S (150), PBX_HW_PEER_TIMEOUT_S (30),
# PBX_HW_SHM_SIZE (4M), PBX_HW_EMULATED (require: fail instead of skip; off: skip).
#
# Exit status: 0 every VM ran its plan (tests may still have failed), 1 a VM or the server
# failed (the message says which and shows its last console lines), 77 skipped.
set -euo pipefail
PROG=run-vms
here=$(dirname "$(readlink -f "$0")")
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

kernel="" plan="" server="" out="" nvms=2 shm_size=${PBX_HW_SHM_SIZE:-4M}
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) kernel=${2:?}; shift ;;
    --vms) nvms=${2:?}; shift ;;
    --shm) shm_size=${2:?}; shift ;;
    --plan) plan=${2:?}; shift ;;
    --server) server=${2:?}; shift ;;
    --out) out=${2:?}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
[ -n "$kernel" ] && [ -n "$plan" ] && [ -n "$server" ] && [ -n "$out" ] || { usage >&2; exit 2; }
case "$nvms" in 2|3|4) ;; *) usage >&2; exit 2 ;; esac

VM_TIMEOUT=${PBX_HW_VM_TIMEOUT_S:-360}
TEST_TIMEOUT=${PBX_HW_TEST_TIMEOUT_S:-150}
PEER_TIMEOUT=${PBX_HW_PEER_TIMEOUT_S:-30}
ALL_VMS=(a b c d)
VMS=("${ALL_VMS[@]:0:nvms}")

rm -rf "$out"
mkdir -p "$out"
status() { printf '%s\n' "$*" >"$out/status"; }
on_skip() { status "skip $1"; }
status "fatal run-vms.sh stopped before the VMs finished (see hw-emulated.vms)"
cp "$plan" "$out/plan"
echo "${VMS[*]}" >"$out/vms"  # who runs the plan's "*" entries (report.sh)

need_vm_tools
[ -x "$server" ] || die "no ivshmem server at $server (build the pbx-ivshmem-server target)"
[ -f "$kernel/vmlinux" ] || die "no guest kernel in $kernel (run fetch-kernel.sh --cache ...; CTest runs it as hw-emulated.kernel)"

"$here/make-initramfs.sh" --kernel "$kernel" --plan "$plan" --out "$out/initramfs.cpio"

# --- clean-up of everything started below --------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pbx-hw.XXXXXX")  # short: a socket path has at most 107 bytes
shm=pbx-hw-$$-$RANDOM
server_pid="" drain_pid=""
declare -A vm_pid=()
cleanup() {
  local p
  for p in "${vm_pid[@]}"; do kill -TERM "$p" 2>/dev/null || true; done  # timeout passes it on
  for p in "${vm_pid[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "$server_pid" ] && { kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
  [ -n "$drain_pid" ] && { wait "$drain_pid" 2>/dev/null || true; }
  rm -f "/dev/shm/$shm"  # the server removes it; this is for a server that was killed
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'msg "interrupted"; exit 130' INT TERM

# --- the ivshmem server: wait for its "listening" line -------------------------------------
sock=$tmp/ivshmem.sock
mkfifo "$tmp/server.out"
"$server" -S "$sock" -m "$shm" -l "$shm_size" -n 2 >"$tmp/server.out" 2>&1 &
server_pid=$!
exec {server_fd}<"$tmp/server.out"
line=""
if ! read -r -t 20 -u "$server_fd" line || [[ $line != *"listening on"* ]]; then
  printf '%s\n' "$line" >"$out/server.log"
  timeout 2 cat <&"$server_fd" >>"$out/server.log" || true
  status "fatal pbx-ivshmem-server did not start: $(head -c 500 "$out/server.log")"
  die "pbx-ivshmem-server did not start within 20 s: $(cat "$out/server.log")"
fi
printf '%s\n' "$line" >"$out/server.log"
cat <&"$server_fd" >>"$out/server.log" &
drain_pid=$!
exec {server_fd}<&-

# --- the VMs ---------------------------------------------------------------------------------
nonce=$(( ((RANDOM << 16) | RANDOM) + 1 ))
# -smp 1,maxcpus=2: one vCPU, but more than one possible, so that TCG runs multi-threaded
# (MTTCG) and emits guest atomics as host atomics. With a single possible vCPU it emits plain
# loads and stores, and read-modify-writes of the two VMs on the shared memory lose updates
# (measured: 2.3 of 4 million increments survived); the ivshmem HAL's control area and the
# ivshmem test ReadModifyWriteIsAtomicAcrossTheVms depend on it.
# iomem=relaxed: lets user space map a BAR that vfio-pci claimed through sysfs resourceN_wc, so
# the drivers take their write-combining data path (Debian's kernel checks I/O memory strictly).
for vm in "${VMS[@]}"; do
  cmd=(qemu-system-x86_64 -name "pbx-hw-$vm" -nodefaults -display none -no-reboot
       -m 256M -smp 1,maxcpus=2 -accel tcg -cpu max
       -machine q35 -device intel-iommu,intremap=on
       -serial "file:$out/console-$vm.log"
       -kernel "$kernel/vmlinux" -initrd "$out/initramfs.cpio"
       -chardev "socket,path=$sock,id=ivs" -device ivshmem-doorbell,chardev=ivs,vectors=2
       -append "console=ttyS0 panic=-1 loglevel=4 intel_iommu=on iomem=relaxed pbx.vm=$vm pbx.nodes=$nvms pbx.nonce=$nonce pbx.test_timeout=$TEST_TIMEOUT pbx.peer_timeout=$PEER_TIMEOUT")
  printf '%q ' "${cmd[@]}" >"$out/qemu-$vm.cmd"
  echo >>"$out/qemu-$vm.cmd"
  timeout --kill-after=10 "$VM_TIMEOUT" "${cmd[@]}" </dev/null >"$out/qemu-$vm.log" 2>&1 &
  vm_pid[$vm]=$!
done
msg "booted VMs ${VMS[*]} (TCG; each has $VM_TIMEOUT s to run its tests and power off)"

declare -A vm_rc=()
for vm in "${VMS[@]}"; do
  rc=0
  wait "${vm_pid[$vm]}" || rc=$?
  vm_rc[$vm]=$rc
  unset "vm_pid[$vm]"
done
kill -TERM "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""
wait "$drain_pid" 2>/dev/null || true
drain_pid=""

# --- what happened -----------------------------------------------------------------------------
markers() { grep -a -o '@@PBX-HW .*' "$out/console-$1.log" 2>/dev/null | tr -d '\r' || true; }
problems=()
for vm in "${VMS[@]}"; do
  console=$out/console-$vm.log
  rc=${vm_rc[$vm]}
  fatal=$(markers "$vm" | sed -n 's/^@@PBX-HW FATAL vm=[^ ]* reason=//p' | head -n 1)
  if [ -n "$fatal" ]; then
    problems+=("VM $vm could not run its tests: $fatal")
  elif ! markers "$vm" | grep -q "^@@PBX-HW DONE vm=$vm"; then
    case $rc in
      124|137) problems+=("VM $vm did not finish within $VM_TIMEOUT s and was killed: a hung guest or test (QEMU pauses instead of exiting on some errors); raise PBX_HW_VM_TIMEOUT_S if the machine is just slow") ;;
      0) problems+=("VM $vm powered off before finishing its plan (a guest crash? see $console)") ;;
      *) problems+=("VM $vm: QEMU failed (exit status $rc): $(tail -n 3 "$out/qemu-$vm.log" | tr '\n' ' ')") ;;
    esac
  fi
done

echo "hw-emulated results (consoles in $out):"
while read -r name vm_field _; do
  case "$name" in ''|'#'*) continue ;; esac
  case "$vm_field" in x) continue ;; '*') run_by=("${VMS[@]}") ;; *) run_by=("$vm_field") ;; esac
  for vm in "${run_by[@]}"; do
    r=$(markers "$vm" | sed -n "s/^@@PBX-HW RESULT vm=$vm test=$name status=\([a-z]*\) rc=\([0-9]*\).*/\1 (exit \2)/p" | head -n 1)
    printf '  %-48s VM %s: %s\n' "$name" "$vm" "${r:-not run}"
  done
done <"$plan"

if [ ${#problems[@]} -gt 0 ]; then
  for p in "${problems[@]}"; do msg "error: $p"; done
  for vm in "${VMS[@]}"; do
    echo "--- last lines of VM $vm's console ($out/console-$vm.log):"
    tail -n 25 "$out/console-$vm.log" 2>/dev/null || echo "(no console output)"
  done
  status "fatal ${problems[*]}"
  exit 1
fi
status ok
