/*
 * worker — the scheduler loop and the waits that run work while waiting.
 *
 * Where a worker looks for a job, in order: every 61st time the injection
 * queue first (so foreign work cannot starve behind a busy worker); its
 * own deque (newest first: cache-warm, depth-first); the injection queue;
 * then, when it waits on something a thief took, that thief's deque
 * (leapfrogging, as Lace and Wool do: what the thief spawns is the awaited
 * work); then the other deques from a random start.
 *
 * An idle worker searches for a while (counted as searching, so producers
 * do not wake anyone), then parks. A waiting worker with nothing to run
 * sleeps on its parker, registered both in the lot (new work wakes it) and
 * on the awaited event (completion wakes it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>

#include "core.h"
#include "futex.h"

#define PL_INJECT_EVERY 61
/* Rounds of searching before parking. Only pause instructions, never
 * sched_yield: on a loaded machine a yielding spinner keeps taking the
 * timeslices that the thread it waits for needs (seen as 5 ms p99 wake-up
 * latency with 2 cores). About 20-40 us in all. */
#define PL_IDLE_SPINS 24
#define PL_WAIT_SPINS 24

static inline uint64_t next_rand(struct pl_worker *w)
{
    /* xorshift64 */
    uint64_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return w->rng = x;
}

static struct pl_job *steal_from(struct pl_worker *w, struct pl_worker *victim)
{
    void *item;
    for (int tries = 0; tries < 4; tries++) {
        enum pl_steal_result r = pl_deque_steal(&victim->deque, &item);
        if (r == PL_STEAL_OK) {
            pl_count(&w->n_steals);
            return item;
        }
        pl_count(&w->n_failed_steals);
        if (r == PL_STEAL_EMPTY)
            return NULL;
    }
    return NULL;
}

static struct pl_job *take_injected(struct plait_pool *pool)
{
    struct plait_task *t = pl_inject_take(&pool->inject);
    return t != NULL ? &t->job : NULL;
}

struct pl_job *pl_find_job(struct pl_worker *w, int victim)
{
    struct plait_pool *pool = w->pool;
    struct pl_job *j;
    if (++w->tick == PL_INJECT_EVERY) {
        w->tick = 0;
        if ((j = take_injected(pool)) != NULL)
            return j;
    }
    if ((j = pl_deque_pop(&w->deque)) != NULL)
        return j;
    if ((j = take_injected(pool)) != NULL)
        return j;
    unsigned n = pool->nworkers;
    if (n < 2)
        return NULL;
    if (victim >= 0 && (unsigned)victim != w->index &&
        (j = steal_from(w, &pool->workers[victim])) != NULL)
        return j;
    unsigned start = (unsigned)(next_rand(w) % n);
    for (unsigned i = 0; i < n; i++) {
        unsigned v = start + i < n ? start + i : start + i - n;
        if (v == w->index)
            continue;
        if ((j = steal_from(w, &pool->workers[v])) != NULL)
            return j;
    }
    return NULL;
}

/* The re-check after announcing ourselves as a sleeper. */
static bool work_visible(struct pl_worker *w)
{
    struct plait_pool *pool = w->pool;
    if (pl_inject_maybe_nonempty(&pool->inject))
        return true;
    for (unsigned i = 0; i < pool->nworkers; i++)
        if (pl_deque_size_hint(&pool->workers[i].deque) > 0)
            return true;
    return false;
}

void pl_run_job(struct pl_worker *w, struct pl_job *job)
{
    if (job->kind == PL_JOB_TASK)
        pl_task_run(w, (struct plait_task *)((char *)job - offsetof(struct plait_task, job)));
    else
        pl_join_run_stolen(w, job);
}

static void backoff(unsigned spins)
{
    for (unsigned i = 0; i < (1u << (spins / 3)); i++)
        pl_cpu_relax();
}

/* Leaves the lot after a sleep; a hand-over search ends at once, as the
 * caller is about to look for work anyway. */
static void leave_lot(struct pl_lot *lot, struct pl_parker *p)
{
    if (pl_lot_leave(lot, p) && pl_lot_search_end(lot))
        pl_lot_notify(lot, false);
}

