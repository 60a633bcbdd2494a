/*
 * debug — the out-of-line half of PLAIT_ASSERT (debug.h).
 */
#include "debug.h"

#ifdef PLAIT_DEBUG_ASSERTS

#include <stdio.h>
#include <stdlib.h>

#include "util.h"

void pl_assert_failed(const char *file, int line, const char *func, const char *cond)
{
    fprintf(stderr, "plait: %s:%d: %s: assertion failed: %s\n", file, line, func, cond);
    abort();
}

static PL_TLS char thread_tag;

uintptr_t pl_debug_thread(void)
{
    return (uintptr_t)&thread_tag;
}

#else

/* ISO C wants at least one declaration in a translation unit. */
typedef int pl_debug_unused;

#endif
