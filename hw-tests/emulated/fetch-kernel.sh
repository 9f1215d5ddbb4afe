#!/usr/bin/env bash
# fetch-kernel.sh: fetches Debian 12's own kernel for the hw-emulated guests, without installing it.
#
#   fetch-kernel.sh --cache DIR
#
# Finds the kernel package that linux-image-amd64 depends on (apt-cache depends), downloads it
# with apt-get download (only Debian's mirror is needed), and keeps in DIR/<package>/:
#   vmlinux                      the uncompressed kernel, cut out of the bzImage: an ELF with the
#                                PVH entry note, which QEMU boots directly (no decompression)
#   lib/modules/<version>/...    the VFIO modules (irqbypass, vfio_virqfd, vfio, vfio_iommu_type1,
#                                vfio-pci-core, vfio-pci) and the modules.dep depmod made for them
#   version                      the kernel version (uname -r in the guest)
# and points DIR/current at it. A complete cache is reused (nothing is downloaded). To use another
# package: PBX_HW_KERNEL_PKG=linux-image-6.1.0-NN-amd64.
#
# Exit status: 0 ready, 1 failure (the message says what to do), 77 skipped (no apt, no qemu).
set -euo pipefail
PROG=fetch-kernel
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

cache=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cache) cache=${2:?--cache needs a folder}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
[ -n "$cache" ] || { usage >&2; exit 2; }

need_vm_tools
need_cmd apt-get apt
need_cmd dpkg-deb dpkg
need_cmd xz xz-utils
need_cmd depmod kmod

# --- which package -------------------------------------------------------------------------
kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
pkg=${PBX_HW_KERNEL_PKG:-}
if [ -z "$pkg" ]; then
  pkg=$(kernel_package || true)
  if [ -z "$pkg" ]; then
    [ "$(id -u)" = 0 ] || die "apt-cache does not know linux-image-amd64: run 'apt-get update' as root, then again"
    msg "apt-cache does not know linux-image-amd64 yet: running apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed: is the Debian mirror in /etc/apt/sources.list* reachable?"
    pkg=$(kernel_package || true)
    [ -n "$pkg" ] || die "linux-image-amd64 has no linux-image-<version> dependency (apt-cache depends linux-image-amd64); set PBX_HW_KERNEL_PKG"
  fi
fi

dest=$cache/$pkg
if [ -f "$dest/complete" ]; then
  ln -sfn "$pkg" "$cache/current"
  msg "cached: $dest (kernel $(cat "$dest/version"))"
  exit 0
fi

# --- download ------------------------------------------------------------------------------
mkdir -p "$cache"
work=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
msg "downloading $pkg with apt-get download"
apt_opts=()
# As root, apt drops to the _apt user, who cannot write into a private folder: keep it root.
[ "$(id -u)" = 0 ] && apt_opts=(-o APT::Sandbox::User=root)
if ! (cd "$work" && apt-get download -q "${apt_opts[@]}" "$pkg" >&2); then
  die "apt-get download $pkg failed: is Debian's mirror reachable (see apt's message above)? Retry, or set PBX_HW_KERNEL_PKG to a package apt can fetch"
fi
deb=$(ls "$work"/*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || die "apt-get download $pkg left no .deb in $work"

# --- extract: the bzImage and the VFIO modules only ----------------------------------------
root=$work/root
mkdir -p "$root"
dpkg-deb --fsys-tarfile "$deb" |
  tar -x -C "$root" --wildcards --no-wildcards-match-slash \
    './boot/vmlinuz-*' './lib/modules/*/modules.order' './lib/modules/*/modules.builtin' \
    './lib/modules/*/modules.builtin.modinfo' \
    './lib/modules/*/kernel/virt/lib/irqbypass.ko*' './lib/modules/*/kernel/drivers/vfio/*.ko*' \
    './lib/modules/*/kernel/drivers/vfio/pci/*.ko*' ||
  die "could not unpack $deb (disk full? a damaged download? delete $cache and retry)"
version=$(basename "$(ls -d "$root"/lib/modules/*/ | head -n 1)")
[ -n "$version" ] || die "$pkg holds no /lib/modules/<version>"
mods=$root/lib/modules/$version
for m in "${VFIO_MODULES[@]}"; do
  find "$mods/kernel" -name "$m.ko*" | grep -q . || die "$pkg has no module $m: this kernel cannot run the VFIO tests"
done

# --- vmlinux out of the bzImage ------------------------------------------------------------
# The setup header says where the compressed payload is (x86 boot protocol): it starts
# payload_offset (0x248) bytes into the protected-mode part, which follows (setup_sects (0x1f1,
# 0 meaning 4) + 1) sectors of 512 bytes; it is payload_length (0x24c) bytes long, and its last
# 4 bytes are the uncompressed size.
bz=$root/boot/vmlinuz-$version
bytes() { dd if="$1" iflag=skip_bytes,count_bytes skip="$(($2))" count="$(($3))" bs=1M status=none; }
hex() { bytes "$@" | od -An -tx1 | tr -d ' \n'; }
u32() { bytes "$1" "$2" 4 | od -An -tu4 | tr -d ' '; }
[ "$(hex "$bz" 0x202 4)" = 48647253 ] || die "$bz is not a bzImage (no HdrS header)"
sects=$((0x$(hex "$bz" 0x1f1 1))); [ "$sects" = 0 ] && sects=4
start=$(( (sects + 1) * 512 + $(u32 "$bz" 0x248) ))
len=$(u32 "$bz" 0x24c)
want=$(u32 "$bz" $((start + len - 4)))
[ "$(hex "$bz" "$start" 6)" = fd377a585a00 ] ||
  die "the kernel payload of $bz is not xz-compressed: this script knows only xz (Debian's choice)"
bytes "$bz" "$start" $((len - 4)) | xz -dc >"$work/vmlinux" ||
  die "xz could not decompress the kernel payload of $bz"
[ "$(stat -c %s "$work/vmlinux")" = "$want" ] || die "vmlinux from $bz has $(stat -c %s "$work/vmlinux") bytes, the header says $want"
[ "$(head -c 4 "$work/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || die "vmlinux from $bz is not an ELF file"
if command -v readelf >/dev/null 2>&1 && ! readelf -n "$work/vmlinux" | grep -q 'note type: (0x00000012)'; then
  die "vmlinux of $version has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): QEMU cannot boot it directly"
fi

depmod -b "$root" "$version" || die "depmod -b $root $version failed"

rm -rf "$dest"
mkdir -p "$dest/lib"
mv "$work/vmlinux" "$dest/vmlinux"
mv "$root/lib/modules" "$dest/lib/modules"
echo "$version" >"$dest/version"
touch "$dest/complete"
ln -sfn "$pkg" "$cache/current"
# An older kernel (Debian moved on) is not needed any more.
find "$cache" -mindepth 1 -maxdepth 1 -name 'linux-image-*' ! -name "$pkg" -exec rm -rf {} +
msg "ready: $dest (kernel $version)"
