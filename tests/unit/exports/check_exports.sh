#!/usr/bin/env bash
# Checks that libpostbox.so exports only its API: no symbol of the HAL, the drivers or the
# library's internals (pbx::hal, pbx::vfio, pbx::ntb, pbx::ivshmem, pbx::postboxd,
# pbx::detail other than impl_of), also not inside template instances (tl::expected<pbx::hal::X>).
# Members of the public classes are the API even where their signatures name an internal type
# (Endpoint::create takes a hal::Device; Endpoint's private constructor an EndpointImpl).
# usage: check_exports.sh path/to/libpostbox.so
set -euo pipefail
lib=$1
syms=$(nm -D --defined-only -C "$lib" | cut -d' ' -f3-)
[[ -n $syms ]] || { echo "check_exports: $lib exports nothing (nm failed?)" >&2; exit 1; }
grep -q '^pbx::Endpoint::from_env' <<<"$syms" || { echo "check_exports: pbx::Endpoint::from_env is not exported" >&2; exit 1; }
grep -q '^pbx_endpoint_from_env$' <<<"$syms" || { echo "check_exports: pbx_endpoint_from_env is not exported" >&2; exit 1; }
leaks=$(grep -E 'pbx::(hal|vfio|ntb|ivshmem|postboxd|detail)::' <<<"$syms" \
          | grep -Ev '^pbx::(Endpoint|MessageView)::|^pbx::detail::impl_of\(' || true)
if [[ -n $leaks ]]; then
  echo "check_exports: $lib exports $(wc -l <<<"$leaks") internal symbols (add their static library to" \
       "--exclude-libs in libpostbox/CMakeLists.txt, or hide them); the first ones:" >&2
  head -20 <<<"$leaks" >&2
  exit 1
fi
echo "check_exports: $(wc -l <<<"$syms") symbols exported, none internal"
