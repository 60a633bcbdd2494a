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
 * A wait on a worker runs only work that can advance what it waits for,
 * so that it is not held up by an unrelated long task (oneTBB issue #942):
 * its own deque (what the awaited work spawned), the thief's deque, the
 * other deques (where the awaited tasks or their children are), and the
 * injection queue only when the awaited work entered through it (a group
 * fed from foreign threads, a submitted task), or when every worker of the
 * pool is inside a wait: then nobody else would run injected work, and the
 * awaited work may depend on it (a task that runs until a failing sibling,
 * spawned from outside, cancels it). The injection queue is FIFO, so such
 * a wait may still pick up unrelated work queued before. Whatever the
 * rules miss (a busy task elsewhere that needs an unrelated injected task:
 * a cancel, a flag), the decline clock covers: a wait takes injected work
 * it declined for PL_DECLINE_NS anyway, so a preference can delay work but
 * never strand it. Sleeping decliners are woken only for that clock, for
 * a group's first injection, or when every worker waits.
 *
 * An idle worker searches for a while (counted as searching, so producers
 * do not wake anyone), then parks. A searcher that finds work and was the
 * last searcher wakes the next sleeper only when more work is visible: on
 * a quiet pool, one submitted task costs one wake-up, not two (park.h).
 * A waiting worker with nothing to run sleeps on its parker, registered
 * both in the lot (new work wakes it) and on the awaited event (completion
 * wakes it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>

#include "worker.h"

#include "futex.h"
#include "observe.h"

#define PL_INJECT_EVERY 61
/* Rounds of searching before parking. Only pause instructions, never
 * sched_yield: on a loaded machine a yielding spinner keeps taking the
 * timeslices that the thread it waits for needs (seen as 5 ms p99 wake-up
 * latency with 2 cores). About 20-40 us in all. */
#define PL_IDLE_SPINS 24
#define PL_WAIT_SPINS 24
/* How long a wait declines injected work it does not prefer before it
 * takes it anyway (find_job_waiting). Long enough that a wait is not held
 * up by an unrelated task when its own work finishes soon (oneTBB #942);
 * short enough to bound the stall when every other worker is busy with
 * work that needs the injected task. */
#define PL_DECLINE_NS 100000000u

PL_TLS struct pl_worker *pl_tls_worker;

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
            pl_obs_steal(w, victim->index);
            return item;
        }
        pl_count(&w->n_failed_steals);
        if (r == PL_STEAL_EMPTY)
            return NULL;
    }
    return NULL;
}

/* victim first (leapfrogging), then every other deque from a random start. */
static struct pl_job *steal_any(struct pl_worker *w, int victim)
{
    struct plait_pool *pool = w->pool;
    unsigned n = pool->nworkers;
    struct pl_job *j;
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

static struct pl_job *take_injected(struct plait_pool *pool)
{
    struct plait_task *t = pl_inject_take(&pool->inject);
    return t != NULL ? &t->job : NULL;
}

const _Atomic bool pl_injected_always = true;

/* A job for the scheduler loop of w, without blocking, or NULL. */
static struct pl_job *find_job(struct pl_worker *w)
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
    return steal_any(w, -1);
}

/* Whether every worker of the pool is inside a wait. relaxed loads: each
 * caller orders them after its own publication by an acq_rel RMW on the
 * lot state (a waiter's prepare, wait_enter, a producer's fenced notify):
 * of two such threads, the later RMW reads from the earlier one and so
 * sees what that thread wrote before it (park.c's argument). */
static bool all_workers_waiting(const struct plait_pool *pool)
{
    for (unsigned i = 0; i < pool->nworkers; i++)
        if (atomic_load_explicit(&pool->workers[i].wait_depth, memory_order_relaxed) == 0)
            return false;
    return true;
}

/* Whether a group of a task on w's stack (the tasks it runs, each inside
 * the wait of the one below) was fed from outside: an injected task of it
 * may be what the awaited work depends on (a sibling whose failure
 * cancels it). Every task on the stack is running, so its group is alive;
 * a join child's context names its root task, whose stack it extends. */
static bool stack_fed_from_outside(const struct pl_worker *w)
{
    for (const struct plait_ctx *c = w->current; c != NULL; c = c->task->outer) {
        const struct plait_group *g = c->task->group;
        /* relaxed: as in may_take_injected. */
        if (g != NULL && atomic_load_explicit(&g->fed_from_outside, memory_order_relaxed))
            return true;
    }
    return false;
}

/* Whether a wait for s may take injected work now. Not cheap
 * (the stack walk is as deep as the nesting): only when the injection
 * queue holds something and nothing else was found. */
static bool may_take_injected(const struct pl_worker *w, const struct pl_awaited *s)
{
    /* A wait on another pool's work: nothing here advances it, and this
     * pool's own injected work must not starve behind the wait.
     * relaxed: the flags are hints refreshed at every look; a sleeping
     * waiter's re-check follows its prepare RMW, a group's first
     * injection wakes every declining sleeper (pool.c), and the decline
     * clock bounds what a stale read can cost. */
    return s->pool != w->pool ||
           (s->injected != NULL && atomic_load_explicit(s->injected, memory_order_relaxed)) ||
           stack_fed_from_outside(w) || all_workers_waiting(w->pool);
}

