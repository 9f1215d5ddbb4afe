# The Intel NTB register model (tests/support/ntb), a static library shared by the test folders
# that need it: include() this file, then link pbx_test_intel_ntb_model.
include_guard(GLOBAL)
add_library(pbx_test_intel_ntb_model STATIC ${PROJECT_SOURCE_DIR}/tests/support/ntb/intel_model.cpp)
target_include_directories(pbx_test_intel_ntb_model PUBLIC ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(pbx_test_intel_ntb_model PUBLIC pbx::ntb_intel PRIVATE pbx::warnings)

# The Switchtec switch model: link pbx_test_switchtec_model.
add_library(pbx_test_switchtec_model STATIC
  ${PROJECT_SOURCE_DIR}/tests/support/ntb/switchtec_model.cpp
  ${PROJECT_SOURCE_DIR}/tests/support/ntb/switchtec_model_paths.cpp)
target_include_directories(pbx_test_switchtec_model PUBLIC ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(pbx_test_switchtec_model PUBLIC pbx::ntb_switchtec PRIVATE pbx::warnings)

# The AMD NTB pair model: link pbx_test_amd_ntb_model.
add_library(pbx_test_amd_ntb_model STATIC ${PROJECT_SOURCE_DIR}/tests/support/ntb/amd_model.cpp)
target_include_directories(pbx_test_amd_ntb_model PUBLIC ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(pbx_test_amd_ntb_model PUBLIC pbx::ntb_amd PRIVATE pbx::warnings)

# The Switchtec model with HAL ports and routed BAR mappings: link pbx_test_switchtec_fabric.
add_library(pbx_test_switchtec_fabric STATIC ${PROJECT_SOURCE_DIR}/tests/support/ntb/switchtec_fabric.cpp)
target_include_directories(pbx_test_switchtec_fabric PUBLIC ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(pbx_test_switchtec_fabric PUBLIC pbx_test_switchtec_model pbx::hal_ntb PRIVATE pbx::warnings)
