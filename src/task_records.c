/*
 * task_records — the caches and the return stack (task_records.h).
 *
 * Why a return stack: records flow from producers to the workers that
 * finish them. A foreign producer would otherwise malloc every record that
 * a worker then frees, and glibc serialises such cross-thread frees on the
 * arena lock (seen as futex traffic in the profile). A worker whose cache
 * is empty takes the stack too, before it mallocs: otherwise a worker that
 * only spawns and one that only runs would pile records up there.
 */
#include "task_records.h"

#include <pthread.h>

#include "alloc.h"
#include "worker.h"

static PL_TLS struct pl_cache foreign_cache;
static pthread_key_t foreign_cache_key;
static pthread_once_t foreign_cache_once = PTHREAD_ONCE_INIT;

static void foreign_cache_free(void *unused)
{
    (void)unused;
    pl_cache_drain(&foreign_cache);
}

/* The main thread usually leaves by exit(), which runs no thread-specific
 * destructors: free its cache then, so that nothing is left for valgrind
 * to report as still reachable. */
__attribute__((destructor)) static void foreign_cache_free_at_exit(void)
{
    pl_cache_drain(&foreign_cache);
}

static void foreign_cache_key_init(void)
{
    pthread_key_create(&foreign_cache_key, foreign_cache_free);
}

/* A foreign thread's cache is freed when the thread exits: register it
 * before its first record goes in. */
static PL_TLS bool foreign_cache_registered;

static struct pl_cache *foreign_cache_get(void)
{
    if (pl_unlikely(!foreign_cache_registered)) {
        pthread_once(&foreign_cache_once, foreign_cache_key_init);
        pthread_setspecific(foreign_cache_key, &foreign_cache);
        foreign_cache_registered = true;
    }
    return &foreign_cache;
}

static void returned_push(struct plait_pool *pool, struct plait_task *t)
{
    /* relaxed: a bound, checked and counted apart (task_records.h). The
     * count goes before the push (program order, then the push's release
     * CAS): a taker that takes the record has acquired the count too, so
     * its uncount never comes first and the count never wraps below 0. */
    if (atomic_load_explicit(&pool->returned_n, memory_order_relaxed) >= PL_RETURNED_MAX) {
        pl_free_counted(t, sizeof *t);
        return;
    }
    /* relaxed: as above; the release CAS below carries it to the taker. */
    atomic_fetch_add_explicit(&pool->returned_n, 1, memory_order_relaxed);
    /* relaxed: a starting guess for the CAS. */
    void *head = atomic_load_explicit(&pool->returned, memory_order_relaxed);
    do
        *(void **)t = head;
    /* release: the link (and the record's last writes) are seen by the
     * thread that takes the stack (acquire). */
    while (!atomic_compare_exchange_weak_explicit(&pool->returned, &head, t, memory_order_release,
                                                  memory_order_relaxed));
}

/* Frees a list taken from the return stack, past what cache c keeps (c
 * NULL: all of it); counts the bytes once. Returns the list's length. */
static size_t free_taken(void *list, struct pl_cache *c)
{
    size_t taken = 0, freed = 0;
    while (list != NULL) {
        void *next = *(void **)list;
        if (c == NULL || !pl_cache_put(c, list, PL_TASK_CACHE_MAX)) {
            pl_free(list);
            freed++;
        }
        list = next;
        taken++;
    }
    pl_count_freed(freed * sizeof(struct plait_task));
    return taken;
}

void pl_task_records_drain(struct plait_pool *pool)
{
    /* acquire: pairs with the pushes' release. */
    free_taken(atomic_exchange_explicit(&pool->returned, NULL, memory_order_acquire), NULL);
    /* relaxed: destroy's, when no other thread touches the stack. */
    atomic_store_explicit(&pool->returned_n, 0, memory_order_relaxed);
}

/* Moves the pool's returned records into c (up to the cap), or frees them. */
static void take_returned(struct plait_pool *pool, struct pl_cache *c)
{
    /* relaxed load first: skip the exchange when there is nothing. */
    if (atomic_load_explicit(&pool->returned, memory_order_relaxed) == NULL)
        return;
    /* acquire: pairs with the pushes' release. */
    size_t taken =
        free_taken(atomic_exchange_explicit(&pool->returned, NULL, memory_order_acquire), c);
    /* relaxed: task_records.h (the counts of what we took came first). */
    atomic_fetch_sub_explicit(&pool->returned_n, taken, memory_order_relaxed);
}

struct plait_task *pl_task_record_alloc_slow(struct plait_pool *pool)
{
    /* A worker's cache is empty (its caller looked: pl_task_record_cached). */
    struct pl_worker *w = pl_tls_worker;
    struct pl_cache *c = w != NULL ? &w->task_cache : foreign_cache_get();
    struct plait_task *t = pl_cache_get(c);
    if (t != NULL)
        return t;
    take_returned(pool, c);
    if ((t = pl_cache_get(c)) != NULL)
        return t;
    return pl_malloc_aligned(sizeof(struct plait_task));
}

void pl_task_record_free_slow(struct plait_task *t)
{
    /* A worker's cache is full (pl_task_record_free tried it). */
    struct pl_worker *w = pl_tls_worker;
    if (w != NULL)
        returned_push(w->pool, t);
    else if (!pl_cache_put(foreign_cache_get(), t, PL_TASK_CACHE_MAX))
        pl_free_counted(t, sizeof *t);
}
