/*
 * worker — the scheduler loop and the waits that run work while waiting.
 *
 * Where a worker looks for a job, in order: every 61st time the injection
 * queue first (so foreign work cannot starve behind a busy worker); its
 * own deque (newest first: cache-warm, depth-first); the injection queue;
 * then the other deques from a random start.
 *
 * A wait runs only what it depends on. A job run inside a wait is nested
 * on the waiter's stack: the wait cannot return before the job does. If
 * the wait's own completion already depends on the job, that adds no
 * dependency the program did not have, so it can never close a cycle of
 * waits; if not, the job may wait on the very task that waits below it
 * (rule 7's deadlock: A waits on its group, runs an unrelated B that B's
 * spawner queued, and B waits on A). So a wait runs a job it finds only
 * when pl_job_awaited says the awaited work depends on it: a task of the
 * awaited group, a join child of the awaited context, or anything nested
 * under those whose enclosing wait is part of the chain. Anything else it
 * finds it puts back (its own deque, where others may steal it), and it
 * declines the injection queue unless the awaited work may be there. That
 * is also what keeps a wait from being held up by an unrelated long task
 * (oneTBB issue #942), on its own deque too.
 *
 * Declined work must not be stranded: a busy task elsewhere may need it
 * (a cancel, a flag). A wait that has declined work for PL_DECLINE_NS, or
 * at once when every worker of the pool is inside a wait, runs it anyway,
 * but aside: on a fiber of its own (fiber.h). If that job blocks in a
 * wait, its fiber is suspended and the worker carries on where it was; a
 * suspended fiber is resumed by its worker once its awaited event has
 * released it (every wait loop and the scheduler loop look). So no job a
 * wait did not depend on is ever between the wait and its return, except
 * for the time such a job computes without blocking. No thread is ever
 * added: a pool has its workers and its timer, nothing else; the fibers
 * of a worker are bounded by PL_MAX_FIBERS (past it, a wait declines and
 * sleeps instead, as if the work were not there).
 *
 * Nested work never overflows a stack: a job that a wait runs nested, and
 * plait_join's b, move to a fresh stack when less than PL_STACK_RESERVE is
 * left, and return to the old one when done (a segmented stack).
 *
 * An idle worker searches for a while (counted as searching, so producers
 * do not wake anyone), then parks. A searcher that finds work and was the
 * last searcher wakes the next sleeper only when more work is visible: on
 * a quiet pool, one submitted task costs one wake-up, not two (park.h).
 * A waiting worker with nothing to run sleeps on its parker, registered
 * both in the lot (new work wakes it) and on the awaited event (completion
 * wakes it); a suspended fiber's node names the same parker.
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

#include "alloc.h"
#include "futex.h"
#include "observe.h"

#define PL_INJECT_EVERY 61
/* Rounds of searching before parking. Only pause instructions, never
 * sched_yield: on a loaded machine a yielding spinner keeps taking the
 * timeslices that the thread it waits for needs (seen as 5 ms p99 wake-up
 * latency with 2 cores). About 20-40 us in all. */
#define PL_IDLE_SPINS 24
#define PL_WAIT_SPINS 24
/* Each round of an idle search looks at every deque, so a large pool's
 * search costs rounds times workers: with 1,000 workers the woken ones kept
 * the CPUs from the threads that had work (1,000 sleepers' deadlines came
 * 4-5x later than plain futex wake-ups would). The rounds shrink with the
 * pool so that one search looks at about PL_IDLE_PROBES deques, but never
 * below two rounds; the re-check before parking still looks at all. */
#define PL_IDLE_PROBES (PL_IDLE_SPINS * 16)

static unsigned idle_rounds(unsigned nworkers)
{
    unsigned r = nworkers > 16 ? PL_IDLE_PROBES / nworkers : PL_IDLE_SPINS;
    return r < 2 ? 2 : r;
}
/* How long a wait declines work it does not depend on before it runs it
 * aside anyway (the decline clock, pl_wait_event). Long enough that a wait
 * is not held up by an unrelated task when its own work finishes soon
 * (oneTBB #942); short enough to bound the stall when every other worker
 * is busy with work that needs the declined task. */
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

