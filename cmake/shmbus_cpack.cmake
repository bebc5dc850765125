# Debian packages (cpack -G DEB in the build directory, or tools/package):
#   libshmbus-dev  headers, static libraries, the CMake package (component dev)
#   shmbus-tools   shmbusctl, shmbus-launch and its systemd unit (component tools)
# Both install with `apt-get install ./<file>.deb`, which fetches the Debian
# packages they depend on.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME shmbus)
set(CPACK_PACKAGE_VENDOR "shmbus")
set(CPACK_PACKAGE_CONTACT "shmbus maintainers <shmbus@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "CAF actors across the processes of one machine over shared memory")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL dev tools)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libshmbus-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# What a consumer's build needs: CAF's and Boost's headers and CAF's
# libraries (the static shmbus libraries link them), and a compiler.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libcaf-dev (>= 0.17.6), libboost-dev (>= 1.74)")
set(CPACK_DEBIAN_DEV_PACKAGE_RECOMMENDS "cmake (>= 3.18), g++")
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "shmbus development files: headers, static libraries and the CMake package\n"
    "find_package(shmbus CONFIG REQUIRED COMPONENTS bus) gives shmbus::bus;\n"
    "the components are log, process, transport, supervision, bus and actors.")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME shmbus-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION admin)
# The tools link shmbus statically; at run time they need CAF (the
# launcher), libsystemd (sd_notify) and the C++ runtime.
set(CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS
    "libcaf-core0.17 (>= 0.17.6), libcaf-io0.17 (>= 0.17.6), libsystemd0, libstdc++6, libgcc-s1, libc6")
set(CPACK_COMPONENT_TOOLS_DESCRIPTION
    "shmbus tools: shmbusctl and shmbus-launch\n"
    "shmbusctl inspects buses (show, watch, metrics, tree, errors) and cleans\n"
    "up stale ones; shmbus-launch runs a bus server under systemd and restarts it.")

include(CPack)
