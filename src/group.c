/*
 * group — task groups (group.h).
 */
#include "group.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "batch.h"
#include "cancel.h"
#include "debug.h"
#include "pool.h"
#include "signal_cancel.h"
#include "observe.h"
#include "timer.h"
#include "worker.h"

#define PL_GROUP_CACHE_MAX 1024

void pl_group_add_error(struct plait_group *g, int code, char *message, uint64_t task_id,
                        size_t item)
{
    pl_spin_lock(&g->errors_lock);
    if (g->nerrors == g->errors_cap) {
        size_t cap = 2 * g->errors_cap;
        plait_error *e = g->errors == g->errors_inline ? pl_malloc(cap * sizeof *e)
                                                       : pl_realloc(g->errors, cap * sizeof *e);
        if (e != NULL) {
            if (g->errors == g->errors_inline)
                memcpy(e, g->errors_inline, sizeof g->errors_inline);
            g->errors = e;
            g->errors_cap = cap;
        }
    }
    if (g->nerrors < g->errors_cap) {
        g->errors[g->nerrors++] =
            (plait_error){.code = code, .message = message, .task_id = task_id, .item = item};
    } else {
        pl_free(message); /* out of memory: plait.h says what is kept */
        /* relaxed: a count, published to the waiter by the task's pending
         * decrement. */
        atomic_fetch_add_explicit(&g->errors_lost, 1, memory_order_relaxed);
    }
    if (g->first_error == 0)
        g->first_error = code;
    /* relaxed: as errors_lost. */
    atomic_fetch_add_explicit(&g->n_failed, 1, memory_order_relaxed);
    pl_spin_unlock(&g->errors_lock);
    if (!(g->flags & PLAIT_GROUP_COLLECT_ALL))
        pl_group_cancel_for(g, PLAIT_CANCEL_FAILURE);
}

/* The deadline's action (timer.h): on the timer thread, under its lock,
 * which the group's wait takes (pl_timer_remove) before the group can go. */
static void deadline_fire(struct pl_timed *e)
{
    pl_group_time_out(pl_container_of(e, struct plait_group, deadline));
}

/* Under the timer lock (timer.h's admit): a closed group takes no
 * deadline. seq_cst: the store-buffering pair with group_wait (CLOSED,
 * then had_deadline), after plait_group_set_timeout's store: a deadline
 * set while a wait closes the group is either refused here or removed by
 * that wait, never left in the heap for the timer thread to find after
 * the group is freed. */
static bool deadline_admit(struct pl_timed *e)
{
    struct plait_group *g = pl_container_of(e, struct plait_group, deadline);
    return !(atomic_load_explicit(&g->state, memory_order_seq_cst) & PL_G_CLOSED);
}

/* The fields that every finished group leaves at their initial values,
 * or that destroy puts back when a use changed them: a record in a
 * worker's group cache is clean, so create initialises these only in a
 * fresh record. Each, and why it is back at the destroy:
 *   - nested: every task has finished, so every group its tasks created
 *     has left the list (their creators' ends) and every sleeper and hook
 *     has unlinked itself or been claimed; the lock is free;
 *   - errors_lock: free (its holders are tasks, all finished);
 *   - errors, nerrors, errors_cap, first_error: destroy puts them back
 *     when there was an error (nerrors != 0: the first error always finds
 *     an inline slot, so first_error != 0 implies it);
 *   - deadline: heap_index is SIZE_MAX whenever the entry is out of the
 *     heap (timer.c), which it is once the wait removed it, and nothing
 *     reads at out of the heap; fire and drain never change. */
static void init_clean(struct plait_group *g)
{
    pl_nested_init(&g->nested);
    pl_spin_init(&g->errors_lock);
    g->errors = g->errors_inline;
    g->nerrors = 0;
    g->errors_cap = PL_GROUP_INLINE_ERRORS;
    g->first_error = 0;
    pl_timed_init(&g->deadline, deadline_fire, NULL);
}

