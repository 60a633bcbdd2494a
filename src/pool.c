/*
 * pool — creating and destroying pools, the way work enters a pool, and
 * the pool's counters (pool.h).
 *
 * Destroy: it first sets shutting_down, so that foreign threads can no
 * longer add work; a foreign submitter announces itself in foreign_active
 * (seq_cst) before reading shutting_down (seq_cst), and destroy sets
 * shutting_down (seq_cst) before reading foreign_active (seq_cst), so
 * either the submitter sees the flag and backs off, or destroy sees the
 * submitter and waits for it to finish its push. Then destroy waits for
 * quiescence: every worker asleep in its scheduler loop with every queue
 * empty. Nothing can add work then (only a running task could), so it is
 * final. Then it stops and joins the workers.
 *
 * What outlives destroy (pool.h): the pool's record, while groups refer to
 * it. Threads may be inside plait calls that touch it while destroy runs
 * and after: a foreign waiter on a group whose last task destroy ran
 * (it reads the group, then the pool's timer to remove the deadline), a
 * spawner refused with ESHUTDOWN (it reads shutting_down and undoes its
 * bracket). The first two hold a group, hence a reference; a refused
 * bracket on the pool handle itself (plait_submit) is waited for by
 * destroy before it drops the handle's reference. Workers and the timer
 * thread are joined before anything is freed.
 *
 * The references: taking one is relaxed, because the taker already holds
 * something that keeps the record alive (the handle, or a running task of
 * the pool, which destroy outwaits before it drops the handle's
 * reference), as with any shared pointer; dropping one is acq_rel, so
 * that every holder's last accesses to the record (release) happen before
 * the free by the last one (acquire, through the release sequence of the
 * RMWs on refs).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "pool.h"

#include "alloc.h"
#include "cancel.h"
#include "debug.h"
#include "futex.h"
#include "observe.h"
#include "task_records.h"
#include "timer.h"
#include "worker.h"

#define PL_MAX_THREADS 4096u
#define PL_DEQUE_CAPACITY 256
#define PL_INJECT_CAPACITY 65536u

int pl_foreign_begin(struct plait_pool *pool)
{
    /* seq_cst, the RMW and the load: the submitter's side of the
     * store-buffering pair with destroy's exchange of shutting_down and
     * its load of foreign_active (file comment). */
    atomic_fetch_add_explicit(&pool->foreign_active, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&pool->shutting_down, memory_order_seq_cst)) {
        /* release: our last access to the pool; destroy's final acquire
         * of foreign_active outwaits it before the handle's unref. */
        atomic_fetch_sub_explicit(&pool->foreign_active, 1, memory_order_release);
        return ESHUTDOWN;
    }
    return 0;
}

void pl_foreign_end(struct plait_pool *pool)
{
    /* release: destroy, acquiring 0, sees our push complete. */
    atomic_fetch_sub_explicit(&pool->foreign_active, 1, memory_order_release);
}

void pl_pool_push_task_slow(struct plait_pool *pool, struct plait_task *t, struct pl_worker *local)
{
    if (local != NULL && pl_deque_push(&local->deque, &t->job) == 0) {
        /* Our own deque, grown: as pl_pool_push_task. */
        pl_lot_notify_local(&pool->lot);
        return;
    }
    /* From outside (or our deque could not grow): the injection queue,
     * which never fails, and the full handshake, as nobody else would
     * notice the work. */
    t->flags |= PL_TASK_INJECTED;
    if (local == NULL)
        /* relaxed: a statistics counter (plait_stats.injected). */
        atomic_fetch_add_explicit(&pool->n_injected, 1, memory_order_relaxed);
    pl_pool_inject_task(pool, t);
}

void pl_pool_inject_task(struct plait_pool *pool, struct plait_task *t)
{
    PLAIT_ASSERT(t->flags & PL_TASK_INJECTED);
    /* relaxed: a once-per-group hint; two racing first feeds both store
     * true and both wake the decliners, which is harmless. */
    bool first_feed = t->group != NULL &&
                      !atomic_load_explicit(&t->group->fed_from_outside, memory_order_relaxed);
    if (first_feed)
        /* relaxed: published by the notify's RMW below, after which a
         * parking waiter's re-check (after its own RMW) sees it. */
        atomic_store_explicit(&t->group->fed_from_outside, true, memory_order_relaxed);
    pl_inject_put(&pool->inject, t);
    pl_notify_injected(pool);
    if (first_feed)
        /* Waiters that parked declining injected work may accept it now
         * (worker.c, may_take_injected): they look again. Once per group. */
        pl_lot_wake_decliners(&pool->lot);
}

