# How the libraries are built and installed: one static library per layer,
# one CMake export set per layer, and a package `shmbus` whose components are
# the layers (find_package(shmbus CONFIG REQUIRED COMPONENTS bus)).
include(CMakePackageConfigHelpers)

set(SHMBUS_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/shmbus)

# shmbus_library(<component> SOURCES ... [PUBLIC ...] [PRIVATE ...]
#                [FIND <package spec>...])
# Creates the static library shmbus_<component> (alias and exported name
# shmbus::<component>) from the sources of the calling folder, whose public
# headers are in include/. FIND lists what a consumer must find for it
# ("Threads", "Boost 1.74", "CAF"); the shmbus:: targets it links are the
# components it needs (static libraries: private ones too).
function(shmbus_library component)
  cmake_parse_arguments(arg "" "" "SOURCES;PUBLIC;PRIVATE;FIND" ${ARGN})
  set(target shmbus_${component})
  add_library(${target} STATIC ${arg_SOURCES})
  add_library(shmbus::${component} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${component})
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${target}
    PUBLIC ${arg_PUBLIC}
    PRIVATE ${arg_PRIVATE} $<BUILD_INTERFACE:shmbus_options>)
  install(TARGETS ${target} EXPORT shmbus-${component}-targets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
  install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
  install(EXPORT shmbus-${component}-targets NAMESPACE shmbus::
          DESTINATION ${SHMBUS_CMAKE_DIR} COMPONENT dev)
  set(requires "")
  foreach(dep IN LISTS arg_PUBLIC arg_PRIVATE)
    if(dep MATCHES "^shmbus::(.+)$")
      list(APPEND requires ${CMAKE_MATCH_1})
    endif()
  endforeach()
  set_property(GLOBAL APPEND PROPERTY SHMBUS_COMPONENTS ${component})
  set_property(GLOBAL PROPERTY SHMBUS_REQUIRES_${component} "${requires}")
  set_property(GLOBAL PROPERTY SHMBUS_FINDS_${component} "${arg_FIND}")
endfunction()

# Writes and installs shmbus-config.cmake (the component table of every
# shmbus_library), its version file and the FindCAF module it uses.
function(shmbus_install_package)
  get_property(components GLOBAL PROPERTY SHMBUS_COMPONENTS)
  set(SHMBUS_COMPONENT_TABLE "set(_shmbus_all_components ${components})\n")
  foreach(c IN LISTS components)
    get_property(requires GLOBAL PROPERTY SHMBUS_REQUIRES_${c})
    get_property(finds GLOBAL PROPERTY SHMBUS_FINDS_${c})
    string(APPEND SHMBUS_COMPONENT_TABLE "set(_shmbus_requires_${c} \"${requires}\")\n")
    string(APPEND SHMBUS_COMPONENT_TABLE "set(_shmbus_finds_${c} \"${finds}\")\n")
  endforeach()
  configure_package_config_file(
    ${PROJECT_SOURCE_DIR}/cmake/shmbus-config.cmake.in
    ${PROJECT_BINARY_DIR}/shmbus-config.cmake
    INSTALL_DESTINATION ${SHMBUS_CMAKE_DIR})
  # 0.x: a new minor version may change the API and the segment layout.
  write_basic_package_version_file(
    ${PROJECT_BINARY_DIR}/shmbus-config-version.cmake
    COMPATIBILITY SameMinorVersion)
  install(FILES
    ${PROJECT_BINARY_DIR}/shmbus-config.cmake
    ${PROJECT_BINARY_DIR}/shmbus-config-version.cmake
    ${PROJECT_SOURCE_DIR}/cmake/FindCAF.cmake
    DESTINATION ${SHMBUS_CMAKE_DIR} COMPONENT dev)
endfunction()