/* init_clean's promise, checked on every reuse where asserts are on. */
static inline void assert_clean(struct plait_group *g)
{
    PLAIT_ASSERT(g->nested.head == NULL && g->nested.sleepers == NULL &&
                 !pl_spin_held(&g->nested.lock));
    PLAIT_ASSERT(!pl_spin_held(&g->errors_lock));
    PLAIT_ASSERT(g->errors == g->errors_inline && g->nerrors == 0 &&
                 g->errors_cap == PL_GROUP_INLINE_ERRORS && g->first_error == 0);
    PLAIT_ASSERT(g->deadline.heap_index == SIZE_MAX && g->deadline.fire == deadline_fire &&
                 g->deadline.drain == NULL);
    (void)g;
}

/* What create writes in every record, clean (init_clean) by now. */
static inline __attribute__((always_inline)) void
group_init(struct plait_group *g, plait_pool *pool, unsigned flags, bool ref_now)
{
    atomic_init(&g->pending, 1); /* the wait bias */
    atomic_init(&g->n_finished, 0);
    atomic_init(&g->state, 0);
    g->flags = flags;
    g->pool = pool;
    pl_event_init(&g->done);
    atomic_init(&g->pool_ref, ref_now);
    /* The counts and the feature fields that a use may leave changed
     * (had_deadline and fed_from_outside among them), slots to waiter,
     * contiguous (core.h): cleared by wide stores, in two pieces, as a
     * memset of the whole is a rep stos (slower than the stores). Their
     * initial values are all zero bits: PLAIT_CANCEL_NONE is 0, and
     * false, a NULL pointer and a zero count are all-zero on the
     * platforms plait runs on (as dump.c's calloc'd records assume).
     * init, here and above, and plain writes: g is not yet visible to any
     * other thread (group_create_slow's comment says why). */
    _Static_assert(PLAIT_CANCEL_NONE == 0, "the cleared block starts with no cancel reason");
    _Static_assert(offsetof(struct plait_group, waiter) + sizeof g->waiter -
                           offsetof(struct plait_group, slots) ==
                       PL_GROUP_RESET_BYTES,
                   "slots..waiter is the block create clears (core.h)");
    memset((char *)&g->slots, 0, 64);
    memset((char *)&g->slots + 64, 0, PL_GROUP_RESET_BYTES - 64);
}

/* Makes g, initialised, findable as cur's (a running context's): the
 * dump's fields first, as the registration is what makes g findable: the
 * dump walks the list under its lock and reads the name (dump.c,
 * add_group), which would otherwise be the record's previous use's, or
 * uninitialised in a fresh one. */
static inline __attribute__((always_inline)) void group_register(struct plait_group *g,
                                                                 struct plait_ctx *cur)
{
    pl_obs_group_created(g, false);
    pl_nested_register(g, cur); /* sets the registration's fields */
}

/* plait_group_create, every case: outside a task or of another pool (a
 * pool reference, the shutdown check), a fresh record, an async group. */
static __attribute__((noinline)) int group_create_slow(plait_group **out, plait_pool *pool,
                                                       unsigned flags)
{
    if (out == NULL || pool == NULL ||
        (flags & ~(unsigned)(PLAIT_GROUP_COLLECT_ALL | PLAIT_GROUP_CANCEL_ASYNC)))
        return EINVAL;
    struct pl_worker *w = pl_tls_worker;
    bool foreign = w == NULL || w->pool != pool;
    struct plait_ctx *cur = w != NULL ? w->current : NULL;
    /* The group's reference to the pool's record (pool.h), taken before
     * the check so that a creation that sees no shutdown holds the record
     * even if destroy then runs to its end. Not yet by a group created in
     * a running task of its own pool: the task keeps the record alive,
     * and the group is registered with it (below) until its destroy or
     * the task's end, which takes the reference then (cancel.c). So the
     * group-per-call pattern (created, waited and destroyed in one task)
     * makes no RMW on the pool's line, which every worker shares. */
    bool ref_now = foreign || cur == NULL;
    if (ref_now)
        pl_pool_ref(pool);
    /* acquire: pairs with destroy's seq_cst exchange; only an early
     * refusal (nothing read after depends on it): a creation that misses
     * the flag holds the record by the reference above, and its spawns
     * meet the flag in pl_foreign_begin's seq_cst pair. */
    if (foreign && atomic_load_explicit(&pool->shutting_down, memory_order_acquire)) {
        pl_pool_unref(pool);
        return ESHUTDOWN;
    }
    struct plait_group *g = w != NULL ? pl_cache_get(&w->group_cache) : NULL;
    bool fresh = g == NULL;
    if (fresh && (g = pl_malloc_aligned(sizeof *g)) == NULL) {
        if (ref_now)
            pl_pool_unref(pool);
        return ENOMEM;
    }
    int err;
    if (pl_unlikely(flags & PLAIT_GROUP_CANCEL_ASYNC) && (err = pl_async_group_created()) != 0) {
        /* A fresh record is not clean (init_clean): never into the cache. */
        if (fresh || !pl_cache_put(&w->group_cache, g, PL_GROUP_CACHE_MAX))
            pl_free(g);
        if (ref_now)
            pl_pool_unref(pool);
        return err;
    }
    /* init, all: g is unseen until *out hands it to the creator, whose
     * spawns publish it further (the push's release). A cached record's
     * previous use happened before its destroy on this thread (the done
     * event's acquire, then the cache is this worker's own). */
    if (fresh)
        init_clean(g);
    else
        assert_clean(g);
    group_init(g, pool, flags, ref_now);

    if (cur != NULL) {
        group_register(g, cur);
    } else {
        g->registry = NULL;
        g->creator = NULL;
        g->creator_task = NULL;
        g->sibling_prev = g->sibling_next = NULL;
        pl_obs_group_created(g, true); /* findable from here on: the root list */
    }
    *out = g;
    return 0;
}

