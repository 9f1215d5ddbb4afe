#!/bin/sh
# /init of the hw-emulated guests (busybox sh). Prepares the machine, binds the ivshmem device
# to vfio-pci, runs this VM's entries of /etc/pbx/plan one after the other, and powers off.
#
# Kernel command line words it reads:
#   pbx.vm=a|b|c|d           which VM this is: runs the plan lines whose VM field matches (or is *)
#   pbx.nodes=N              VMs sharing the ivshmem device: exported as PBX_HW_NODES (default 2)
#   pbx.nonce=N              exported as PBX_HW_NONCE (both VMs get the same)
#   pbx.test_timeout=S       kills a test after S seconds (default 60)
#   pbx.peer_timeout=S       exported as PBX_HW_PEER_TIMEOUT_S (default 30)
#
# Console markers, each on a line of its own, read by run-vms.sh and report.sh:
#   @@PBX-HW READY vm=V device=BDF group=G
#   @@PBX-HW BEGIN vm=V test=NAME
#   @@PBX-HW RESULT vm=V test=NAME status=pass|fail|skip|timeout rc=N
#   @@PBX-HW DONE vm=V
#   @@PBX-HW FATAL vm=V reason=...        (the VM could not run its tests)
export PATH=/bin:/opt/pbx/bin

VM=unknown
NODES=2
NONCE=1
TEST_TIMEOUT=60
PEER_TIMEOUT=30

mark() { echo; echo "@@PBX-HW $*"; }
fatal() {
  mark "FATAL vm=$VM reason=$*"
  poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp

for w in $(cat /proc/cmdline); do
  case "$w" in
    pbx.vm=*) VM=${w#*=} ;;
    pbx.nodes=*) NODES=${w#*=} ;;
    pbx.nonce=*) NONCE=${w#*=} ;;
    pbx.test_timeout=*) TEST_TIMEOUT=${w#*=} ;;
    pbx.peer_timeout=*) PEER_TIMEOUT=${w#*=} ;;
  esac
done

for m in irqbypass vfio_virqfd vfio vfio_iommu_type1 vfio-pci-core vfio-pci; do
  modprobe "$m" 2>/tmp/modprobe.err || fatal "modprobe $m failed: $(cat /tmp/modprobe.err)"
done

BDF=
for d in /sys/bus/pci/devices/*; do
  [ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1af4:0x1110 ] && BDF=${d##*/}
done
[ -n "$BDF" ] || fatal "no ivshmem device (1af4:1110) in this VM"
DEV=/sys/bus/pci/devices/$BDF
echo vfio-pci >"$DEV/driver_override"
[ -e "$DEV/driver" ] && echo "$BDF" >"$DEV/driver/unbind"
echo "$BDF" >/sys/bus/pci/drivers_probe
[ "$(basename "$(readlink "$DEV/driver")")" = vfio-pci ] ||
  fatal "$BDF did not bind to vfio-pci (driver: $(readlink "$DEV/driver")); dmesg: $(dmesg | tail -n 5)"
GROUP=$(basename "$(readlink "$DEV/iommu_group")")
[ -c "/dev/vfio/$GROUP" ] || fatal "no /dev/vfio/$GROUP for $BDF (is the IOMMU on? intel_iommu=on, -device intel-iommu)"

export PBX_DEVICE=$BDF PBX_HW_NONCE=$NONCE PBX_HW_PEER_TIMEOUT_S=$PEER_TIMEOUT PBX_HW_VM=$VM PBX_HW_NODES=$NODES
mark "READY vm=$VM device=$BDF group=$GROUP"

# run_test COMMAND...: output to the console and to /tmp/out; verdict in $status and $rc.
mkfifo /tmp/out.fifo
run_test() {
  rm -f /tmp/timed-out
  tee /tmp/out </tmp/out.fifo &
  tee_pid=$!
  "$@" </dev/null >/tmp/out.fifo 2>&1 &
  pid=$!
  # Deadline for a hung test: kill it, and say so.
  (sleep "$TEST_TIMEOUT" && : >/tmp/timed-out && kill -KILL "$pid") 2>/dev/null &
  dog=$!
  wait "$pid"
  rc=$?
  kill "$dog" 2>/dev/null
  wait "$tee_pid"
  if [ -e /tmp/timed-out ]; then
    status=timeout
  elif [ "$rc" != 0 ]; then
    status=fail
  elif grep -q '^\[  SKIPPED \]' /tmp/out; then
    status=skip
  else
    status=pass
  fi
}

while read -r name vm bin args; do
  [ "$vm" = "$VM" ] || [ "$vm" = "*" ] || continue
  mark "BEGIN vm=$VM test=$name"
  run_test sh -c "cd /tmp && exec $bin $args"
  mark "RESULT vm=$VM test=$name status=$status rc=$rc"
done </etc/pbx/plan

mark "DONE vm=$VM"
poweroff -f
