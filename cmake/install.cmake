# install.cmake -- what `cmake --install` puts in place, and the Debian
# packages CPack makes of it (`make deb`).  Included by the top-level
# CMakeLists.txt when pmstore is the top-level project.
#
# Components, one per Debian package (names as Debian's: a library package
# is named after its SONAME):
#   runtime       libpmstore0      libpmstore.so.0*
#   dev           libpmstore-dev   pmstore.h, libpmstore.so, libpmstore.a,
#                                  pmstore.pc, lib/cmake/pmstore/, pmstore(3), pmstore(7),
#                                  pmstore_icount.h, libpmstore-icount.a, pmstore-icount.pc
#   tools         pmstore-tools    bin/pmstore, pmstore(1)
#   vmmalloc      libvmmalloc1     libvmmalloc.so.1*, libvmem.so.1*, libvmmalloc(7)
#   vmmalloc_dev  libvmmalloc-dev  libvmmalloc.h, libvmem.h, the .so links, libvmmalloc.pc, libvmem.pc
# (libvmmalloc's SONAME is libvmmalloc.so.1, PMDK's, so that programs and
# scripts preloading PMDK's keep working: its package is libvmmalloc1.)
#
# The pkg-config files are written at install time for the prefix actually
# installed into (`cmake --install --prefix P`, CPack's /usr), so they hold
# plain absolute paths; the CMake package is relocatable by itself.
include(CMakePackageConfigHelpers)

install(TARGETS pmstore pmstore_a EXPORT pmstoreTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(FILES ${PROJECT_SOURCE_DIR}/include/pmstore.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)

set(PMSTORE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/pmstore)
install(EXPORT pmstoreTargets NAMESPACE pmstore:: DESTINATION ${PMSTORE_CMAKE_DIR}
        COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/pmstoreConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/pmstoreConfig.cmake INSTALL_DESTINATION ${PMSTORE_CMAKE_DIR})
# 0.x: a new minor version may change the API
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/pmstoreConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/pmstoreConfig.cmake
              ${PROJECT_BINARY_DIR}/cmake/pmstoreConfigVersion.cmake
        DESTINATION ${PMSTORE_CMAKE_DIR} COMPONENT dev)