int plait_group_create(plait_group **out, plait_pool *pool, unsigned flags)
{
    /* The group-per-call path, with no call: in a running task of pool,
     * a clean record in this worker's cache, no async flag. Its pool
     * reference is deferred (group_create_slow's comment), and the pool
     * is not foreign, so no shutdown check. The rest, and every refusal,
     * are the slow path's (which takes the cases apart again: the same
     * answers). */
    struct pl_worker *w = pl_tls_worker;
    if (pl_likely(w != NULL && w->pool == pool && out != NULL &&
                  !(flags & ~(unsigned)PLAIT_GROUP_COLLECT_ALL))) {
        struct plait_ctx *cur = w->current;
        if (pl_likely(cur != NULL && w->group_cache.head != NULL)) {
            struct plait_group *g = pl_cache_get(&w->group_cache);
            /* init: as group_create_slow's. */
            assert_clean(g);
            group_init(g, pool, flags, false);
            group_register(g, cur);
            *out = g;
            return 0;
        }
    }
    return group_create_slow(out, pool, flags);
}

/* Drops the wait bias once; the one who brings the count to "no task,
 * wait begun" sets done, and is told so (true): its own wait is over. */
static inline __attribute__((always_inline)) bool begin_wait(struct plait_group *g)
{
    /* relaxed: a first guess for the CAS, which re-reads it (and its
     * failure order: a new guess). */
    size_t p = atomic_load_explicit(&g->pending, memory_order_relaxed);
    do {
        if (p & PL_PENDING_WAITING)
            return false;     /* another waiter dropped it */
        PLAIT_ASSERT(p >= 1); /* the bias is still there */
        /* acq_rel: when this makes the count final, it acquires every
         * task's release (they decremented before us). */
    } while (!atomic_compare_exchange_weak_explicit(&g->pending, &p, p - 1 + PL_PENDING_WAITING,
                                                    memory_order_acq_rel, memory_order_relaxed));
    if (p != 1)
        return false;
    pl_event_set(&g->done);
    return true;
}

/* The wait's result, from a closed group's state word (group_wait). */
static inline int wait_result(const struct plait_group *g, uint32_t s)
{
    _Static_assert(PL_G_CANCELLED_AT_CLOSE == PL_G_CANCELLED << 4 &&
                       PL_G_TIMEDOUT_AT_CLOSE == PL_G_TIMEDOUT << 4 &&
                       PL_G_TIMEDOUT == PL_G_CANCELLED << 1,
                   "the *_AT_CLOSE bits are the close's copy of CANCELLED and TIMEDOUT");
    /* By the two bits: TIMEDOUT first, then CANCELLED, then success. */
    static const int by_bits[4] = {0, ECANCELED, ETIMEDOUT, ETIMEDOUT};
    int first = g->first_error;
    return first != 0 ? first : by_bits[(s / PL_G_CANCELLED_AT_CLOSE) & 3];
}

/* The end of every wait whose count is final: the close, the result, the
 * deadline's removal. */
