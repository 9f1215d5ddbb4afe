# Warnings for project code (third-party headers are included as SYSTEM and stay quiet).
add_library(pbx_warnings INTERFACE)
target_compile_options(pbx_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
  -Wnull-dereference -Wimplicit-fallthrough -Wformat=2 -Wcast-align -Wmissing-declarations
  # g++ 12 reports false -Wrestrict errors inside libstdc++'s std::string at -O2/-O3
  # (GCC bug 105329); the warning stays on for other compilers.
  $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-restrict>
  $<$<BOOL:${PBX_WERROR}>:-Werror>)
add_library(pbx::warnings ALIAS pbx_warnings)
