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
 * runs, or races benignly (which allocation fails is then not exact). The
 * counters publish nothing: an allocation that fails hands out no memory,
 * and the test thread reads the count after the join that ends the run. */
static bool should_fail(void)
{
    /* relaxed: the armed value is set by the test thread before the run
     * it starts (its spawn's release reaches the workers); a stale 0 only
     * lets one more allocation succeed. */
    uint64_t at = atomic_load_explicit(&fault_at, memory_order_relaxed);
    if (pl_likely(at == 0))
        return false;
    /* relaxed: the RMW alone makes each count go to one allocation, so
     * exactly one caller sees n == at; nothing is published with it. */
    uint64_t n = atomic_fetch_add_explicit(&fault_seen, 1, memory_order_relaxed) + 1;
    if (n == at) {
        /* relaxed: disarms; a caller that still reads the old at draws a
         * count past it and succeeds, as it should. */
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
        /* relaxed: as freed_untrimmed says. */
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
     * to a concurrent free leaves the trim to the next call. relaxed both
     * ways: the count guards no data (malloc_trim takes glibc's own
     * locks), so the winner needs nothing from the frees it counted. */
    if (!atomic_compare_exchange_strong_explicit(&freed_untrimmed, &n, 0, memory_order_relaxed,
                                                 memory_order_relaxed))
        return;
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

void pl_fault_set(uint64_t n)
{
    /* relaxed both: the test thread sets them between runs; the run's own
     * synchronisation (pool create, the spawn's release) carries them to
     * the threads that allocate. An allocation racing the set may see
     * either store first: benign (file comment). */
    atomic_store_explicit(&fault_seen, 0, memory_order_relaxed);
    atomic_store_explicit(&fault_at, n, memory_order_relaxed);
}

uint64_t pl_fault_count(void)
{
    /* relaxed: a count, read by the test thread after the wait or join
     * that ends the run it counts. */
    return atomic_load_explicit(&fault_seen, memory_order_relaxed);
}

void pl_fault_thread_set(uint64_t n)
{
    /* relaxed: as in pl_fault_set; plait_pool_create, which reads them,
     * runs on the same thread or after the test's own handshake. */
    atomic_store_explicit(&thread_seen, 0, memory_order_relaxed);
    atomic_store_explicit(&thread_fault_at, n, memory_order_relaxed);
}

int pl_fault_thread_next(void)
{
    /* relaxed, the load, the count and the disarm: as in should_fail. */
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
