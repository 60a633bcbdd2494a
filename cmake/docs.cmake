# Man pages: docs/man/*.3 and *.7 (mdoc), gzipped into ${PROJECT_BINARY_DIR}/man
# with one symlink per extra name (scripts/docs.sh man), installed in the
# Development component. The HTML reference is built from the same source by
# `bash scripts/docs.sh html` (build/docs/html).
option(PLAIT_INSTALL_MAN "Install the man pages" ON)

file(GLOB PLAIT_MAN_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/man/*.3
     ${PROJECT_SOURCE_DIR}/docs/man/*.7)
if(PLAIT_INSTALL_MAN)
    set(_plait_man_stamp ${PROJECT_BINARY_DIR}/man.stamp)
    add_custom_command(OUTPUT ${_plait_man_stamp}
        COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/docs.sh man ${PROJECT_BINARY_DIR}/man
        COMMAND ${CMAKE_COMMAND} -E touch ${_plait_man_stamp}
        DEPENDS ${PLAIT_MAN_SOURCES} ${PROJECT_SOURCE_DIR}/scripts/docs.sh
        COMMENT "Man pages into ${PROJECT_BINARY_DIR}/man"
        VERBATIM)
    add_custom_target(plait_man ALL DEPENDS ${_plait_man_stamp})
    # plait_mpi_*'s pages go with libplait_mpi (MpiDevelopment, cmake/plait_mpi.cmake).
    install(DIRECTORY ${PROJECT_BINARY_DIR}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR}
            COMPONENT Development PATTERN "plait_mpi_*" EXCLUDE)
endif()

if(PLAIT_BUILD_TESTS)
    # Fast and tool-free, so in the default suite: a function declared in
    # include/*.h without a page fails here at once.
    add_test(NAME man_pages_cover_api COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/docs.sh coverage)
    set_tests_properties(man_pages_cover_api PROPERTIES LABELS unit TIMEOUT 60)

    # The `docs` label (left out of the default suite; CI stage `docs`).
    add_test(NAME docs_man_lint COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/docs.sh lint)
    add_test(NAME docs_html
             COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/docs.sh html ${PROJECT_BINARY_DIR}/docs/html)
    add_test(NAME docs_guide_programs
             COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/check-guide.sh ${PROJECT_BINARY_DIR})
    set_tests_properties(docs_man_lint docs_html docs_guide_programs PROPERTIES LABELS docs TIMEOUT 300)
endif()