/* This worker's wait depth has just gone from 0 to more (its store
 * before the call): the store-buffering pair with pl_notify_injected
 * (all_workers_waiting's comment), through an RMW on the lot state rather
 * than a fence, so that TSan checks it too. If that leaves no worker
 * outside a wait, injected work (which waiters decline while some worker
 * could take it) gets a taker. */
static void entered_outermost_wait(struct pl_worker *w)
{
    struct plait_pool *pool = w->pool;
    pl_lot_sync(&pool->lot);
    if (pl_inject_maybe_nonempty(&pool->inject) && all_workers_waiting(pool))
        pl_lot_notify(&pool->lot, PL_WAKE_ANY);
}

/* ---- What a wait depends on ------------------------------------------ */

/* Longest chain a walk follows; past it a job counts as not awaited (a
 * wait then only declines it: that costs parallelism, never liveness) and
 * a cycle goes unreported. */
#define PL_CHAIN_MAX 256

/* Whether target is on c's chain: c, its join parents, its task's root
 * context, that task's group, the context waiting on that group (or on
 * the lone task), and so on up. Each step goes from a piece of work to
 * something whose completion requires it; each record is alive while c is
 * unfinished (the walk's callers hold c's job, or run c): a parent context
 * outlives its join children, a group its unfinished tasks, and a waiting
 * context its wait, which cannot return while the group or task it waits
 * on is unfinished. */
static bool chain_reaches(const struct plait_ctx *c, const void *target)
{
    for (unsigned i = 0; c != NULL && i < PL_CHAIN_MAX; i++) {
        if ((const void *)c == target)
            return true;
        if (c->parent != NULL) {
            c = c->parent;
            continue;
        }
        const struct plait_task *t = c->task;
        const struct plait_group *g = t->group;
        if (g != NULL && (const void *)g == target)
            return true;
        /* acquire: pairs with the waiter's release store (record_waiter). */
        c = atomic_load_explicit(g != NULL ? &g->waiter : &t->waiter, memory_order_acquire);
    }
    return false;
}

bool pl_job_awaited_slow(const struct pl_job *j, const void *target)
{
    return chain_reaches(j->ctx, target);
}

/* A context on a worker that waits on the target is its waiter. */
static void record_waiter(const struct pl_worker *w, const struct pl_awaited *s)
{
    pl_wait_record(s->waiter, w->current);
}

/* A wait that returns EDEADLK leaves the target unfinished, and its
 * context may end before the target does: it must not stay recorded. (A
 * walk that read it just before may still be following it: the one
 * window left, and only in a program with a cycle of waits.) */
static void unrecord_waiter(const struct pl_worker *w, const struct pl_awaited *s)
{
    struct plait_ctx *me = w->current;
    if (s->waiter != NULL)
        /* release: as record_waiter; relaxed on failure: another waiter
         * is recorded, and stays. */
        atomic_compare_exchange_strong_explicit(s->waiter, &me, NULL, memory_order_release,
                                                memory_order_relaxed);
}

/* ---- Fibers: stacks of the worker's own (fiber.h) --------------------- */

/* Suspended fibers per worker, at most; spare ones kept for reuse. */
#define PL_MAX_FIBERS 4096u
#define PL_SPARE_FIBERS 16u

struct pl_wfiber {
    struct pl_fiber *f;
    struct pl_wfiber *next; /* w->suspended or w->spare_fibers */
    struct pl_worker *w;
    bool suspendable; /* false: a fresh stack for nested work, never suspended */
    /* What it runs: a job, or a call. */
    struct pl_job *job;
    plait_fn fn;
    plait_ctx *ctx;
    void *arg;
    int *result;
    /* The worker's state on it, while suspended. */
    struct plait_ctx *current;
    unsigned depth;             /* waits entered on it */
    unsigned base_depth;        /* the resumer's */
    struct pl_event_node *node; /* released when it may go on */
};