/* A wait's look for work: the thieves before the injection queue (file
 * comment). The decline clock: injected work this wait may not take is
 * taken anyway once it has declined it for PL_DECLINE_NS, so that nothing
 * waits forever behind a preference (a task busy elsewhere may depend on
 * it: a cancel, a flag it sets). *declined_since is 0 until the first
 * decline. */
static struct pl_job *find_job_waiting(struct pl_worker *w, const struct pl_awaited *s,
                                       uint64_t *declined_since)
{
    struct pl_job *j;
    if ((j = pl_deque_pop(&w->deque)) != NULL)
        return j;
    if ((j = steal_any(w, s->pool == w->pool ? s->victim : -1)) != NULL)
        return j;
    if (!pl_inject_maybe_nonempty(&w->pool->inject)) {
        *declined_since = 0; /* what we declined went elsewhere */
        return NULL;
    }
    if (!may_take_injected(w, s)) {
        uint64_t now = pl_now_ns();
        if (*declined_since == 0) {
            *declined_since = now;
            return NULL;
        }
        if (now - *declined_since < PL_DECLINE_NS)
            return NULL;
    }
    return take_injected(w->pool);
}

static bool deque_work_visible(struct plait_pool *pool)
{
    for (unsigned i = 0; i < pool->nworkers; i++)
        if (pl_deque_size_hint(&pool->workers[i].deque) > 0)
            return true;
    return false;
}

/* The re-check after announcing ourselves as a sleeper. */
static bool work_visible(struct pl_worker *w, bool injected)
{
    return (injected && pl_inject_maybe_nonempty(&w->pool->inject)) ||
           deque_work_visible(w->pool);
}

static void backoff(unsigned spins)
{
    for (unsigned i = 0; i < (1u << (spins / 3)); i++)
        pl_cpu_relax();
}

/* After injected work became visible: wake a worker that takes it, or,
 * when none sleeps that would, one that will (below). */
static bool wake_a_taker(struct plait_pool *pool)
{
    if (!pl_lot_notify(&pool->lot, PL_WAKE_TAKER))
        return true;
    /* Only waiters that decline injected work sleep. If every worker is in
     * a wait, nobody else will take it: wake one of them, and it will
     * (may_take_injected). The notify's RMW pairs with wait_enter's:
     * either it sees our put, or we see its depth. */
    if (all_workers_waiting(pool)) {
        pl_lot_notify(&pool->lot, PL_WAKE_ANY);
        return true;
    }
    return false;
}

void pl_notify_injected(struct plait_pool *pool)
{
    /* Else wake a decliner whose clock does not run yet: it takes the work
     * after PL_DECLINE_NS if nobody else has (a busy worker's task may be
     * what the awaited work waits for). */
    if (!wake_a_taker(pool))
        pl_lot_notify(&pool->lot, PL_WAKE_DECLINER);
}

/* A waiter that declined injected work hands its wake-up on: to a taker
 * only, since it runs its own decline clock. */
static void hand_injected_on(struct plait_pool *pool)
{
    wake_a_taker(pool);
}

/* The outermost wait of a worker may be the one that leaves no worker
 * outside a wait; then injected work, which waiters decline while some
 * worker could take it, must go to one of them (pl_notify_injected). */
static void wait_enter(struct pl_worker *w)
{
    unsigned depth = atomic_load_explicit(&w->wait_depth, memory_order_relaxed);
    /* relaxed store, published by the RMW below: the store-buffering pair
     * with pl_notify_injected (all_workers_waiting's comment). An RMW on
     * the lot state rather than a fence, so that TSan checks it too. */
    atomic_store_explicit(&w->wait_depth, depth + 1, memory_order_relaxed);
    if (depth != 0)
        return;
    struct plait_pool *pool = w->pool;
    pl_lot_sync(&pool->lot);
    if (pl_inject_maybe_nonempty(&pool->inject) && all_workers_waiting(pool))
        pl_lot_notify(&pool->lot, PL_WAKE_ANY);
}

static inline void wait_leave(struct pl_worker *w)
{
    /* relaxed: only this worker writes its depth; a reader that sees a
     * stale non-zero may take injected work a little early, which is
     * always allowed. */
    unsigned depth = atomic_load_explicit(&w->wait_depth, memory_order_relaxed);
    atomic_store_explicit(&w->wait_depth, depth - 1, memory_order_relaxed);
}

/* A searcher that found work stops searching; the last one wakes the next
 * sleeper if more work is visible (park.h: Dekker with the producers'
 * fenced notify, through search_end's RMW). */
static bool end_search(struct pl_worker *w)
{
    struct pl_lot *lot = &w->pool->lot;
    if (!pl_lot_search_end(lot))
        return false;
    if (deque_work_visible(w->pool)) {
        pl_lot_notify_unfenced(lot);
        return false;
    }
    return pl_inject_maybe_nonempty(&w->pool->inject);
}

