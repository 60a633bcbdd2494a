/*
 * Allocation wrappers with fault injection. The counters are process-wide
 * atomics; with injection off the cost is one relaxed load per call.
 */
#include "alloc.h"

#include <errno.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "util.h"

static _Atomic uint64_t fault_at;   /* 0: off; else fail when count reaches it */
static _Atomic uint64_t fault_seen; /* allocations since pl_fault_set */
static _Atomic uint64_t thread_fault_at;
static _Atomic uint64_t thread_seen;

/* relaxed throughout: the hook is driven by a single test thread between
 * runs, or races benignly (which allocation fails is then not exact). */
static bool should_fail(void)
{
    uint64_t at = atomic_load_explicit(&fault_at, memory_order_relaxed);
    if (pl_likely(at == 0))
        return false;
    uint64_t n = atomic_fetch_add_explicit(&fault_seen, 1, memory_order_relaxed) + 1;
    if (n == at) {
        atomic_store_explicit(&fault_at, 0, memory_order_relaxed);
        errno = ENOMEM;
        return true;
    }
    return false;
}

void *pl_malloc(size_t size)
{
    return should_fail() ? NULL : malloc(size);
}

void *pl_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : calloc(n, size);
}

void *pl_realloc(void *p, size_t size)
{
    return should_fail() ? NULL : realloc(p, size);
}

char *pl_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = pl_malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

void *pl_malloc_aligned(size_t size)
{
    if (should_fail())
        return NULL;
    void *p = NULL;
    size = (size + PL_CACHE_LINE - 1) & ~(size_t)(PL_CACHE_LINE - 1);
    if (posix_memalign(&p, PL_CACHE_LINE, size) != 0)
        return NULL;
    return p;
}

void pl_free(void *p)
{
    free(p);
}

/* Bytes freed in bulk since the last trim (process-wide: glibc's arenas
 * are). relaxed: a threshold, not a publication; a trim that runs a little
 * early or late is harmless. */
static _Atomic size_t freed_untrimmed;

void pl_count_freed(size_t bytes)
{
    if (bytes != 0)
        atomic_fetch_add_explicit(&freed_untrimmed, bytes, memory_order_relaxed);
}

void pl_free_counted(void *p, size_t size)
{
    free(p);
    pl_count_freed(size);
}

void pl_trim_if_due(void)
{
    /* relaxed load first: the common case is one read of a line that only
     * bulk frees write. */
    size_t n = atomic_load_explicit(&freed_untrimmed, memory_order_relaxed);
    if (pl_likely(n < PL_TRIM_BYTES))
        return;
    /* The CAS elects one trimmer among concurrent callers; one that loses
     * to a concurrent free leaves the trim to the next call. */
    if (!atomic_compare_exchange_strong_explicit(&freed_untrimmed, &n, 0, memory_order_relaxed,
                                                 memory_order_relaxed))
        return;
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

void pl_fault_set(uint64_t n)
{
    atomic_store_explicit(&fault_seen, 0, memory_order_relaxed);
    atomic_store_explicit(&fault_at, n, memory_order_relaxed);
}

uint64_t pl_fault_count(void)
{
    return atomic_load_explicit(&fault_seen, memory_order_relaxed);
}

void pl_fault_thread_set(uint64_t n)
{
    atomic_store_explicit(&thread_seen, 0, memory_order_relaxed);
    atomic_store_explicit(&thread_fault_at, n, memory_order_relaxed);
}

int pl_fault_thread_next(void)
{
    uint64_t at = atomic_load_explicit(&thread_fault_at, memory_order_relaxed);
    uint64_t n = atomic_fetch_add_explicit(&thread_seen, 1, memory_order_relaxed) + 1;
    if (at != 0 && n == at) {
        atomic_store_explicit(&thread_fault_at, 0, memory_order_relaxed);
        return EAGAIN;
    }
    return 0;
}

void pl_cache_drain(struct pl_cache *c)
{
    void *p;
    while ((p = pl_cache_get(c)) != NULL)
        pl_free(p);
}
