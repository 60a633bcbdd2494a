# Debian packages (CPack DEB, one per component):
#   libplait0     the shared library (Runtime), with cmake/plait.symbols as
#                 its symbols file, shlibs and the ldconfig trigger
#   libplait-dev  header, static library, .so link, pkg-config file, CMake
#                 package, man pages (Development); depends on libplait0 (= version)
# and, where libplait_mpi is built (cmake/plait_mpi.cmake, included first):
#   libplait-mpi0    libplait_mpi's shared library (MpiRuntime), with shlibs
#                    and the ldconfig trigger
#   libplait-mpi-dev plait_mpi.h, libplait_mpi.a, the .so link, plait-mpi.pc,
#                    the plaitMpiTargets CMake files, plait_mpi_*'s man pages
#                    (MpiDevelopment); depends on libplait-mpi0 and
#                    libplait-dev (= version) and an MPI's development files
# Built by scripts/package.sh (into build-pkg/, with Debian's build flags),
# checked by scripts/check-packages.sh (CTest `packages`, label packaging).

set(PLAIT_DEB_MAINTAINER "plait developers <plait@example.org>" CACHE STRING
    "Maintainer field of the Debian packages")
set(PLAIT_DEB_COPYRIGHT ${PROJECT_BINARY_DIR}/deb/copyright)
set(PLAIT_DEB_CHANGELOG ${PROJECT_BINARY_DIR}/deb/changelog.gz)
# debian/copyright format: the holder and the licence text from LICENSE.
file(READ ${PROJECT_SOURCE_DIR}/LICENSE _plait_license)
string(REGEX MATCH "Copyright \\(c\\) ([^\n]*)" _ "${_plait_license}")
set(_plait_holder "${CMAKE_MATCH_1}")
string(REGEX REPLACE "^.*Copyright \\(c\\) [^\n]*\n+" "" _plait_license "${_plait_license}")
string(STRIP "${_plait_license}" _plait_license)
string(REGEX REPLACE "\n\n" "\n.\n" _plait_license "${_plait_license}")
string(REGEX REPLACE "\n" "\n " _plait_license " ${_plait_license}")
file(WRITE ${PLAIT_DEB_COPYRIGHT}
"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: plait

Files: *
Copyright: ${_plait_holder}
License: Expat
${_plait_license}
")
# (gzip -n: the same bytes on every configure)
find_program(PLAIT_GZIP gzip)
if(PLAIT_GZIP)
    file(WRITE ${PROJECT_BINARY_DIR}/deb/changelog
"plait (${PROJECT_VERSION}) unstable; urgency=medium

  * Version ${PROJECT_VERSION}; see the project's history.

 -- ${PLAIT_DEB_MAINTAINER}  Tue, 01 Dec 2026 00:00:00 +0000
")
    execute_process(COMMAND ${PLAIT_GZIP} -9nf ${PROJECT_BINARY_DIR}/deb/changelog)
endif()
set(_plait_deb_components Runtime Development)
if(TARGET plait_mpi_shared)
    list(APPEND _plait_deb_components MpiRuntime MpiDevelopment)
endif()
foreach(_c IN LISTS _plait_deb_components)
    if(_c STREQUAL Runtime)
        set(_pkg libplait${PROJECT_VERSION_MAJOR})
    elseif(_c STREQUAL Development)
        set(_pkg libplait-dev)
    elseif(_c STREQUAL MpiRuntime)
        set(_pkg libplait-mpi${PROJECT_VERSION_MAJOR})
    else()
        set(_pkg libplait-mpi-dev)
    endif()
    install(FILES ${PLAIT_DEB_COPYRIGHT} DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${_pkg}
            COMPONENT ${_c} EXCLUDE_FROM_ALL)
    if(EXISTS ${PLAIT_DEB_CHANGELOG})
        install(FILES ${PLAIT_DEB_CHANGELOG} DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${_pkg}
                COMPONENT ${_c} EXCLUDE_FROM_ALL)
    endif()
endforeach()

# The runtime package's control files: the kept symbol list as its symbols
# file (comments dropped, the -dev package named for dpkg-shlibdeps), shlibs
# for tools that read only those, and the ldconfig trigger. The postinst and
# postrm do nothing: without them CPack writes ones that call ldconfig,
# which the trigger replaces (lintian: maintscript-calls-ldconfig).
file(STRINGS ${PROJECT_SOURCE_DIR}/cmake/plait.symbols _plait_symbols REGEX "^[^#]")
list(INSERT _plait_symbols 1 "* Build-Depends-Package: libplait-dev")
string(REPLACE ";" "\n" _plait_symbols "${_plait_symbols}")
set(_plait_deb ${PROJECT_BINARY_DIR}/deb)
file(WRITE ${_plait_deb}/symbols "${_plait_symbols}\n")
file(WRITE ${_plait_deb}/shlibs
     "libplait ${PROJECT_VERSION_MAJOR} libplait${PROJECT_VERSION_MAJOR} (>= ${PROJECT_VERSION})\n")
file(WRITE ${_plait_deb}/triggers "activate-noawait ldconfig\n")
foreach(_s postinst postrm)
    file(WRITE ${_plait_deb}/scripts/${_s} "#!/bin/sh\n# ldconfig runs from the trigger\nset -e\nexit 0\n")
    file(COPY ${_plait_deb}/scripts/${_s} DESTINATION ${_plait_deb} FILE_PERMISSIONS OWNER_READ
         OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()

# Debian strips static libraries of their debug information only, and both
# libraries of the .comment section (lintian: unstripped-static-library,
# binary-has-unneeded-section). CPack's CPACK_STRIP_FILES sets
# CMAKE_INSTALL_DO_STRIP for the install it packages.
if(CMAKE_STRIP)
    install(CODE "if(CMAKE_INSTALL_DO_STRIP)
        execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug --remove-section=.comment
            --remove-section=.note \"\$ENV{DESTDIR}${CMAKE_INSTALL_FULL_LIBDIR}/$<TARGET_FILE_NAME:plait_static>\")
    endif()" COMPONENT Development)
    install(CODE "if(CMAKE_INSTALL_DO_STRIP)
        execute_process(COMMAND \"${CMAKE_STRIP}\" --remove-section=.comment
            \"\$ENV{DESTDIR}${CMAKE_INSTALL_FULL_LIBDIR}/$<TARGET_FILE_NAME:plait_shared>\")
    endif()" COMPONENT Runtime)
    if(TARGET plait_mpi_shared)
        install(CODE "if(CMAKE_INSTALL_DO_STRIP)
            execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug --remove-section=.comment
                --remove-section=.note \"\$ENV{DESTDIR}${CMAKE_INSTALL_FULL_LIBDIR}/$<TARGET_FILE_NAME:plait_mpi_static>\")
        endif()" COMPONENT MpiDevelopment)
        install(CODE "if(CMAKE_INSTALL_DO_STRIP)
            execute_process(COMMAND \"${CMAKE_STRIP}\" --remove-section=.comment
                \"\$ENV{DESTDIR}${CMAKE_INSTALL_FULL_LIBDIR}/$<TARGET_FILE_NAME:plait_mpi_shared>\")
        endif()" COMPONENT MpiRuntime)
    endif()
endif()

set(CPACK_PACKAGE_NAME plait)
set(CPACK_PACKAGE_VENDOR "plait")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${PLAIT_DEB_MAINTAINER}")
# Each package's description starts with its own synopsis line.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL ${_plait_deb_components})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${PLAIT_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libplait${PROJECT_VERSION_MAJOR})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA ${_plait_deb}/symbols ${_plait_deb}/shlibs
    ${_plait_deb}/triggers ${_plait_deb}/postinst ${_plait_deb}/postrm)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
"work-stealing task groups for C11 (shared library)
plait runs tasks in parallel on a work-stealing thread pool, structured by
task groups in the manner of Python's asyncio.TaskGroup and Trio's
nurseries: a group's wait returns only when all its tasks are done, the
first failure cancels the siblings, and every error is gathered.

This package contains the shared library.")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME libplait-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS "libplait${PROJECT_VERSION_MAJOR} (= ${PROJECT_VERSION})")
set(CPACK_DEBIAN_DEVELOPMENT_DESCRIPTION
"work-stealing task groups for C11 (development files)
plait runs tasks in parallel on a work-stealing thread pool, structured by
task groups in the manner of Python's asyncio.TaskGroup and Trio's
nurseries: a group's wait returns only when all its tasks are done, the
first failure cancels the siblings, and every error is gathered.

This package contains the header, the static library, the pkg-config file,
the CMake package and the man pages.")
if(TARGET plait_mpi_shared)
    # libplait-mpi0: shlibs (no symbols file: no kept list for libplait_mpi),
    # the same trigger and do-nothing maintainer scripts as libplait0.
    set(_plait_deb_mpi ${_plait_deb}/mpi)
    file(WRITE ${_plait_deb_mpi}/shlibs
         "libplait_mpi ${PROJECT_VERSION_MAJOR} libplait-mpi${PROJECT_VERSION_MAJOR} (>= ${PROJECT_VERSION})\n")
    file(COPY ${_plait_deb}/triggers ${_plait_deb}/postinst ${_plait_deb}/postrm
         DESTINATION ${_plait_deb_mpi})
    set(CPACK_DEBIAN_MPIRUNTIME_PACKAGE_NAME libplait-mpi${PROJECT_VERSION_MAJOR})
    set(CPACK_DEBIAN_MPIRUNTIME_PACKAGE_SECTION libs)
    # dpkg-shlibdeps finds libplait.so.0 in the build tree (it is in no
    # installed package; --ignore-missing-info lets it go), so libplait0 is
    # named here; the MPI library's own package comes from shlibdeps.
    get_target_property(_plait_libdir plait_shared LIBRARY_OUTPUT_DIRECTORY)
    if(NOT _plait_libdir)
        set(_plait_libdir ${PROJECT_BINARY_DIR})
    endif()
    set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${_plait_libdir})
    set(CPACK_DEBIAN_MPIRUNTIME_PACKAGE_DEPENDS "libplait${PROJECT_VERSION_MAJOR} (>= ${PROJECT_VERSION})")
    set(CPACK_DEBIAN_MPIRUNTIME_PACKAGE_CONTROL_EXTRA ${_plait_deb_mpi}/shlibs
        ${_plait_deb_mpi}/triggers ${_plait_deb_mpi}/postinst ${_plait_deb_mpi}/postrm)
    set(CPACK_DEBIAN_MPIRUNTIME_PACKAGE_CONTROL_STRICT_PERMISSION ON)
    set(CPACK_DEBIAN_MPIRUNTIME_DESCRIPTION
"work-stealing task groups for C11, MPI part (shared library)
plait runs tasks in parallel on a work-stealing thread pool, structured by
task groups. Its MPI part, libplait_mpi, spreads a loop over the ranks of
an MPI communicator, each rank running its share on a plait pool.

This package contains the shared library.")
    set(CPACK_DEBIAN_MPIDEVELOPMENT_PACKAGE_NAME libplait-mpi-dev)
    set(CPACK_DEBIAN_MPIDEVELOPMENT_PACKAGE_SECTION libdevel)
    set(CPACK_DEBIAN_MPIDEVELOPMENT_PACKAGE_DEPENDS
        "libplait-mpi${PROJECT_VERSION_MAJOR} (= ${PROJECT_VERSION}), libplait-dev (= ${PROJECT_VERSION}), libopenmpi-dev | mpi-default-dev")
    set(CPACK_DEBIAN_MPIDEVELOPMENT_DESCRIPTION
"work-stealing task groups for C11, MPI part (development files)
plait runs tasks in parallel on a work-stealing thread pool, structured by
task groups. Its MPI part, libplait_mpi, spreads a loop over the ranks of
an MPI communicator, each rank running its share on a plait pool.

This package contains the header, the static library, the pkg-config file,
the CMake files and the man pages of the MPI part.")
endif()
include(CPack)

if(PLAIT_BUILD_TESTS)
    # The kept symbol list (fast: in the default suite).
    add_test(NAME abi_symbols COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/abi.sh $<TARGET_FILE:plait_shared>)
    set_tests_properties(abi_symbols PROPERTIES LABELS unit TIMEOUT 60)

    # Builds, installs (as root), uses and removes the packages; runs lintian.
    add_test(NAME packages COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/check-packages.sh)
    set_tests_properties(packages PROPERTIES LABELS packaging TIMEOUT 900 SKIP_RETURN_CODE 77)
endif()