# pkg-config: configured at install time straight into the destination
# (no shared file in the build tree: two installs at once cannot mix).
function(pmstore_install_pc name component)
  install(CODE "
    set(PROJECT_VERSION \"${PROJECT_VERSION}\")
    set(PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
    set(_pm_libdir \"${CMAKE_INSTALL_LIBDIR}\")
    set(_pm_incdir \"${CMAKE_INSTALL_INCLUDEDIR}\")
    if(IS_ABSOLUTE \"\${_pm_libdir}\")
      set(PC_LIBDIR \"\${_pm_libdir}\")
      set(_pm_dest \"\$ENV{DESTDIR}\${_pm_libdir}/pkgconfig\")
    else()
      set(PC_LIBDIR \"\\\${prefix}/\${_pm_libdir}\")
      set(_pm_dest \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/\${_pm_libdir}/pkgconfig\")
    endif()
    if(IS_ABSOLUTE \"\${_pm_incdir}\")
      set(PC_INCLUDEDIR \"\${_pm_incdir}\")
    else()
      set(PC_INCLUDEDIR \"\\\${prefix}/\${_pm_incdir}\")
    endif()
    message(STATUS \"Installing: \${_pm_dest}/${name}.pc\")
    configure_file(\"${PROJECT_SOURCE_DIR}/cmake/${name}.pc.in\" \"\${_pm_dest}/${name}.pc\" @ONLY)
    list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${_pm_dest}/${name}.pc\")
  " COMPONENT ${component})
endfunction()
pmstore_install_pc(pmstore dev)
# libpmstore-icount (issue 20): the crash harness for programs' own code
if(TARGET pmstore_icount)
  install(TARGETS pmstore_icount ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
  install(FILES ${PROJECT_SOURCE_DIR}/include/pmstore_icount.h
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
  pmstore_install_pc(pmstore-icount dev)
endif()
if(TARGET vmmalloc)
  pmstore_install_pc(libvmmalloc vmmalloc_dev)
  pmstore_install_pc(libvmem vmmalloc_dev)
endif()

# ---- Debian packages ------------------------------------------------------
# The Maintainer: -DPMSTORE_DEB_MAINTAINER="Name <mail>", else Debian's
# convention, $DEBFULLNAME <$DEBEMAIL> (read at every configure), else a
# placeholder lintian rejects (bogus-mail-host).
if(NOT PMSTORE_DEB_MAINTAINER)
  if(DEFINED ENV{DEBEMAIL})
    set(PMSTORE_DEB_MAINTAINER "$ENV{DEBFULLNAME} <$ENV{DEBEMAIL}>")
  else()
    set(PMSTORE_DEB_MAINTAINER "pmstore maintainers <pmstore@localhost>")
  endif()
endif()
set(PMSTORE_DEB_RELEASE 1)
set(PMSTORE_DEB_VERSION ${PROJECT_VERSION}-${PMSTORE_DEB_RELEASE})

# /usr/share/doc/<package>/{copyright,changelog.Debian.gz}, as Debian wants
# in every package.
string(TIMESTAMP PMSTORE_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${PROJECT_SOURCE_DIR}/cmake/debian/changelog.in
               ${PROJECT_BINARY_DIR}/debian/changelog @ONLY)
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/debian/changelog.Debian.gz
  COMMAND gzip -9n -c ${PROJECT_BINARY_DIR}/debian/changelog > ${PROJECT_BINARY_DIR}/debian/changelog.Debian.gz
  DEPENDS ${PROJECT_BINARY_DIR}/debian/changelog)
add_custom_target(pmstore_deb_changelog ALL DEPENDS ${PROJECT_BINARY_DIR}/debian/changelog.Debian.gz)

set(PMSTORE_COMPONENTS runtime dev tools)
set(PMSTORE_PKG_runtime libpmstore0)
set(PMSTORE_PKG_dev libpmstore-dev)
set(PMSTORE_PKG_tools pmstore-tools)
if(TARGET vmmalloc)
  list(APPEND PMSTORE_COMPONENTS vmmalloc vmmalloc_dev)
endif()
set(PMSTORE_PKG_vmmalloc libvmmalloc1)
set(PMSTORE_PKG_vmmalloc_dev libvmmalloc-dev)
foreach(c ${PMSTORE_COMPONENTS})
  install(FILES ${PROJECT_SOURCE_DIR}/cmake/debian/copyright
                ${PROJECT_BINARY_DIR}/debian/changelog.Debian.gz
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${PMSTORE_PKG_${c}} COMPONENT ${c})
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pmstore)
set(CPACK_PACKAGE_VENDOR pmstore)
set(CPACK_PACKAGE_CONTACT "${PMSTORE_DEB_MAINTAINER}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL ${PMSTORE_COMPONENTS})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${PMSTORE_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)   # dpkg-shlibdeps: libc6, libpmem1, ...
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
set(CPACK_STRIP_FILES ON)
# shlibs for the library packages (only they hold shared objects), and the
# ldconfig trigger Debian uses now (CPack's postinst/postrm also call
# ldconfig: lintian's maintscript-calls-ldconfig warning, harmless).
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/cmake/debian/triggers)
set(CPACK_DEBIAN_VMMALLOC_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/cmake/debian/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libpmstore0)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "crash-consistent persistent-memory object store
pmstore keeps objects in a memory-mapped pool file crash-consistent, on
persistent memory (DAX) and on any ordinary file: pools, a root object,
atomic allocation, undo-logged transactions and 8-byte relative pointers.

This package contains the shared library.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libpmstore-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libpmem-dev")
set(CPACK_DEBIAN_DEV_PACKAGE_SHLIBDEPS OFF)
set(CPACK_COMPONENT_DEV_DEPENDS runtime)
set(CPACK_COMPONENT_DEV_DESCRIPTION "crash-consistent persistent-memory object store - development files
pmstore keeps objects in a memory-mapped pool file crash-consistent, on
persistent memory (DAX) and on any ordinary file.

This package contains the header, the static library, the pkg-config
file, the CMake package (find_package(pmstore CONFIG)) and the manual
pages pmstore(3) and pmstore(7).")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME pmstore-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION utils)
set(CPACK_COMPONENT_TOOLS_DESCRIPTION "crash-consistent persistent-memory object store - tools
The pmstore command creates, inspects, checks and repairs pmstore pool
files: info (including whether a pool needs recovery), check (every
problem, with its offset), repair, stats and dump, with JSON output.")

set(CPACK_DEBIAN_VMMALLOC_PACKAGE_NAME libvmmalloc1)
set(CPACK_DEBIAN_VMMALLOC_PACKAGE_SECTION libs)
set(CPACK_COMPONENT_VMMALLOC_DESCRIPTION "malloc replacement with the heap in a pool file
libvmmalloc, preloaded (LD_PRELOAD), puts a program's whole heap in a
file-backed pool, configured by PMDK's VMMALLOC_* variables; libvmem gives
explicit volatile pools (the PMDK libvmem API).  Both run on a private
copy of jemalloc linked in.")

set(CPACK_DEBIAN_VMMALLOC_DEV_PACKAGE_NAME libvmmalloc-dev)
set(CPACK_DEBIAN_VMMALLOC_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_VMMALLOC_DEV_PACKAGE_SHLIBDEPS OFF)
set(CPACK_COMPONENT_VMMALLOC_DEV_DEPENDS vmmalloc)
set(CPACK_COMPONENT_VMMALLOC_DEV_DESCRIPTION "malloc replacement with the heap in a pool file - development files
Headers libvmmalloc.h and libvmem.h, the linker names and the pkg-config
files of libvmmalloc and libvmem.")

# Everything the packages hold, for `make deb` (which builds only this).
add_custom_target(pmstore_installed)
add_dependencies(pmstore_installed pmstore pmstore_a pmstore_tool man_pages pmstore_deb_changelog)
if(TARGET vmmalloc)
  add_dependencies(pmstore_installed vmmalloc vmem)
endif()

include(CPack)
