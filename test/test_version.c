/*
 * test_version — plait_version() is the library's version in the number
 * the header's PLAIT_VERSION uses, and the two agree for a library built
 * from this tree. (That the CMake project version and the macros agree, and
 * that the exported symbols match cmake/plait.symbols, is scripts/abi.sh's
 * check: the test abi_symbols.)
 */
#include "testlib.h"

Test(version, runtime_matches_header)
{
    cr_assert_eq(plait_version(), (unsigned)PLAIT_VERSION, "plait_version() %u, PLAIT_VERSION %d",
                 plait_version(), PLAIT_VERSION);
}

Test(version, number_is_major_minor_patch)
{
    unsigned v = plait_version();
    cr_assert_eq(v / 10000, (unsigned)PLAIT_VERSION_MAJOR, "");
    cr_assert_eq(v / 100 % 100, (unsigned)PLAIT_VERSION_MINOR, "");
    cr_assert_eq(v % 100, (unsigned)PLAIT_VERSION_PATCH, "");
    cr_assert(PLAIT_VERSION_MINOR < 100 && PLAIT_VERSION_PATCH < 100, "");
}
