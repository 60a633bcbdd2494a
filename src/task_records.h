/*
 * task_records — where task records come from and go back to.
 *
 * Records are fungible: every task record has one size, and a record freed
 * on one thread may be reused by any other, also across pools. Each worker
 * keeps a private cache (cache.h); each foreign thread (one outside every
 * pool) keeps one too, freed when the thread exits (or, for the main
 * thread, at process exit). A worker whose cache is full pushes the record
 * on its pool's return stack; a thread whose cache is empty takes the
 * whole stack before it mallocs. Every cache holds at most
 * PL_TASK_CACHE_MAX records, and the stack about PL_RETURNED_MAX; the rest
 * are freed (counted for the trim, alloc.h), so that a burst leaves at
 * most those behind while the pool lives.
 *
 * The return stack (pool->returned), after the Linux kernel's llist.h:
 *   - push (returned_push) may run concurrently with any number of other
 *     pushes and one take-all;
 *   - take-all (an exchange with NULL) may run concurrently with pushes
 *     and other take-alls: each record goes to exactly one taker;
 *   - no ABA guard is needed: ABA breaks a single pop, which reads
 *     head->next and installs it by CAS, and nothing pops singly. A push
 *     links its record to the head it read and its CAS succeeds only if
 *     the head is still that record; if the record was taken and pushed
 *     back meanwhile, it is still the head, and the link is still right.
 *     Take-all reads no link at all.
 *   - drain (pool destroy) runs when no other thread touches the stack.
 *   - the length (returned_n) is counted before each push and uncounted
 *     by the taker for each record it takes; it bounds the stack up to the
 *     pushes racing one check (at most one per worker).
 */
#ifndef PLAIT_TASK_RECORDS_H
#define PLAIT_TASK_RECORDS_H

#include "core.h"
#include "worker.h"

#define PL_TASK_CACHE_MAX 4096
/* Two cache fills: a foreign producer that takes the stack and a worker
 * that refills it meanwhile both find room. */
#define PL_RETURNED_MAX (2 * PL_TASK_CACHE_MAX)

struct plait_task *pl_task_record_alloc_slow(struct plait_pool *pool);
void pl_task_record_free_slow(struct plait_task *t);

/* A record from w's cache (w: the calling thread's worker), or NULL when
 * it is empty: then pl_task_record_alloc_slow gives one for a task of
 * pool, or NULL (out of memory). A record from a cache or the return
 * stack was given back by pl_task_record_free, and holds what its last
 * owner left in it (task.c relies on that: its record invariant); one
 * from the slow path may also be fresh from malloc. Inline: the spawn
 * path. */
static inline struct plait_task *pl_task_record_cached(struct pl_worker *w)
{
    return pl_cache_get(&w->task_cache);
}

/* Gives a record back; w: the calling thread's worker (pl_tls_worker), or
 * NULL. The caches and the return stack write only its first word (their
 * link): the rest stays as the caller left it. */
static inline void pl_task_record_free(struct pl_worker *w, struct plait_task *t)
{
    if (pl_likely(w != NULL) && pl_cache_put(&w->task_cache, t, PL_TASK_CACHE_MAX))
        return;
    pl_task_record_free_slow(t);
}

/* Frees the records in pool's return stack (pool destroy). */
void pl_task_records_drain(struct plait_pool *pool);

#endif