static int parse_threads(unsigned *out)
{
    const char *s = getenv("PLAIT_THREADS");
    if (s != NULL) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v == 0 || v > PL_MAX_THREADS || s[0] == '-' ||
            s[0] == '+' || s[0] == ' ')
            return EINVAL;
        *out = (unsigned)v;
        return 0;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        *out = (unsigned)CPU_COUNT(&set);
    else
        *out = 1;
    return 0;
}

/* Frees the pool's record: nothing refers to it any more. */
static void pool_free_record(struct plait_pool *pool)
{
    pl_obs_pool_free(pool);
    pl_timer_free(pool);
    pthread_mutex_destroy(&pool->timer_start_lock);
    pl_free(pool);
}

void pl_pool_unref(struct plait_pool *pool)
{
    /* acq_rel: file comment. */
    if (atomic_fetch_sub_explicit(&pool->refs, 1, memory_order_acq_rel) == 1)
        pool_free_record(pool);
}

/* Frees what only the workers, the queues and the timer thread use: all
 * but the pool's record. Every worker is joined (or never started). */
static void pool_free_parts(struct plait_pool *pool)
{
    pl_trace_pool_end(pool);
    pl_obs_pool_stop(pool);
    for (unsigned i = 0; pool->workers != NULL && i < pool->nworkers; i++) {
        struct pl_worker *w = &pool->workers[i];
        /* Counted for the trim after destroy (alloc.h): a burst's records
         * sit in the caches too. */
        pl_count_freed(w->task_cache.n * sizeof(struct plait_task) +
                       w->group_cache.n * sizeof(struct plait_group));
        pl_cache_drain(&w->task_cache);
        pl_cache_drain(&w->group_cache);
        pl_deque_destroy(&w->deque);
    }
    pl_free(pool->workers);
    pool->workers = NULL;
    pl_task_records_drain(pool);
    pl_inject_destroy(&pool->inject);
    pl_lot_destroy(&pool->lot);
}

static void pool_free(struct plait_pool *pool)
{
    pool_free_parts(pool);
    pool_free_record(pool);
}

/* Stops and joins the first n workers (they are all past the barrier). */
static void stop_workers(struct plait_pool *pool, unsigned n)
{
    /* release: pairs with the workers' acquire load of stop. */
    atomic_store_explicit(&pool->stop, 1, memory_order_release);
    pl_lot_notify_all(&pool->lot);
    for (unsigned i = 0; i < n; i++)
        pthread_join(pool->workers[i].thread, NULL);
}

/*
 * fork() on a worker (inside a task): the child's only thread is a copy of
 * that worker, with its thread-local identity, but the pool exists only in
 * the parent. The child must start as a foreign thread, or its own pool's
 * calls would take it for the parent's worker: a wait would pop the copied
 * deque and run the parent's queued tasks, groups would register in the
 * parent task's list, records would go to the dead worker's cache. One
 * thread-local says all that (pl_tls_worker: the current context hangs off
 * it). The foreign record cache (task_records.c) is thread-local too, and
 * is simply the child's from then on: records are fungible and the child's
 * heap holds them. Process-wide locks the child might find held are reset
 * by their owners' handlers (the detach lock, cancel.c).
 */