static struct pl_wfiber *fiber_get(struct pl_worker *w)
{
    struct pl_wfiber *wf = w->spare_fibers;
    if (wf != NULL) {
        w->spare_fibers = wf->next;
        w->nspare_fibers--;
        return wf;
    }
    wf = pl_malloc(sizeof *wf);
    if (wf == NULL)
        return NULL;
    if ((wf->f = pl_fiber_create()) == NULL) {
        pl_free(wf);
        return NULL;
    }
    wf->w = w;
    return wf;
}

static void fiber_put(struct pl_worker *w, struct pl_wfiber *wf)
{
    if (w->nspare_fibers < PL_SPARE_FIBERS) {
        wf->next = w->spare_fibers;
        w->spare_fibers = wf;
        w->nspare_fibers++;
        return;
    }
    pl_fiber_destroy(wf->f);
    pl_free(wf);
}

static void fiber_body(void *arg)
{
    struct pl_wfiber *wf = arg;
    if (wf->job != NULL)
        pl_job_run(wf->w, wf->job);
    else
        *wf->result = wf->fn(wf->ctx, wf->arg);
}

/* Starts or resumes wf; returns when it is done or suspended. A fresh
 * stack for nested work changes nothing else: the work on it restores
 * what it changes, as it would on this stack. A suspendable fiber carries
 * the worker's running context and its part of the wait depth. */
static void fiber_enter(struct pl_worker *w, struct pl_wfiber *wf, bool start)
{
    if (!wf->suspendable) {
        pl_fiber_start(wf->f, fiber_body, wf);
        fiber_put(w, wf);
        return;
    }
    struct plait_ctx *cur = w->current;
    struct pl_wfiber *outer = w->fiber;
    /* relaxed: only this thread writes its depth (wait_enter). */
    unsigned depth = atomic_load_explicit(&w->wait_depth, memory_order_relaxed);
    wf->base_depth = depth;
    w->fiber = wf;
    if (start) {
        pl_fiber_start(wf->f, fiber_body, wf);
    } else {
        w->current = wf->current;
        /* relaxed store, published as wait_enter's is: the fiber goes
         * back into waits it entered through wait_enter, and when that
         * takes this worker from outside any wait into one, the same
         * handshake with pl_notify_injected. */
        atomic_store_explicit(&w->wait_depth, depth + wf->depth, memory_order_relaxed);
        if (depth == 0 && wf->depth != 0)
            entered_outermost_wait(w);
        pl_fiber_resume(wf->f);
    }
    w->current = cur;
    w->fiber = outer;
    /* relaxed: as above (the fiber's waits leave with it). */
    atomic_store_explicit(&w->wait_depth, depth, memory_order_relaxed);
    if (pl_fiber_done(wf->f))
        fiber_put(w, wf);
}

/* From a wait on the suspendable fiber w->fiber with nothing to do: back
 * to whoever runs under it, until node is released. */
static void fiber_suspend(struct pl_worker *w, struct pl_event_node *node)
{
    struct pl_wfiber *wf = w->fiber;
    wf->current = w->current;
    /* relaxed: only this thread writes its depth. */
    wf->depth = atomic_load_explicit(&w->wait_depth, memory_order_relaxed) - wf->base_depth;
    wf->node = node;
    wf->next = w->suspended;
    w->suspended = wf;
    w->nsuspended++;
    pl_fiber_yield(wf->f);
    /* Resumed: fiber_enter restored our context and depth. */
}

/* A suspended fiber whose event was released, taken off the list, or
 * NULL. */
static __attribute__((noinline)) struct pl_wfiber *take_ready_fiber_slow(struct pl_worker *w)
{
    for (struct pl_wfiber **pp = &w->suspended; *pp != NULL; pp = &(*pp)->next) {
        struct pl_wfiber *wf = *pp;
        if (pl_event_released(wf->node)) {
            *pp = wf->next;
            w->nsuspended--;
            return wf;
        }
    }
    return NULL;
}

