#!/usr/bin/env bash
# build-fabtests.sh: builds libfabric's test suite, fabtests 1.17.0 (matching Debian 12's
# libfabric), out of tree against libfabric-dev, once; later runs reuse the build.
#
#   build-fabtests.sh BUILD_DIR        # installs into BUILD_DIR/install (bin/fi_*, bin/runfabtests.sh)
#
# The sources are read from $PBX_FABTESTS_SRC, by default ../shared/third-party/fabtests-1.17.0
# next to the repository (they are not part of it; that folder is read-only: it is copied).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
build=${1:?usage: build-fabtests.sh BUILD_DIR}
src=${PBX_FABTESTS_SRC:-$repo/../shared/third-party/fabtests-1.17.0}
if [ ! -f "$src/configure.ac" ] || [ ! -f "$src/scripts/runfabtests.sh" ]; then
  echo "build-fabtests: fabtests 1.17.0 sources not found at $src: put them there (libfabric's v1.17.0 tag," \
       "folder fabtests/) or point PBX_FABTESTS_SRC at them" >&2
  exit 1
fi
for tool in autoreconf libtoolize make cc; do
  command -v "$tool" >/dev/null || { echo "build-fabtests: $tool is missing: run scripts/setup-deps.sh test" >&2; exit 1; }
done
[ -f /usr/include/rdma/fabric.h ] || { echo "build-fabtests: libfabric-dev is missing: run scripts/setup-deps.sh test" >&2; exit 1; }

stamp=$build/install/.built-from
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$src" ] && [ -x "$build/install/bin/fi_rdm_tagged_pingpong" ]; then
  exit 0
fi
rm -rf "$build/src" "$build/install"
mkdir -p "$build"
cp -r "$src" "$build/src"
chmod -R u+w "$build/src"
cd "$build/src"
echo "build-fabtests: autogen, configure, make in $build/src" >&2
./autogen.sh >"$build/autogen.log" 2>&1 || { tail -20 "$build/autogen.log" >&2; exit 1; }
./configure --prefix="$build/install" >"$build/configure.log" 2>&1 || { tail -20 "$build/configure.log" >&2; exit 1; }
make -j"$(nproc)" >"$build/make.log" 2>&1 || { tail -30 "$build/make.log" >&2; exit 1; }
make install >"$build/install.log" 2>&1 || { tail -20 "$build/install.log" >&2; exit 1; }
echo "$src" >"$stamp"
