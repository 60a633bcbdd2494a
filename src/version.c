/*
 * version — the version of the library that is running, as opposed to the
 * PLAIT_VERSION_* macros, which give the version of the header a program
 * was compiled against. A program linked to libplait.so.0 may run on a
 * newer 0.x library than the one it was built with.
 */
#include "plait.h"

unsigned plait_version(void)
{
    return PLAIT_VERSION_MAJOR * 10000u + PLAIT_VERSION_MINOR * 100u + PLAIT_VERSION_PATCH;
}