/* take_ready_fiber_slow, after the one test that spares it the call. */
static inline struct pl_wfiber *take_ready_fiber(struct pl_worker *w)
{
    return pl_unlikely(w->suspended != NULL) ? take_ready_fiber_slow(w) : NULL;
}

static void search_found(struct pl_worker *w);

/* Resumes wf, ending a search of ours first: the fiber may run for long,
 * and a searcher that still counted meanwhile would hold back every
 * producer's wake-up (park.h: a notify wakes nobody while someone
 * searches), leaving work that sleeping workers could run unseen. */
static void resume_fiber(struct pl_worker *w, struct pl_wfiber *wf, bool *searching)
{
    if (*searching) {
        *searching = false;
        search_found(w);
    }
    fiber_enter(w, wf, false);
}

static bool fiber_ready(const struct pl_worker *w)
{
    for (const struct pl_wfiber *wf = w->suspended; wf != NULL; wf = wf->next)
        if (pl_event_released(wf->node))
            return true;
    return false;
}

void pl_run_on_fresh_stack(struct pl_worker *w, struct pl_job *j)
{
    struct pl_wfiber *wf = fiber_get(w);
    if (wf == NULL) {
        pl_job_run(w, j); /* out of memory for a stack: nothing better */
        return;
    }
    wf->suspendable = false;
    wf->job = j;
    fiber_enter(w, wf, true);
}

bool pl_run_aside(struct pl_worker *w, struct pl_job *j)
{
    struct pl_wfiber *wf;
    if (w->nsuspended >= PL_MAX_FIBERS || (wf = fiber_get(w)) == NULL)
        return false;
    wf->suspendable = true;
    wf->job = j;
    fiber_enter(w, wf, true);
    return true;
}

int pl_call_on_fresh_stack(struct pl_worker *w, plait_fn fn, plait_ctx *ctx, void *arg)
{
    struct pl_wfiber *wf = fiber_get(w);
    if (wf == NULL)
        return fn(ctx, arg);
    int r = 0;
    wf->suspendable = false;
    wf->job = NULL;
    wf->fn = fn;
    wf->ctx = ctx;
    wf->arg = arg;
    wf->result = &r;
    fiber_enter(w, wf, true);
    return r;
}

static void fibers_free(struct pl_worker *w)
{
    PLAIT_ASSERT(w->suspended == NULL);
    while (w->spare_fibers != NULL) {
        struct pl_wfiber *wf = w->spare_fibers;
        w->spare_fibers = wf->next;
        pl_fiber_destroy(wf->f);
        pl_free(wf);
    }
    w->nspare_fibers = 0;
}

/* ---- A wait's look for work ------------------------------------------- */

/* Whether a wait may take injected work: its awaited work may be there.
 * relaxed: the flags are hints refreshed at every look; a sleeping
 * waiter's re-check follows its prepare RMW, a group's first injection
 * wakes every declining sleeper (pool.c), and the decline clock bounds
 * what a stale read can cost. */
static bool may_take_injected(const struct pl_awaited *s)
{
    return s->injected != NULL && atomic_load_explicit(s->injected, memory_order_relaxed);
}

/* A job the wait may not run goes back where others find it: our deque
 * (stealable; a sleeping worker is told). If the deque cannot grow, it
 * runs aside, or, without a fiber either, here after all (out of memory:
 * the old behaviour, the only choice left). */
static void set_aside(struct pl_worker *w, struct pl_job *j)
{
    if (pl_deque_push(&w->deque, j) == 0) {
        pl_lot_notify_local(&w->pool->lot);
        return;
    }
    if (!pl_run_aside(w, j))
        pl_job_run(w, j);
}

/* One look for a job the wait depends on: its own deque (the newest, and
 * the oldest: what it wants may lie under something it declines), the
 * other deques (the thief first: leapfrogging), the injection queue when
 * the awaited work may be there. *declined: it saw work it may not run. */
