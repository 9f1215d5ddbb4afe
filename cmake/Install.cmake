# Installation: libpostbox.so, its public headers, the tools, a CMake package config
# (find_package(postbox)) and a pkg-config file (pkg-config --cflags --libs postbox).
include(CMakePackageConfigHelpers)

install(TARGETS postbox EXPORT postboxTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES
  libpostbox/include/pbx/postbox.hpp
  libpostbox/include/pbx/postbox.h
  libpostbox/include/pbx/config.hpp
  libpostbox/include/pbx/api.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pbx)
install(FILES base/include/pbx/base/error.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pbx/base)

install(EXPORT postboxTargets NAMESPACE postbox:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/postbox)
configure_package_config_file(cmake/postboxConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/postboxConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/postbox)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/postboxConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/postboxConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/postboxConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/postbox)

# Relocatable: the prefix is found from where the .pc file lies.
file(RELATIVE_PATH PBX_PC_TO_PREFIX "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig" "${CMAKE_INSTALL_PREFIX}")
configure_file(cmake/postbox.pc.in ${CMAKE_CURRENT_BINARY_DIR}/postbox.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/postbox.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