static void fork_child_forget_worker(void)
{
    pl_tls_worker = NULL;
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_register(void)
{
    pthread_atfork(NULL, NULL, fork_child_forget_worker);
}

int plait_pool_create(plait_pool **out, const plait_pool_options *opts)
{
    if (out == NULL)
        return EINVAL;
    pl_fork_prepare_once();
    /* Registered by the first pool: before it, no thread is a worker. */
    pthread_once(&fork_once, fork_register);
    plait_pool_options o = {0};
    if (opts != NULL)
        o = *opts;
    unsigned n = o.threads;
    if (n == 0) {
        int err = parse_threads(&n);
        if (err != 0)
            return err;
    }
    if (n > PL_MAX_THREADS)
        return EINVAL;

    struct plait_pool *pool = pl_malloc_aligned(sizeof *pool);
    if (pool == NULL)
        return ENOMEM;
    memset(pool, 0, sizeof *pool);
    pool->opts = o;
    const char *name = o.name != NULL ? o.name : "plait";
    /* Thread names are at most 15 bytes; keep room for "-index". */
    snprintf(pool->name, sizeof pool->name - 5, "%s", name);
    pool->opts.name = NULL; /* not kept: the caller owns the string */
    pl_lot_init(&pool->lot);
    pl_nested_init(&pool->lone_nested);
    pthread_mutex_init(&pool->timer_start_lock, NULL);
    atomic_init(&pool->timer, NULL);
    atomic_init(&pool->refs, 1); /* the handle's */
    if (pl_inject_init(&pool->inject, PL_INJECT_CAPACITY) != 0) {
        pl_lot_destroy(&pool->lot);
        pthread_mutex_destroy(&pool->timer_start_lock);
        pl_free(pool);
        return ENOMEM;
    }
    pool->workers = pl_malloc_aligned(n * sizeof *pool->workers);
    if (pool->workers == NULL) {
        pool_free(pool);
        return ENOMEM;
    }
    memset(pool->workers, 0, n * sizeof *pool->workers);
    for (unsigned i = 0; i < n; i++) {
        struct pl_worker *w = &pool->workers[i];
        if (pl_deque_init(&w->deque, PL_DEQUE_CAPACITY) != 0) {
            pool->nworkers = i; /* free the deques made so far */
            pool_free(pool);
            return ENOMEM;
        }
        w->pool = pool;
        w->index = i;
        w->rng = 0x9e3779b97f4a7c15ull * (i + 1);
        atomic_init(&w->parker.word, 0);
    }
    pool->nworkers = n;
    if (pl_obs_pool_init(pool) != 0) {
        pool_free(pool);
        return ENOMEM;
    }

    unsigned started = 0;
    pthread_attr_t attr;
    int err = pthread_attr_init(&attr);
    if (err == 0 && o.stack_size != 0)
        err = pthread_attr_setstacksize(&attr, o.stack_size);
    for (; err == 0 && started < n; started++) {
        err = pl_fault_thread_next();
        if (err == 0)
            err = pthread_create(&pool->workers[started].thread, &attr, pl_worker_main,
                                 &pool->workers[started]);
        if (err != 0)
            break;
    }
    pthread_attr_destroy(&attr);
    if (err != 0) {
        /* The workers that did start find no work and see stop. */
        stop_workers(pool, started);
        pool_free(pool);
        return err;
    }
    /* Return once every on_thread_start has run. acquire: pairs with the
     * workers' release increments. */
    uint32_t r;
    while ((r = atomic_load_explicit(&pool->ready, memory_order_acquire)) < n)
        pl_futex_wait(&pool->ready, r, 0);
    pl_trace_from_env(pool); /* $PLAIT_TRACE */
    pl_obs_pool_started(pool);
    *out = pool;
    return 0;
}

int plait_pool_destroy(plait_pool *pool)
{
    if (pool == NULL)
        return EINVAL;
    struct pl_worker *w = pl_tls_worker;
    if (w != NULL && w->pool == pool)
        return EDEADLK;
    /* seq_cst: destroy's side of the store-buffering pair with
     * pl_foreign_begin (file comment), and with the idle count of a worker
     * going to sleep (pl_worker_main); the exchange also elects the one
     * destroyer. */
    if (atomic_exchange_explicit(&pool->shutting_down, 1, memory_order_seq_cst))
        return EINVAL; /* destroy already began elsewhere */
    /* seq_cst: the pair's load (above); as an acquire, reading 0 orders
     * every admitted submitter's push (its pl_foreign_end's release)
     * before the queue checks below. */
    while (atomic_load_explicit(&pool->foreign_active, memory_order_seq_cst) != 0)
        sched_yield();
    /* Delayed tasks not yet due finish as cancelled (the timer that would
     * make them runnable stops), handed to the queues now; one spawned
     * from a running task from now on is, at once (delay.c). */
    pl_timer_drain(pool);
    /* Quiescence. The workers' idle count is a futex word; the last one to
     * go idle during shutdown wakes us, and a timed wait covers the case
     * where all were idle already. A delayed task that a canceller claimed
     * (on any thread) is counted in delayed until it is in a queue: read
     * first, with acquire, pairing with its release decrement after the
     * push (delay.c), so that the idle count and the queues read after it
     * show the task (queued, or taken by a worker not idle). */
    for (;;) {
        bool handed_over = atomic_load_explicit(&pool->delayed, memory_order_acquire) == 0;
        /* seq_cst: the load of the store-buffering pair with the worker's
         * increment then load of shutting_down (pl_worker_main): either
         * we see the last increment or that worker sees shutting_down and
         * wakes us. As an acquire (the count's RMWs form one release
         * sequence) it orders each counted worker's last re-check of the
         * queues before ours. */
        uint32_t idle = atomic_load_explicit(&pool->idle, memory_order_seq_cst);
        if (handed_over && idle == pool->nworkers) {
            bool empty = !pl_inject_maybe_nonempty(&pool->inject);
            for (unsigned i = 0; empty && i < pool->nworkers; i++)
                empty = pl_deque_size_hint(&pool->workers[i].deque) <= 0;
            if (empty) {
                /* A worker woken just before may have taken the last job
                 * between our load of idle and our look at the queues: it
                 * undoes its idle count, then passes the lot's lock
                 * (pl_lot_leave), then takes work. Through that lock,
                 * either its leave came first, and the load below sees
                 * its count undone, or ours did, and our look at the
                 * queues came before its take and saw the job. Either
                 * way not quiet: look again. seq_cst: as the load above. */
                pl_lot_pass(&pool->lot);
                uint32_t again = atomic_load_explicit(&pool->idle, memory_order_seq_cst);
                if (again == pool->nworkers)
                    break;
                idle = again;
            } else {
                pl_lot_notify(&pool->lot, PL_WAKE_ANY);
            }
        }
        pl_futex_wait(&pool->idle, idle, pl_now_ns() + 10000000u);
    }
    pl_timer_stop(pool);
    stop_workers(pool, pool->nworkers);
    pool_free_parts(pool);
    /* Brackets refused since shutting_down was set still undo their
     * count; those on a group hold its reference, but plait_submit's holds
     * only the handle: outwait them before dropping the handle's.
     * acquire: pairs with the refused bracket's release decrement
     * (pl_foreign_begin), its last access to the pool. */
    while (atomic_load_explicit(&pool->foreign_active, memory_order_acquire) != 0)
        sched_yield();
    pl_pool_unref(pool);
    pl_trim_if_due(); /* what the pool's caches held (alloc.h) */
    return 0;
}

unsigned plait_pool_size(const plait_pool *pool)
{
    return pool != NULL ? pool->nworkers : 0;
}

int plait_worker_index(void)
{
    struct pl_worker *w = pl_tls_worker;
    return w != NULL ? (int)w->index : -1;
}

int plait_pool_stats(const plait_pool *pool, plait_stats *out)
{
    if (pool == NULL || out == NULL)
        return EINVAL;
    plait_stats s = {0};
    /* relaxed, every load below: statistics counters, summed into a
     * snapshot that nothing acts on; each is read once. */
    for (unsigned i = 0; i < pool->nworkers; i++) {
        const struct pl_worker *w = &pool->workers[i];
        s.tasks_succeeded += atomic_load_explicit(&w->n_succeeded, memory_order_relaxed);
        s.tasks_failed += atomic_load_explicit(&w->n_failed, memory_order_relaxed);
        s.tasks_cancelled += atomic_load_explicit(&w->n_cancelled, memory_order_relaxed);
        s.steals += atomic_load_explicit(&w->n_steals, memory_order_relaxed);
        s.failed_steals += atomic_load_explicit(&w->n_failed_steals, memory_order_relaxed);
    }
    /* relaxed: as above. */
    s.tasks_succeeded += atomic_load_explicit(&pool->outside_succeeded, memory_order_relaxed);
    s.tasks_failed += atomic_load_explicit(&pool->outside_failed, memory_order_relaxed);
    s.tasks_cancelled += atomic_load_explicit(&pool->outside_cancelled, memory_order_relaxed);
    s.injected = atomic_load_explicit(&pool->n_injected, memory_order_relaxed);
    s.parks = atomic_load_explicit(&pool->lot.parks, memory_order_relaxed);
    s.wakeups = atomic_load_explicit(&pool->lot.wakeups, memory_order_relaxed);
    s.trace_dropped = pl_trace_dropped(pool);
    *out = s;
    return 0;
}