static inline __attribute__((always_inline)) int group_close(plait_group *g)
{
    /* The count is final: no task is left to touch the group. relaxed:
     * the done event's acquire ordered it (or begin_wait's CAS). */
    PLAIT_ASSERT(atomic_load_explicit(&g->pending, memory_order_relaxed) == PL_PENDING_WAITING);

    /* The first waiter to get here closes the group, and the same RMW on
     * state records whether it was cancelled or timed out at that moment
     * (the *_AT_CLOSE bits): that, with first_error, is the result, which
     * a cancel after the close cannot change; the other waiters compute
     * it from the same word. One RMW, and no waiter ever spins on a closer
     * preempted halfway. Every error was recorded before its task's
     * pending decrement, so the done event (acquired above) makes
     * first_error final. acquire, the load and the CAS's failure: pairs
     * with cancel_tree's seq_cst RMW of CANCELLED (and the time-out's
     * TIMEDOUT with it), which the done event does not order, and with
     * the closer's CAS (its snapshot). seq_cst, the CAS: its release half
     * is what plait_group_errors (and destroy, and the misuse checks)
     * acquire with CLOSED; seq_cst against plait_group_set_timeout
     * (deadline_admit), which sets had_deadline, then reads CLOSED: either
     * it sees CLOSED and refuses, or the closer's load of had_deadline
     * below sees it. A waiter that finds CLOSED set by another acquired
     * the closer's CAS, so its own seq_cst load below comes after that CAS
     * in the single total order, and sees had_deadline too: each waiter
     * removes the deadline before it returns, as each did before. */
    uint32_t s = atomic_load_explicit(&g->state, memory_order_acquire);
    bool closer = false;
    while (!(s & PL_G_CLOSED)) {
        uint32_t closed =
            s | PL_G_CLOSED | (s & (PL_G_CANCELLED | PL_G_TIMEDOUT)) << 4; /* the *_AT_CLOSE bits */
        if (atomic_compare_exchange_weak_explicit(&g->state, &s, closed, memory_order_seq_cst,
                                                  memory_order_acquire)) {
            s = closed;
            closer = true;
        }
    }
    int r = wait_result(g, s);
    if (closer)
        pl_obs_group_closed(pl_tls_worker, g, r); /* once */
    /* seq_cst: deadline_admit's pair. Spares groups without deadlines the
     * timer's lock. */
    if (atomic_load_explicit(&g->had_deadline, memory_order_seq_cst))
        pl_timer_remove(g->pool, &g->deadline);
    return r;
}

/* What a wait on g waits for (worker.h): its tasks, which may have come
 * through the injection queue, on g's pool. */
static inline struct pl_awaited group_awaited(plait_group *g)
{
    return (struct pl_awaited){g->pool, -1, &g->fed_from_outside, g, &g->waiter};
}

/* The untimed wait's loop (worker.c), for group_wait_tasks: out of line,
 * so that the fast path's frame holds no pl_awaited. */
static __attribute__((noinline)) int group_wait_loop(plait_group *g)
{
    struct pl_awaited awaited = group_awaited(g);
    return pl_wait_event_loop(&g->done, &awaited);
}

/* An untimed wait that found tasks left (begin_wait): out of line, so
 * that a wait on a group whose tasks are all done (group_empty) pays no
 * frame for the nested runs. */
static __attribute__((noinline)) int group_wait_tasks(plait_group *g, struct pl_worker *w,
                                                      struct plait_ctx *cur)
{
    /* pl_wait_event's fast path, inline: w and cur are at hand, and the
     * done event was unset at begin_wait's CAS (a set since is the loop's
     * to see, worker.h). On true the awaited work ran here and set done,
     * and the event's acquire ordered the count. */
    if ((w == NULL || !pl_wait_fast(w, cur, &g->done, g, &g->waiter)) && group_wait_loop(g) != 0)
        /* EDEADLK: the wait found that the group waits on us (further up
         * than our own task); the group stays open. */
        return EDEADLK;
    return group_close(g);
}

