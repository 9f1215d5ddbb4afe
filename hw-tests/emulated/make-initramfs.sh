#!/usr/bin/env bash
# make-initramfs.sh: builds the initramfs of the hw-emulated guests.
#
#   make-initramfs.sh --kernel DIR --plan FILE --out FILE
#
#   --kernel DIR   what fetch-kernel.sh made (DIR/version, DIR/lib/modules/<version>)
#   --plan FILE    the tests, one per line: NAME VM BINARY [ARGS...] (VM: a, b, c or d, * for
#                  every VM, or x for a program that tests start themselves, copied but not
#                  run; BINARY: a host path). Blank lines and lines starting with # are ignored.
#   --out FILE     the initramfs (an uncompressed newc cpio: nothing to decompress under TCG)
#
# Contents: busybox and its applets, the VFIO modules with modules.dep, every BINARY of the plan
# (debug info stripped) at /opt/pbx/bin/<name> with the shared libraries ldd lists for it, the
# plan at /etc/pbx/plan with BINARY reduced to its name, and /init (init.sh).
set -euo pipefail
PROG=make-initramfs
here=$(dirname "$(readlink -f "$0")")
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

kernel="" plan="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) kernel=${2:?}; shift ;;
    --plan) plan=${2:?}; shift ;;
    --out) out=${2:?}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
[ -n "$kernel" ] && [ -n "$plan" ] && [ -n "$out" ] || { usage >&2; exit 2; }
[ -f "$kernel/version" ] || die "$kernel has no kernel (run fetch-kernel.sh first)"
[ -f "$plan" ] || die "no plan file $plan"
need_vm_tools

stage=$(mktemp -d "${TMPDIR:-/tmp}/pbx-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,tmp,etc/pbx,opt/pbx/bin,lib/modules}

# copy_libs FILE: copies every shared library the executable FILE needs (ldd) to the same path.
copy_libs() {
  local file=$1 line lib
  # ldd of a static executable says "not a dynamic executable" and fails: nothing to copy.
  ldd "$file" >/dev/null 2>&1 || return 0
  while read -r line; do
    case "$line" in
      *"not found"*) die "$file needs ${line%% *}, which ldd cannot find" ;;
      *"=> /"*) lib=${line#*=> }; lib=${lib%% (*} ;;
      /*) lib=${line%% (*} ;;
      *) continue ;;  # linux-vdso.so.1: in the kernel
    esac
    [ -e "$stage$lib" ] && continue
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
  done < <(ldd "$file")
}

# busybox (static from busybox-static; a dynamic one comes with its libraries) and its applets.
bb=$(command -v busybox)
cp -L "$bb" "$stage/bin/busybox"
copy_libs "$bb"
for applet in $("$stage/bin/busybox" --list); do
  [ "$applet" = busybox ] || [ -e "$stage/bin/$applet" ] || ln -s busybox "$stage/bin/$applet"
done

cp -a "$kernel/lib/modules/." "$stage/lib/modules/"

# Users and groups for programs that look them up (postboxd's --group).
printf 'root:x:0:0:root:/:/bin/sh\n' >"$stage/etc/passwd"
printf 'root:x:0:\n' >"$stage/etc/group"

# The tests.
while read -r name vm bin args; do
  case "$name" in ''|'#'*) continue ;; esac
  [ -x "$bin" ] || die "plan entry $name: $bin is not an executable (was it built?)"
  base=$(basename "$bin")
  if [ ! -e "$stage/opt/pbx/bin/$base" ]; then
    if command -v strip >/dev/null 2>&1; then
      strip --strip-debug -o "$stage/opt/pbx/bin/$base" "$bin"
    else
      cp "$bin" "$stage/opt/pbx/bin/$base"
    fi
    copy_libs "$bin"
  fi
  # VM "x": a program the tests start themselves (a daemon): copied, not run.
  [ "$vm" = x ] || echo "$name $vm $base${args:+ $args}" >>"$stage/etc/pbx/plan"
done <"$plan"
[ -s "$stage/etc/pbx/plan" ] || die "the plan $plan lists no test"

install -m 755 "$here/init.sh" "$stage/init"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
msg "initramfs $out: $(du -h "$out" | cut -f1), kernel $(cat "$kernel/version"), $(wc -l <"$stage/etc/pbx/plan") plan entries"