static struct pl_job *find_job_waiting(struct pl_worker *w, const struct pl_awaited *s,
                                       bool *declined, struct pl_job *j)
{
    void *item;
    if (j != NULL) { /* the newest job of our own deque, popped by the caller */
        if (pl_job_awaited(j, s->target))
            return j;
        *declined = true;
        set_aside(w, j);
        /* The owner may steal from its own deque like any thief. */
        if (pl_deque_steal(&w->deque, &item) == PL_STEAL_OK) {
            j = item;
            if (pl_job_awaited(j, s->target))
                return j;
            set_aside(w, j); /* to the bottom: a rotation, one per look */
        }
    }
    if ((j = steal_any(w, s->pool == w->pool ? s->victim : -1)) != NULL) {
        if (pl_job_awaited(j, s->target))
            return j;
        *declined = true;
        set_aside(w, j);
    }
    if (pl_inject_maybe_nonempty(&w->pool->inject)) {
        if (!may_take_injected(s)) {
            *declined = true;
        } else if ((j = take_injected(w->pool)) != NULL) {
            if (pl_job_awaited(j, s->target))
                return j;
            *declined = true;
            set_aside(w, j);
        }
    }
    return NULL;
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
    return (injected && pl_inject_maybe_nonempty(&w->pool->inject)) || deque_work_visible(w->pool);
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
     * a wait, nobody else will take it: wake one of them, and it runs it
     * (aside, if it does not depend on it: the every-worker-waits rule of
     * pl_wait_event). The notify's RMW pairs with wait_enter's:
     * either it sees our put, or we see its depth. */
    if (all_workers_waiting(pool)) {
        pl_lot_notify(&pool->lot, PL_WAKE_ANY);
        return true;
    }
    return false;
}

