/*
 * alloc — every allocation plait makes goes through here, so that tests
 * can make the n-th one fail (fault injection). The hook is internal: it
 * is not exported from the shared library; tests link the static one.
 */
#ifndef PLAIT_ALLOC_H
#define PLAIT_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *pl_malloc(size_t size);
void *pl_calloc(size_t n, size_t size);
void *pl_realloc(void *p, size_t size);
void pl_free(void *p);
/* A copy of s, or NULL (out of memory); freed with pl_free. */
char *pl_strdup(const char *s);
/* aligned to PL_CACHE_LINE; freed with pl_free */
void *pl_malloc_aligned(size_t size);

/* Giving memory back after a burst. glibc keeps what is freed in its
 * arenas (a burst of small records freed in another order than they were
 * allocated is never trimmed by free alone), so plait counts the bytes it
 * frees in bulk (records past every cache, a deque's grown buffers) with
 * pl_free_counted, and a caller at a quiet point (the end of a group,
 * plait_group_destroy) calls pl_trim_if_due, which runs malloc_trim(0)
 * once PL_TRIM_BYTES were counted since the last trim. Never on a spawn
 * or run path: a trim costs about as much as freeing what it returns. */
#define PL_TRIM_BYTES ((size_t)8 << 20)
void pl_free_counted(void *p, size_t size);
/* Counts bytes a caller freed in bulk with pl_free (one RMW for a batch). */
void pl_count_freed(size_t bytes);
void pl_trim_if_due(void);

/* Fault injection, for tests. pl_fault_set(n): the n-th allocation from
 * now (1-based) fails, and every one after it succeeds again; 0 turns it
 * off. pl_fault_count(): allocations made since the last pl_fault_set while
 * armed (arm with UINT64_MAX to count a workload's allocations without
 * failing any). Unarmed, an allocation costs one relaxed load extra. */
void pl_fault_set(uint64_t n);
uint64_t pl_fault_count(void);
/* Likewise for pthread_create in plait_pool_create: the n-th thread
 * creation from now fails with EAGAIN; 0 turns it off. */
void pl_fault_thread_set(uint64_t n);
/* Returns the error to fake for this thread creation, or 0. */
int pl_fault_thread_next(void);

#endif