/* plait_group_wait, and plait_group_wait_for (timed: ns + 1, else 0). */
static inline __attribute__((always_inline)) int group_wait(plait_group *g, uint64_t timed)
{
    if (g == NULL)
        return EINVAL;
    /* acquire: pairs with the closer's seq_cst RMW of CLOSED; a misuse
     * check (a wait after the close), nothing read after it depends on
     * it: relaxed would do. */
    if (atomic_load_explicit(&g->state, memory_order_acquire) & PL_G_CLOSED)
        return EINVAL;
    struct pl_worker *w = pl_tls_worker;
    struct plait_ctx *cur = w != NULL ? w->current : NULL;
    if (cur != NULL && cur->task->group == g)
        return EDEADLK;
    /* A timed wait begins the wait too: only without the bias can the
     * count reach PL_PENDING_WAITING and set done. A wait that then times
     * out leaves the group as a wait in progress does (API.md, rule 15):
     * open to spawns while a task or hold is left, over once none is;
     * begin_wait does nothing for the waits after it. */
    if (begin_wait(g)) {
        /* Every task had finished: the count is final, and our CAS
         * acquired their decrements (an empty group, the common case of a
         * wait on a group whose tasks ran inline). No wait to make. */
        return group_close(g);
    }
    if (timed == 0)
        return group_wait_tasks(g, w, cur);
    /* ns == 0 is a poll: it runs nothing. */
    if (!pl_event_done(&g->done)) {
        if (timed == 1)
            return EAGAIN;
        struct pl_awaited awaited = group_awaited(g);
        int r = pl_wait_event_until(&g->done, &awaited, pl_deadline_in(timed - 1));
        if (r != 0)
            return r; /* EAGAIN or EDEADLK: nothing closed */
    }
    return group_close(g);
}

int plait_group_wait(plait_group *g)
{
    return group_wait(g, 0);
}

int plait_group_wait_for(plait_group *g, uint64_t ns)
{
    return group_wait(g, ns == UINT64_MAX ? UINT64_MAX : ns + 1);
}

int plait_group_cancel(plait_group *g)
{
    if (g == NULL)
        return EINVAL;
    pl_group_cancel_for(g, PLAIT_CANCEL_CALL);
    return 0;
}

int plait_group_set_limit(plait_group *g, size_t max_pending)
{
    if (g == NULL || max_pending > PL_LIMIT_MAX)
        return EINVAL;
    /* acquire: a misuse check, as group_wait's. */
    if (atomic_load_explicit(&g->state, memory_order_acquire) & PL_G_CLOSED)
        return EINVAL;
    /* relaxed: published to blocked spawners by the wake's release RMW,
     * to new spawns by the state RMW below (their acquire of state). */
    atomic_store_explicit(&g->limit, (uint32_t)max_pending, memory_order_relaxed);
    /* release: a spawn that acquires LIMITED sees the limit. */
    if (max_pending != 0)
        atomic_fetch_or_explicit(&g->state, PL_G_LIMITED, memory_order_release);
    else
        atomic_fetch_and_explicit(&g->state, ~(uint32_t)PL_G_LIMITED, memory_order_release);
    pl_slot_wake_all(g); /* a raised or removed limit frees sleepers */
    return 0;
}

int plait_group_hold(plait_group *g)
{
    if (g == NULL)
        return EINVAL;
    /* relaxed: a count for the report and for release's check; the
     * pending count below is what keeps the wait from completing. */
    atomic_fetch_add_explicit(&g->holds, 1, memory_order_relaxed);
    if (!pl_pending_add(g)) {
        atomic_fetch_sub_explicit(&g->holds, 1, memory_order_relaxed);
        return EINVAL; /* the wait has completed */
    }
    return 0;
}

