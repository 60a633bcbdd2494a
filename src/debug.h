/*
 * debug — preconditions that run: PLAIT_ASSERT(cond) checks an invariant
 * the code relies on ("the caller holds this lock", "owner thread only",
 * "a legal state transition") and aborts with its place when it is false.
 *
 * On when PLAIT_DEBUG_ASSERTS is defined: the build defines it for the
 * sanitizer builds and for Debug builds (CMakeLists.txt), for every target
 * alike, because it changes the layout of a few records (the owner fields
 * below). Off in Release: the condition is not evaluated at all, so it
 * may call functions that exist only in debug builds.
 *
 * pl_debug_thread() names the calling thread for owner checks: the address
 * of a thread-local, unique among live threads, and never 0.
 */
#ifndef PLAIT_DEBUG_H
#define PLAIT_DEBUG_H

#include <stdint.h>

#ifdef PLAIT_DEBUG_ASSERTS
#define PL_DEBUG 1
void pl_assert_failed(const char *file, int line, const char *func, const char *cond)
    __attribute__((noreturn, cold));
uintptr_t pl_debug_thread(void);
#define PLAIT_ASSERT(cond)                                                                         \
    ((cond) ? (void)0 : pl_assert_failed(__FILE__, __LINE__, __func__, #cond))
#else
#define PL_DEBUG 0
#define PLAIT_ASSERT(cond) ((void)0)
#endif

#endif