static void wait_foreign(struct pl_event *e)
{
    for (unsigned spins = 0; spins < 256 && !pl_event_done(e); spins++)
        pl_cpu_relax();
    if (!pl_event_done(e)) {
        struct pl_parker p;
        struct pl_event_node node = {.parker = &p, .next = NULL};
        /* relaxed: only we and the event's setter (after registration)
         * touch the word. */
        atomic_store_explicit(&p.word, 1, memory_order_relaxed);
        if (pl_event_register(e, &node))
            pl_parker_sleep(&p, 0); /* only the setter wakes this parker */
    }
    while (!pl_event_can_leave(e))
        pl_cpu_relax();
}

void pl_wait_event(struct pl_event *e, struct plait_pool *pool, int victim)
{
    if (pl_event_can_leave(e))
        return;
    struct pl_worker *w = pl_tls_worker;
    if (w == NULL) {
        wait_foreign(e);
        return;
    }
    /* A worker of another pool runs its own pool's work meanwhile. */
    (void)pool;
    struct pl_lot *lot = &w->pool->lot;
    struct pl_event_node node = {.parker = &w->parker, .next = NULL};
    bool registered = false;
    unsigned spins = 0;
    while (!pl_event_done(e)) {
        struct pl_job *j = pl_find_job(w, victim);
        if (j != NULL) {
            pl_run_job(w, j);
            spins = 0;
            continue;
        }
        if (spins < PL_WAIT_SPINS) {
            backoff(spins++);
            continue;
        }
        pl_lot_prepare(lot, &w->parker, false);
        if (!registered)
            registered = pl_event_register(e, &node);
        if (pl_event_done(e) || work_visible(w)) {
            leave_lot(lot, &w->parker);
            continue;
        }
        pl_parker_sleep(&w->parker, 0);
        leave_lot(lot, &w->parker);
        spins = PL_WAIT_SPINS / 2;
    }
    while (!pl_event_can_leave(e))
        pl_cpu_relax();
}

static void name_thread(struct pl_worker *w)
{
    char name[32];
    snprintf(name, sizeof name, "%s-%u", w->pool->name, w->index);
    name[15] = '\0'; /* the kernel keeps 15 bytes */
    pthread_setname_np(pthread_self(), name);
}

void *pl_worker_main(void *arg)
{
    struct pl_worker *w = arg;
    struct plait_pool *pool = w->pool;
    struct pl_lot *lot = &pool->lot;
    pl_tls_worker = w;
    name_thread(w);
    if (pool->opts.on_thread_start != NULL)
        pool->opts.on_thread_start(w->index, pool->opts.userdata);
    /* release: plait_pool_create returns after seeing every worker here. */
    atomic_fetch_add_explicit(&pool->ready, 1, memory_order_release);
    pl_futex_wake(&pool->ready, INT_MAX);

    bool searching = false;
    unsigned spins = 0;
    for (;;) {
        struct pl_job *j = pl_find_job(w, -1);
        if (j != NULL) {
            if (searching) {
                searching = false;
                if (pl_lot_search_end(lot))
                    pl_lot_notify(lot, false);
            }
            spins = 0;
            pl_run_job(w, j);
            continue;
        }
        /* acquire: pairs with destroy's release store after quiescence. */
        if (atomic_load_explicit(&pool->stop, memory_order_acquire))
            break;
        if (!searching) {
            pl_lot_search_begin(lot);
            searching = true;
        }
        if (spins < PL_IDLE_SPINS) {
            backoff(spins++);
            continue;
        }
        pl_lot_prepare(lot, &w->parker, searching);
        searching = false;
        if (work_visible(w) || atomic_load_explicit(&pool->stop, memory_order_acquire)) {
            searching = pl_lot_leave(lot, &w->parker);
            spins = PL_IDLE_SPINS / 2;
            continue;
        }
        /* seq_cst: destroy reads idle after setting shutting_down. */
        uint32_t idle = atomic_fetch_add_explicit(&pool->idle, 1, memory_order_seq_cst) + 1;
        if (idle == pool->nworkers &&
            atomic_load_explicit(&pool->shutting_down, memory_order_seq_cst))
            pl_futex_wake(&pool->idle, INT_MAX);
        pl_parker_sleep(&w->parker, 0);
        atomic_fetch_sub_explicit(&pool->idle, 1, memory_order_seq_cst);
        searching = pl_lot_leave(lot, &w->parker);
        spins = 0;
    }
    if (searching)
        pl_lot_search_end(lot);
    if (pool->opts.on_thread_stop != NULL)
        pool->opts.on_thread_stop(w->index, pool->opts.userdata);
    pl_tls_worker = NULL;
    return NULL;
}