int plait_group_release(plait_group *g)
{
    if (g == NULL)
        return EINVAL;
    /* relaxed: a first guess for the CAS, which re-reads it. */
    uint32_t h = atomic_load_explicit(&g->holds, memory_order_relaxed);
    do {
        if (h == 0)
            return EINVAL;
        /* relaxed: as in plait_group_hold. */
    } while (!atomic_compare_exchange_weak_explicit(&g->holds, &h, h - 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    /* As a task's end: releases the holder's spawns (and what it wrote) to
     * the waiter; the last decrement sets done, and nothing touches the
     * group after it. */
    pl_pending_drop(g);
    return 0;
}

int plait_group_get_info(const plait_group *g, plait_group_info *out)
{
    if (g == NULL || out == NULL)
        return EINVAL;
    plait_group_info i;
    memset(&i, 0, sizeof i);
    /* Pending first, with acquire: a task whose decrement it does not see
     * is still counted as pending; one whose decrement it sees did its
     * counts before that release decrement, so the loads below see them.
     * So a task is counted as pending or finished, never neither, and
     * spawned is never short while tasks run. */
    size_t p = atomic_load_explicit(&g->pending, memory_order_acquire);
    uint32_t state = atomic_load_explicit(&g->state, memory_order_acquire);
    /* relaxed: counters, summed into a snapshot (ordered after the
     * acquire above). By outcome before finished: a task counts its
     * outcome first, so succeeded (finished - failed - cancelled) is not
     * made short by one counted in finished only. */
    i.holds = atomic_load_explicit(&g->holds, memory_order_relaxed);
    size_t open = (p & PL_PENDING_WAITING) ? p - PL_PENDING_WAITING : p - 1;
    i.pending = open > i.holds ? open - i.holds : 0;
    i.failed = atomic_load_explicit(&g->n_failed, memory_order_relaxed);
    i.cancelled = atomic_load_explicit(&g->n_cancelled, memory_order_relaxed);
    i.never_run = atomic_load_explicit(&g->n_never_run, memory_order_relaxed);
    uint64_t finished = atomic_load_explicit(&g->n_finished, memory_order_relaxed);
    if (finished < i.failed + i.cancelled)
        finished = i.failed + i.cancelled; /* outcomes counted, finish not yet */
    i.succeeded = finished - i.failed - i.cancelled;
    i.spawned = finished + i.pending;
    i.items_total = atomic_load_explicit(&g->items_total, memory_order_relaxed);
    i.items_done = atomic_load_explicit(&g->items_done, memory_order_relaxed);
    i.errors_lost = atomic_load_explicit(&g->errors_lost, memory_order_relaxed);
    i.is_cancelled = state & PL_G_CANCELLED;
    i.timed_out = state & PL_G_TIMEDOUT;
    i.waited = state & PL_G_CLOSED;
    if (i.timed_out)
        i.cancel_reason = PLAIT_CANCEL_DEADLINE;
    else if (i.is_cancelled) {
        /* relaxed: stored before the CANCELLED we acquired above
         * (pl_group_cancel_for), as in plait_cancel_cause. */
        uint32_t r = atomic_load_explicit(&g->cancel_reason, memory_order_relaxed);
        i.cancel_reason = r != PLAIT_CANCEL_NONE ? r : PLAIT_CANCEL_ENCLOSING;
    }
    *out = i;
    return 0;
}

int plait_group_set_timeout(plait_group *g, uint64_t ns)
{
    if (g == NULL)
        return EINVAL;
    /* acquire: a misuse check, as group_wait's; the race with a closing
     * wait is deadline_admit's. */
    if (atomic_load_explicit(&g->state, memory_order_acquire) & PL_G_CLOSED)
        return EINVAL;
    uint64_t deadline = pl_deadline_in(ns);
    /* seq_cst, before the timer's admission check: deadline_admit's pair. */
    atomic_store_explicit(&g->had_deadline, true, memory_order_seq_cst);
    return pl_timer_set(g->pool, &g->deadline, deadline, deadline_admit);
}

size_t plait_group_pending(const plait_group *g)
{
    if (g == NULL)
        return 0;
    /* A snapshot; until the first wait, the count holds the bias, and it
     * holds the holds. acquire: as plait_group_get_info's (statistics;
     * it orders the holds read after it, which are relaxed: a snapshot). */
    size_t p = atomic_load_explicit(&g->pending, memory_order_acquire);
    size_t open = (p & PL_PENDING_WAITING) ? p - PL_PENDING_WAITING : p - 1;
    size_t holds = atomic_load_explicit(&g->holds, memory_order_relaxed);
    return open > holds ? open - holds : 0;
}

size_t plait_group_errors(const plait_group *g, const plait_error **errors)
{
    /* acquire: pairs with the closer's seq_cst RMW of CLOSED, which comes
     * after its done event's acquire of every error: the array is final. */
    if (g == NULL || !(atomic_load_explicit(&g->state, memory_order_acquire) & PL_G_CLOSED)) {
        if (errors != NULL)
            *errors = NULL;
        return 0;
    }
    if (errors != NULL)
        *errors = g->nerrors ? g->errors : NULL;
    return g->nerrors;
}

/* The end of destroy, for a closed group whose wait is over, on a thread
 * whose running context is cur (or NULL) and whose worker is w (or
 * NULL); by_creator: cur runs g's creator task. */
static inline __attribute__((always_inline)) void group_teardown(struct plait_group *g,
                                                                 const struct plait_ctx *cur,
                                                                 bool by_creator,
                                                                 struct pl_worker *w)
{
    /* Closed: its wait removed the deadline (group_wait), and none can be
     * set any more. relaxed: seen by us or acquired above. */
    PLAIT_ASSERT(atomic_load_explicit(&g->state, memory_order_relaxed) & PL_G_CLOSED);
    if (by_creator) /* cur runs g's creator task */
        pl_nested_unregister_by_creator(g);
    else
        pl_nested_unregister(g, cur);
    /* After the unregistration: if the creator task's end came first, it
     * took the reference (cancel.c, pl_ctx_end_slow) under the detach
     * lock, which the unregistration took too, or on this thread; if not,
     * no reference is taken for the group any more, and nothing below
     * reads the pool's record but the drop of a reference. acquire: pairs
     * with that end's release store, whichever way we met it. */
    bool ref = atomic_load_explicit(&g->pool_ref, memory_order_acquire);
    pl_obs_group_destroyed(g);
    /* Groups nested in this one were unregistered by their creators' ends
     * (every task of this group has finished). */
    PLAIT_ASSERT(g->nested.head == NULL);
    if (pl_unlikely(g->nerrors != 0)) {
        for (size_t i = 0; i < g->nerrors; i++)
            pl_free((char *)g->errors[i].message);
        if (g->errors != g->errors_inline)
            pl_free(g->errors);
        /* Clean for the cache (init_clean). */
        g->errors = g->errors_inline;
        g->nerrors = 0;
        g->errors_cap = PL_GROUP_INLINE_ERRORS;
        g->first_error = 0;
    }
    PLAIT_ASSERT(g->first_error == 0);
    struct plait_pool *pool = g->pool;
    if (w == NULL || !pl_cache_put(&w->group_cache, g, PL_GROUP_CACHE_MAX))
        pl_free(g);
    /* Last: the group's reference may be what keeps the pool's record
     * (pool.h), which the timer removal above still read. */
    if (ref)
        pl_pool_unref(pool);
    /* A quiet point for what the group's tasks left behind: every one of
     * them has finished (alloc.h). */
    pl_trim_if_due();
}

/* plait_group_destroy, every case. */
static __attribute__((noinline)) void group_destroy_slow(plait_group *g)
{
    if (g == NULL)
        return;
    struct plait_ctx *cur = pl_current_ctx();
    if (cur != NULL && cur->task->group == g)
        return; /* from one of its own tasks: it cannot be freed yet (EDEADLK) */
    /* acquire, both: pairs with the closer's seq_cst RMW of CLOSED: the
     * wait is over and its writes to the record (deadline removed, result
     * fixed) happen before our teardown. */
    if (!(atomic_load_explicit(&g->state, memory_order_acquire) & PL_G_CLOSED)) {
        pl_group_cancel_for(g, PLAIT_CANCEL_CALL);
        if (plait_group_wait(g) == EDEADLK &&
            !(atomic_load_explicit(&g->state, memory_order_acquire) & PL_G_CLOSED))
            return; /* from work the group waits on: the same */
    }
    if (g->flags & PLAIT_GROUP_CANCEL_ASYNC)
        pl_async_group_destroyed(g); /* the signal watcher is done with it */
    group_teardown(g, cur, false, pl_tls_worker);
}

void plait_group_destroy(plait_group *g)
{
    /* The group-per-call path, with no call but the trim's: by a thread
     * running the task that created g (so not from one of g's own tasks,
     * which came after g), g closed, not async. */
    struct pl_worker *w = pl_tls_worker;
    if (pl_likely(g != NULL && w != NULL)) {
        struct plait_ctx *cur = w->current;
        /* acquire: as group_destroy_slow's. */
        if (pl_likely(cur != NULL && g->creator_task == cur->task &&
                      !(g->flags & PLAIT_GROUP_CANCEL_ASYNC) &&
                      (atomic_load_explicit(&g->state, memory_order_acquire) & PL_G_CLOSED))) {
            group_teardown(g, cur, true, w);
            return;
        }
    }
    group_destroy_slow(g);
}
