# The optional MPI part: libplait_mpi (include/plait_mpi.h, docs/MPI.md),
# built only where find_package(MPI) finds a C MPI. The core library keeps
# no MPI dependency: this part uses plait's public API only and links
# libplait like any program.
#
#   PLAIT_MPI=auto (default): build it where an MPI is found
#   PLAIT_MPI=ON:  fail when none is found;  PLAIT_MPI=OFF: never
if(PLAIT_MPI STREQUAL "ON")
    find_package(MPI REQUIRED COMPONENTS C)
else()
    find_package(MPI QUIET COMPONENTS C)
endif()

if(NOT MPI_C_FOUND)
    message(STATUS "plait: no MPI found (scripts/deps-mpi.sh installs Open MPI); libplait_mpi not built")
    # FindMPI caches what it did not find; forget it, so that configuring
    # again after installing an MPI finds it (CI installs it between runs).
    get_cmake_property(_plait_cache CACHE_VARIABLES)
    foreach(_v IN LISTS _plait_cache)
        if(_v MATCHES "^MPI(EXEC)?_")
            unset(${_v} CACHE)
        endif()
    endforeach()
    set(PLAIT_HAVE_MPI OFF)
    return()
endif()
set(PLAIT_HAVE_MPI ON)
message(STATUS "plait: MPI ${MPI_C_VERSION} found; building libplait_mpi")