/* The search ended with work found (or the wake-up was not needed). */
static void search_found(struct pl_worker *w)
{
    if (end_search(w))
        pl_notify_injected(w->pool);
}

/* The search ended in a wait that declined what it found. */
static void search_declined(struct pl_worker *w)
{
    if (end_search(w))
        hand_injected_on(w->pool);
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
            pl_obs_foreign_parker_sleep(&p); /* only the setter wakes this parker */
    }
    while (!pl_event_can_leave(e))
        pl_cpu_relax();
}

void pl_wait_event(struct pl_event *e, const struct pl_awaited *awaited)
{
    if (pl_event_can_leave(e))
        return;
    struct pl_worker *w = pl_tls_worker;
    if (w == NULL) {
        pl_obs_foreign_waits(awaited->pool, e);
        wait_foreign(e);
        return;
    }
    struct pl_lot *lot = &w->pool->lot;
    struct pl_event_node node = {.parker = &w->parker, .next = NULL};
    bool registered = false;
    bool searching = false; /* a notifier handed us its wake-up */
    unsigned spins = 0;
    uint64_t declined_since = 0;
    wait_enter(w);
    pl_obs_wait_enter(w, e);
    while (!pl_event_done(e)) {
        struct pl_job *j = find_job_waiting(w, awaited, &declined_since);
        if (j != NULL) {
            if (searching) {
                searching = false;
                search_found(w);
            }
            pl_job_run(w, j);
            spins = 0;
            continue;
        }
        if (spins < PL_WAIT_SPINS) {
            backoff(spins++);
            continue;
        }
        /* A wake-up handed to us that found nothing we may run goes on
         * to a sleeper that takes injected work, if any. */
        if (searching) {
            searching = false;
            search_declined(w);
        }
        bool injected = may_take_injected(w, awaited);
        /* Declining queued work: sleep no longer than the decline clock. */
        uint64_t deadline = declined_since != 0 ? declined_since + PL_DECLINE_NS : 0;
        pl_lot_prepare(lot, &w->parker, false,
                       injected ? PL_PARK_TAKES
                       : deadline != 0 ? PL_PARK_DECLINES_TIMED
                                       : PL_PARK_DECLINES);
        if (!registered)
            registered = pl_event_register(e, &node);
        /* After prepare's RMW: the depth of a worker that entered its wait
         * meanwhile, and a group's first feed, are visible now. Queued
         * injected work we decline does not keep us awake: the clock's
         * deadline ends the sleep. */
        injected = injected || may_take_injected(w, awaited);
        if (pl_event_done(e) || work_visible(w, injected) ||
            (deadline != 0 && pl_now_ns() >= deadline)) {
            searching = pl_lot_leave(lot, &w->parker);
            continue;
        }
        pl_obs_parker_sleep(w, deadline);
        searching = pl_lot_leave(lot, &w->parker);
        spins = PL_WAIT_SPINS / 2;
    }
    wait_leave(w);
    pl_obs_wait_leave(w);
    /* A wake-up handed to us that we did not use goes on to the next
     * sleeper, if there is work for it. */
    if (searching)
        search_found(w);
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
    pl_obs_worker_start(w);
    if (pool->opts.on_thread_start != NULL)
        pool->opts.on_thread_start(w->index, pool->opts.userdata);
    /* release: plait_pool_create returns after seeing every worker here. */
    atomic_fetch_add_explicit(&pool->ready, 1, memory_order_release);
    pl_futex_wake(&pool->ready, INT_MAX);

    bool searching = false;
    unsigned spins = 0;
    for (;;) {
        struct pl_job *j = find_job(w);
        if (j != NULL) {
            if (searching) {
                searching = false;
                search_found(w);
            }
            spins = 0;
            pl_job_run(w, j);
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
        pl_lot_prepare(lot, &w->parker, searching, PL_PARK_TAKES);
        searching = false;
        if (work_visible(w, true) || atomic_load_explicit(&pool->stop, memory_order_acquire)) {
            /* Searching again, not merely awake: a producer may have
             * skipped its wake-up because we were searching, and the
             * search_found that ends this search passes it on. */
            if (!pl_lot_leave(lot, &w->parker))
                pl_lot_search_begin(lot);
            searching = true;
            spins = PL_IDLE_SPINS / 2;
            continue;
        }
        /* seq_cst: destroy reads idle after setting shutting_down. */
        uint32_t idle = atomic_fetch_add_explicit(&pool->idle, 1, memory_order_seq_cst) + 1;
        if (idle == pool->nworkers &&
            atomic_load_explicit(&pool->shutting_down, memory_order_seq_cst))
            pl_futex_wake(&pool->idle, INT_MAX);
        pl_obs_parker_sleep(w, 0);
        atomic_fetch_sub_explicit(&pool->idle, 1, memory_order_seq_cst);
        searching = pl_lot_leave(lot, &w->parker);
        spins = 0;
    }
    if (searching)
        search_found(w);
    if (pool->opts.on_thread_stop != NULL)
        pool->opts.on_thread_stop(w->index, pool->opts.userdata);
    pl_tls_worker = NULL;
    return NULL;
}