void pl_notify_injected(struct plait_pool *pool)
{
    /* Else wake a decliner whose clock does not run yet: it runs the work
     * aside after PL_DECLINE_NS if nobody else has taken it (a busy
     * worker's task may be what the awaited work waits for). */
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
static inline __attribute__((always_inline)) void wait_enter(struct pl_worker *w)
{
    /* relaxed: only this worker writes its depth. */
    unsigned depth = atomic_load_explicit(&w->wait_depth, memory_order_relaxed);
    /* relaxed store, published by entered_outermost_wait's RMW. */
    atomic_store_explicit(&w->wait_depth, depth + 1, memory_order_relaxed);
    if (depth == 0)
        entered_outermost_wait(w);
}

static inline void wait_leave(struct pl_worker *w)
{
    /* relaxed: only this worker writes its depth; a reader that sees a
     * stale non-zero may run declined work aside a little early, which is
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
    struct pl_event_node node = {.parker = NULL, .next = NULL};
    /* The setter releases the node as its last access to it, and we sleep
     * on the node's own word until then: woken, we may leave at once. */
    if (pl_event_register(e, &node))
        pl_obs_foreign_leave(&node); /* pl_event_leave, seen by the dump */
}

/* Runs a job the wait depends on, ending a search handed to us first. The
 * wait loop's frame stays where it is: one stack check (stack_low) serves
 * every job it runs. */
static inline __attribute__((always_inline)) void run_awaited(struct pl_worker *w, struct pl_job *j,
                                                              bool stack_low, bool *searching)
{
    if (pl_unlikely(*searching)) {
        *searching = false;
        search_found(w);
    }
    if (pl_likely(!stack_low))
        pl_job_run(w, j);
    else
        pl_run_on_fresh_stack(w, j);
}

/* Set, as far as this waiter may look: once it has registered a node, it
 * reads only the node (another waiter may free the event once it is set). */
static inline bool wait_over(const struct pl_event *e, const struct pl_event_node *node,
                             bool registered)
{
    return registered ? pl_event_released(node) : pl_event_done(e);
}

/* A foreign timed wait: as wait_foreign, on a node of the heap that it
 * abandons to the setter if the deadline passes first (event.h). */
static int wait_foreign_until(struct pl_event *e, uint64_t deadline)
{
    for (unsigned spins = 0; spins < 256 && !pl_event_done(e); spins++)
        pl_cpu_relax();
    struct pl_event_node *node = pl_malloc(sizeof *node);
    if (pl_unlikely(node == NULL)) {
        /* No node to sleep on: poll, a millisecond at a time. */
        _Atomic uint32_t dummy = 0;
        while (!pl_event_done(e)) {
            uint64_t now = pl_now_ns();
            if (now >= deadline)
                return EAGAIN;
            pl_futex_wait(&dummy, 0, now + 1000000 < deadline ? now + 1000000 : deadline);
        }
        return 0;
    }
    node->parker = NULL;
    node->next = NULL;
    if (!pl_event_register(e, node) || pl_event_leave_until(node, deadline)) {
        pl_free(node); /* never registered, or released: ours again */
        return 0;
    }
    return EAGAIN; /* abandoned: the setter frees it */
}

/* The wait (worker.h). deadline 0: untimed; this is inlined into each
 * entry point, so the untimed wait's copy folds every deadline test
 * away. A timed wait registers a node of the heap, which it may abandon
 * to the setter (event.h), and never suspends a fiber (a suspended fiber
 * resumes only on its event): on a fiber it sleeps in place, at most
 * until its deadline. */
static inline __attribute__((always_inline)) int
wait_event(struct pl_event *e, const struct pl_awaited *awaited, uint64_t until)
{
    if (pl_event_done(e))
        return 0; /* the setter's RMW was its last access */
    struct pl_worker *w = pl_tls_worker;
    if (w == NULL) {
        pl_obs_foreign_waits(awaited->pool, e);
        if (until != 0)
            return wait_foreign_until(e, until);
        wait_foreign(e);
        return 0;
    }
    /* Before anything runs nested: work under the target counts as
     * awaited, and a cycle through it sees us waiting. */
    record_waiter(w, awaited);
    struct pl_lot *lot = &w->pool->lot;
    struct pl_event_node snode; /* filled in when registered */
    struct pl_event_node *node = &snode;
    bool registered = false;
    bool timed_out = false;
    bool searching = false; /* a notifier handed us its wake-up */
    unsigned spins = 0;
    uint64_t declined_since = 0;
    bool can_aside = true;
    bool cycle_checked = false;
    bool stack_low = pl_stack_low();
    int result = 0;
    wait_enter(w);
    pl_obs_wait_enter(w, e);
    while (!wait_over(e, node, registered)) {
        if (until != 0 && pl_now_ns() >= until) {
            timed_out = true;
            break;
        }
        /* The common case first: the newest job of our own deque is
         * awaited work (a suspended fiber waits until it runs dry). */
        struct pl_job *j = pl_deque_pop(&w->deque);
        if (pl_likely(j != NULL) && pl_likely(j->owner == awaited->target)) {
            run_awaited(w, j, stack_low, &searching);
            spins = 0;
            continue;
        }
        struct pl_wfiber *ready = take_ready_fiber(w);
        if (ready != NULL) {
            if (j != NULL)
                set_aside(w, j); /* not held out of sight while the fiber runs */
            resume_fiber(w, ready, &searching);
            spins = 0;
            continue;
        }
        bool declined = false;
        j = find_job_waiting(w, awaited, &declined, j);
        if (pl_likely(j != NULL)) {
            run_awaited(w, j, stack_low, &searching);
            spins = 0;
            continue;
        }
        if (declined) {
            /* The decline clock (file comment): the declined work runs
             * aside, where it cannot hold us up by blocking. */
            uint64_t now = pl_now_ns();
            if (declined_since == 0)
                declined_since = now;
            else if (can_aside &&
                     (now - declined_since >= PL_DECLINE_NS || all_workers_waiting(w->pool)) &&
                     (j = find_job(w)) != NULL && !pl_job_awaited(j, awaited->target)) {
                if (searching) {
                    searching = false;
                    search_found(w);
                }
                if (pl_run_aside(w, j)) {
                    spins = 0;
                } else {
                    /* No fiber (PL_MAX_FIBERS, or no memory): decline on,
                     * and sleep until something changes (file comment). */
                    set_aside(w, j);
                    can_aside = false;
                }
                continue;
            }
        } else {
            declined_since = 0; /* what we declined went elsewhere */
        }
        if (j != NULL) { /* the clock found awaited work after all */
            run_awaited(w, j, stack_low, &searching);
            spins = 0;
            continue;
        }
        /* About to block for the first time: a cycle of waits would block
         * for ever. The walk is as long as the nesting, so it is done here,
         * once, rather than by every wait (before a node is registered:
         * EDEADLK leaves nothing behind on the event). */
        if (!cycle_checked) {
            cycle_checked = true;
            if (w->current != NULL && chain_reaches(w->current, awaited->target)) {
                result = EDEADLK;
                unrecord_waiter(w, awaited);
                break;
            }
        }
        /* On a fiber run aside: nothing to do here means nothing to do on
         * this fiber until the event is set; the worker goes on below. */
        if (until == 0 && w->fiber != NULL) {
            if (searching) {
                searching = false;
                search_declined(w);
            }
            if (!registered) {
                node->parker = &w->parker;
                if (!(registered = pl_event_register(e, node)))
                    break; /* set meanwhile */
            }
            fiber_suspend(w, node);
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
        bool injected = may_take_injected(awaited);
        /* Declining work: sleep no longer than the decline clock. */
        uint64_t deadline = declined_since != 0 && can_aside ? declined_since + PL_DECLINE_NS : 0;
        if (until != 0 && (deadline == 0 || until < deadline))
            deadline = until; /* the kind below stays what the clock says */
        pl_lot_prepare(lot, &w->parker, false,
                       injected                           ? PL_PARK_TAKES
                       : declined_since != 0 && can_aside ? PL_PARK_DECLINES_TIMED
                                                          : PL_PARK_DECLINES);
        if (!registered) {
            if (until != 0 && node == &snode) {
                /* No memory: no node; the sleep ends at the deadline
                 * or within a millisecond, to look again. */
                struct pl_event_node *h = pl_malloc(sizeof *h);
                if (h != NULL)
                    node = h;
                else if (deadline == 0 || deadline > pl_now_ns() + 1000000)
                    deadline = pl_now_ns() + 1000000;
            }
            if (node != &snode || until == 0) {
                node->parker = &w->parker; /* the node is the setter's once registered */
                registered = pl_event_register(e, node);
            }
        }
        /* After prepare's RMW: a group's first feed is visible now. Work
         * we declined does not keep us awake (nor do we know it from new
         * work): the clock's deadline ends the sleep, and a worker that
         * pushes work where we could steal it wakes a sleeper itself. */
        injected = injected || may_take_injected(awaited);
        if (wait_over(e, node, registered) || fiber_ready(w) ||
            (declined_since == 0 && work_visible(w, injected)) ||
            (injected && pl_inject_maybe_nonempty(&w->pool->inject)) ||
            (deadline != 0 && pl_now_ns() >= deadline)) {
            searching = pl_lot_leave(lot, &w->parker);
            continue;
        }
        pl_obs_parker_sleep(w, deadline);
        searching = pl_lot_leave(lot, &w->parker);
        spins = PL_WAIT_SPINS / 2;
        can_aside = true; /* woken: a fiber may have finished */
    }
    wait_leave(w);
    pl_obs_wait_leave(w);
    /* A wake-up handed to us that we did not use goes on to the next
     * sleeper, if there is work for it. */
    if (searching)
        search_found(w);
    if (timed_out) {
        if (!registered || pl_event_abandon(node)) {
            /* Gone without a result: the target must not see us as its
             * waiter (as for EDEADLK), and the node is the setter's. */
            unrecord_waiter(w, awaited);
            PLAIT_ASSERT(registered || node == &snode); /* a failed register ends the loop */
            return EAGAIN;
        }
        /* Released before we could give up: the wait is over after all. */
    } else if (registered) {
        pl_event_leave(node); /* released already: returns at once */
    }
    if (node != &snode)
        pl_free(node);
    return result;
}

/* The untimed wait past its fast path: out of line, so that the fast
 * path pays nothing for the loop's frame. */
__attribute__((noinline)) int pl_wait_event_loop(struct pl_event *e,
                                                 const struct pl_awaited *awaited)
{
    return wait_event(e, awaited, 0);
}

__attribute__((noinline)) void pl_wait_set_aside(struct pl_worker *w, struct pl_job *j)
{
    set_aside(w, j);
}

int pl_wait_event(struct pl_event *e, const struct pl_awaited *awaited)
{
    if (pl_event_done(e))
        return 0; /* the setter's RMW was its last access */
    struct pl_worker *w = pl_tls_worker;
    if (w != NULL && pl_wait_fast(w, w->current, e, awaited->target, awaited->waiter))
        return 0;
    return pl_wait_event_loop(e, awaited);
}

int pl_wait_event_until(struct pl_event *e, const struct pl_awaited *awaited, uint64_t deadline_ns)
{
    PLAIT_ASSERT(deadline_ns != 0);
    return wait_event(e, awaited, deadline_ns);
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
    pl_stack_thread_init();
    name_thread(w);
    pl_obs_worker_start(w);
    if (pool->opts.on_thread_start != NULL)
        pool->opts.on_thread_start(w->index, pool->opts.userdata);
    /* release: plait_pool_create returns after seeing every worker here. */
    atomic_fetch_add_explicit(&pool->ready, 1, memory_order_release);
    pl_futex_wake(&pool->ready, INT_MAX);

    bool searching = false;
    unsigned spins = 0;
    const unsigned rounds = idle_rounds(pool->nworkers);
    for (;;) {
        struct pl_wfiber *ready = take_ready_fiber(w);
        if (ready != NULL) {
            resume_fiber(w, ready, &searching);
            spins = 0;
            continue;
        }
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
        if (spins < rounds) {
            backoff(spins++);
            continue;
        }
        pl_lot_prepare(lot, &w->parker, searching, PL_PARK_TAKES);
        searching = false;
        /* acquire: as above; the re-check after prepare, since destroy's
         * notify_all may have come before it. */
        if (work_visible(w, true) || fiber_ready(w) ||
            atomic_load_explicit(&pool->stop, memory_order_acquire)) {
            /* Searching again, not merely awake: a producer may have
             * skipped its wake-up because we were searching, and the
             * search_found that ends this search passes it on. */
            if (!pl_lot_leave(lot, &w->parker))
                pl_lot_search_begin(lot);
            searching = true;
            spins = rounds / 2;
            continue;
        }
        /* A worker with suspended fibers is not idle: their tasks are
         * unfinished, and destroy must wait for them. Their events wake
         * this parker (their nodes name it). */
        bool idle_now = w->suspended == NULL;
        if (idle_now) {
            /* seq_cst, the RMW and the load: the worker's side of the
             * store-buffering pair with destroy, which sets shutting_down
             * then reads idle: it sees our increment, or we see the flag
             * and wake it. The RMW's release half hands destroy our
             * re-check of the queues (plait_pool_destroy). */
            uint32_t idle = atomic_fetch_add_explicit(&pool->idle, 1, memory_order_seq_cst) + 1;
            if (idle == pool->nworkers &&
                atomic_load_explicit(&pool->shutting_down, memory_order_seq_cst))
                pl_futex_wake(&pool->idle, INT_MAX);
        }
        pl_obs_parker_sleep(w, 0);
        if (idle_now)
            /* seq_cst: as the increment it undoes, in the same total
             * order as destroy's load of idle; it precedes, in program
             * order, every take of work by this worker after the sleep.
             * Once per sleep, the same locked instruction on x86. */
            atomic_fetch_sub_explicit(&pool->idle, 1, memory_order_seq_cst);
        searching = pl_lot_leave(lot, &w->parker);
        spins = 0;
    }
    if (searching)
        search_found(w);
    fibers_free(w);
    if (pool->opts.on_thread_stop != NULL)
        pool->opts.on_thread_stop(w->index, pool->opts.userdata);
    pl_tls_worker = NULL;
    return NULL;
}