set(_plait_mpi_src ${PROJECT_SOURCE_DIR}/src/mpi/plait_mpi.c)
add_library(plait_mpi_static STATIC ${_plait_mpi_src})
add_library(plait_mpi_shared SHARED ${_plait_mpi_src})
set_target_properties(plait_mpi_shared PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
foreach(t plait_mpi_static plait_mpi_shared)
    set_target_properties(${t} PROPERTIES
        OUTPUT_NAME plait_mpi
        C_EXTENSIONS OFF
        C_VISIBILITY_PRESET hidden
        POSITION_INDEPENDENT_CODE ON)
    target_compile_options(${t} PRIVATE -Wall -Wextra -Werror)
    target_compile_definitions(${t} PRIVATE _GNU_SOURCE)
    target_include_directories(${t}
        PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
    target_link_libraries(${t} PUBLIC MPI::MPI_C PRIVATE Threads::Threads)
endforeach()
target_link_libraries(plait_mpi_static PUBLIC plait_static)
target_link_libraries(plait_mpi_shared PUBLIC plait_shared)
set_target_properties(plait_mpi_static PROPERTIES EXPORT_NAME mpi_static)
set_target_properties(plait_mpi_shared PROPERTIES EXPORT_NAME mpi)
add_library(plait::mpi ALIAS plait_mpi_shared)
add_library(plait::mpi_static ALIAS plait_mpi_static)

# plait_mpi.h compiles on its own, pedantically, in C and C++ (as plait.h
# does); in C++ without Open MPI's / MPICH's own C++ bindings, whose
# headers are not -Wextra clean.
set(_mpi_hdr_c "${PROJECT_BINARY_DIR}/header_check/plait_mpi_header_check.c")
file(WRITE "${_mpi_hdr_c}.in" "#include <plait_mpi.h>\n#include <plait_mpi.h>\nint plait_mpi_header_check_c(void);\nint plait_mpi_header_check_c(void) { plait_mpi_result r = {0}; return r.status; }\n")
configure_file("${_mpi_hdr_c}.in" "${_mpi_hdr_c}" COPYONLY)
add_library(plait_mpi_header_check_c OBJECT "${_mpi_hdr_c}")
set_target_properties(plait_mpi_header_check_c PROPERTIES C_EXTENSIONS OFF)
target_include_directories(plait_mpi_header_check_c PRIVATE ${PROJECT_SOURCE_DIR}/include)
target_link_libraries(plait_mpi_header_check_c PRIVATE MPI::MPI_C)
target_compile_options(plait_mpi_header_check_c PRIVATE -Wall -Wextra -Werror -Wpedantic)
if(CMAKE_CXX_COMPILER)
    set(_mpi_hdr_cxx "${PROJECT_BINARY_DIR}/header_check/plait_mpi_header_check.cpp")
    file(WRITE "${_mpi_hdr_cxx}.in" "#include <plait_mpi.h>\nint plait_mpi_header_check_cxx();\nint plait_mpi_header_check_cxx() { plait_mpi_result r = plait_mpi_result(); plait_mpi_options o = plait_mpi_options(); return r.status + (int)o.flags; }\n")
    configure_file("${_mpi_hdr_cxx}.in" "${_mpi_hdr_cxx}" COPYONLY)
    add_library(plait_mpi_header_check_cxx OBJECT "${_mpi_hdr_cxx}")
    set_target_properties(plait_mpi_header_check_cxx PROPERTIES CXX_STANDARD 11 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
    target_include_directories(plait_mpi_header_check_cxx PRIVATE ${PROJECT_SOURCE_DIR}/include)
    target_link_libraries(plait_mpi_header_check_cxx PRIVATE MPI::MPI_C)
    target_compile_definitions(plait_mpi_header_check_cxx PRIVATE OMPI_SKIP_MPICXX MPICH_SKIP_MPICXX)
    target_compile_options(plait_mpi_header_check_cxx PRIVATE -Wall -Wextra -Werror -Wpedantic)
endif()

if(PLAIT_BUILD_EXAMPLES)
    add_executable(mpi_batch ${PROJECT_SOURCE_DIR}/examples/mpi_batch.c)
    set_target_properties(mpi_batch PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/examples)
    target_compile_options(mpi_batch PRIVATE -Wall -Wextra -Werror)
    target_compile_definitions(mpi_batch PRIVATE _GNU_SOURCE)
    target_link_libraries(mpi_batch PRIVATE plait_mpi_static)
endif()

# Under ASan: Open MPI frees little at exit, from plugins it has already
# unloaded (frames LSan cannot name, so no suppression can match): no leak
# check for these programs; plait_mpi's own frees are checked with valgrind
# by hand (docs/MPI.md). Errors of every other kind still abort.
set(_plait_mpi_env "")
if(PLAIT_SANITIZE STREQUAL "address")
    set(_plait_mpi_env "ASAN_OPTIONS=abort_on_error=1:detect_leaks=0:strict_string_checks=1")
endif()

if(PLAIT_BUILD_TESTS)
    add_test(NAME mpi_exported_symbols
             COMMAND ${CMAKE_COMMAND} -DLIB=$<TARGET_FILE:plait_mpi_shared> -DPREFIX=plait_mpi_
                     -P ${PROJECT_SOURCE_DIR}/cmake/check-exports.cmake)
    set_tests_properties(mpi_exported_symbols PROPERTIES LABELS unit)
    add_subdirectory(${PROJECT_SOURCE_DIR}/test/mpi ${PROJECT_BINARY_DIR}/test/mpi)
    add_test(NAME mpi_install_smoke
             COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/check-install-mpi.sh ${PROJECT_BINARY_DIR} ${MPIEXEC_EXECUTABLE})
    set_tests_properties(mpi_install_smoke PROPERTIES LABELS "mpi;install" TIMEOUT 300 RUN_SERIAL ON)
    if(_plait_mpi_env)
        set_tests_properties(mpi_install_smoke PROPERTIES ENVIRONMENT "${_plait_mpi_env}")
    endif()
endif()

# Install: its own export set (plaitConfig.cmake loads it as the `mpi`
# component) and its own pkg-config file.
# Components (Debian packages, cmake/packaging.cmake): MpiRuntime
# (libplait-mpi0) and MpiDevelopment (libplait-mpi-dev).
install(FILES ${PROJECT_SOURCE_DIR}/include/plait_mpi.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT MpiDevelopment)
install(TARGETS plait_mpi_static plait_mpi_shared
        EXPORT plaitMpiTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT MpiDevelopment
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT MpiRuntime NAMELINK_COMPONENT MpiDevelopment
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT MpiRuntime
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT plaitMpiTargets NAMESPACE plait:: FILE plaitMpiTargets.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/plait COMPONENT MpiDevelopment)
if(PLAIT_INSTALL_MAN)
    # (section 3 only: no empty man7 directory)
    install(DIRECTORY ${PROJECT_BINARY_DIR}/man/man3 DESTINATION ${CMAKE_INSTALL_MANDIR}
            COMPONENT MpiDevelopment FILES_MATCHING PATTERN "plait_mpi_*")
endif()

# pkg-config: plait-mpi (the prefix variables come from the main file's
# plait.pc section, which runs first).
set(_plait_mpi_cflags "")
foreach(_d IN LISTS MPI_C_INCLUDE_DIRS)
    string(APPEND _plait_mpi_cflags " -I${_d}")
endforeach()
set(_plait_mpi_libs "")
foreach(_l IN LISTS MPI_C_LIBRARIES)
    string(APPEND _plait_mpi_libs " ${_l}")
endforeach()
set(PLAIT_MPI_PC_CFLAGS "${_plait_mpi_cflags}")
set(PLAIT_MPI_PC_LIBS "${_plait_mpi_libs}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/plait-mpi.pc.in ${PROJECT_BINARY_DIR}/plait-mpi.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/plait-mpi.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
        COMPONENT MpiDevelopment)
