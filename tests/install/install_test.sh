#!/usr/bin/env bash
# Installs postbox into a scratch prefix and builds a project outside the tree against it, with
# find_package(postbox) and with pkg-config; then runs pbxrun and an installed example.
set -euo pipefail
build_dir=$1
src_dir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
for f in pbx/postbox.hpp pbx/postbox.h pbx/config.hpp pbx/base/error.h cmake/postbox/postboxConfig.cmake \
         pkgconfig/postbox.pc bin/pbxrun bin/pbx-perf libpostbox.so; do
  find "$work/prefix" -path "*$f" | grep -q . || { echo "install_test: $f was not installed" >&2; exit 1; }
done
cmake -S "$src_dir/consumer" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
libdir=$(dirname "$(find "$work/prefix" -name 'libpostbox.so' | head -1)")
LD_LIBRARY_PATH=$libdir "$work/consumer/consumer_cpp"
LD_LIBRARY_PATH=$libdir "$work/consumer/consumer_c"
pc_dir=$(dirname "$(find "$work/prefix" -name postbox.pc | head -1)")
flags=$(PKG_CONFIG_PATH=$pc_dir pkg-config --cflags --libs postbox)
c++ -std=c++20 "$src_dir/consumer/consumer.cpp" -o "$work/consumer_pc" $flags
LD_LIBRARY_PATH=$libdir "$work/consumer_pc"
# (Output captured first: grep -q would close the pipe early and a rank would die of SIGPIPE.)
out=$(LD_LIBRARY_PATH=$libdir "$work/prefix/bin/pbxrun" -N 2 -n 1 -- "$work/prefix/bin/pbx-example-ring")
grep -q "token after 3 laps: 6 (expected 6)" <<<"$out" || { echo "install_test: the installed example failed: $out" >&2; exit 1; }
echo "install_test: installed library, headers, CMake config, pkg-config file and tools work"
