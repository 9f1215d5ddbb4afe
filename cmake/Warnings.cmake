# Warnings for project code (third-party headers are included as SYSTEM and stay quiet).
add_library(pbx_warnings INTERFACE)
target_compile_options(pbx_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
  -Wnull-dereference -Wimplicit-fallthrough -Wformat=2 -Wcast-align -Wmissing-declarations
  $<$<BOOL:${PBX_WERROR}>:-Werror>)
add_library(pbx::warnings ALIAS pbx_warnings)
