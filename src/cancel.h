/*
 * cancel — cancellation and its reach: what "cancelled" means, how a
 * cancellation reaches the checks and sleeps of the tasks it covers, and
 * the lists of nested groups through which it reaches groups created
 * inside them. Every side of every handshake below is in cancel.c.
 *
 * What "cancelled" means. A context (a task's, or a join child's) is
 * cancelled when its own flag is set, or the flag of a context enclosing
 * it (the join chain up to its task's root context), or its task's group
 * is (PL_G_CANCELLED). A group is cancelled by plait_group_cancel, by the
 * failure of one of its tasks (fail-fast), by its deadline (with
 * PL_G_TIMEDOUT), or by the cancellation of the context that created it
 * (rule 4, nesting). Nothing is ever un-cancelled.
 *
 * The canceller's steps, in order, and the readers each one serves:
 *   1. Set the flag: an exchange on ctx->cancelled, or a CAS that adds
 *      PL_G_CANCELLED (and the reason) to a group's state; seq_cst. Only
 *      the first canceller goes on. Serves every walk (pl_ctx_walk).
 *   2. Bump pl_cancel_epoch (seq_cst RMW). Serves the one-load check
 *      pl_ctx_cancelled: a context that saw the epoch at a value where it
 *      was not cancelled need not walk until the epoch moves; its acquire
 *      of the new epoch makes the flags of step 1 visible to its walk.
 *   3. Read the sleeper count (seq_cst), and if any thread sleeps in
 *      pl_sleep_until, wake the epoch word. Serves the sleepers: with
 *      their count bump, this is a store-buffering pair (cancel.c).
 *   4. Walk the nested groups, under the list's lock: for a context, the
 *      groups whose creator lies under it in its task's list; for a group,
 *      every group its tasks created; and cancel each one (from step 1).
 *      Serves rule 4.
 *
 * The creator's rule. A group created while a task runs is registered in
 * that task's list, under the list's lock, with the running context as its
 * creator, and the creation walks that context under the same lock: so a
 * canceller either walks the list after the registration and finds the
 * group, or set its flag before it took the lock and the creation's walk
 * sees the flag (the group is born cancelled). When a creator context
 * ends, its groups pass to the enclosing context (a join child's) or leave
 * the list (a task's: they no longer follow its fate).
 *
 * Lock order: the pool timer's lock, then the detach lock, then the lists'
 * locks, a group's own list before the lists of the groups nested in it
 * (the walk of step 4 descends holding each). No lock here is taken while
 * a group's errors lock is held.
 *
 * The fork rule: the detach lock is a process-wide mutex; a fork while
 * another thread holds it would leave it held forever in the child, so a
 * pthread_atfork handler (registered by the first pool) resets it there.
 */
#ifndef PLAIT_CANCEL_H
#define PLAIT_CANCEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"

/* The process-wide cancel epoch: bumped by every cancellation (step 2). */
extern _Atomic uint32_t pl_cancel_epoch;

static inline void pl_ctx_init_root(struct plait_ctx *c, struct plait_task *t,
                                    struct plait_pool *pool)
{
    c->parent = NULL;
    c->task = t;
    c->pool = pool;
    atomic_init(&c->cancelled, 0);
    atomic_init(&c->epoch_ok, 0); /* the epoch starts at 1: the first check walks */
    atomic_init(&c->groups_created, 0);
    c->message = NULL;
}

static inline void pl_ctx_init_child(struct plait_ctx *c, struct plait_ctx *parent)
{
    c->parent = parent;
    c->task = parent->task;
    c->pool = parent->pool;
    atomic_init(&c->cancelled, 0);
    /* relaxed: the parent's own field, read on the parent's thread. */
    atomic_init(&c->epoch_ok, atomic_load_explicit(&parent->epoch_ok, memory_order_relaxed));
    atomic_init(&c->groups_created, 0);
    c->message = NULL;
}

/* Walks c's flags and its task's group's with relaxed loads. The caller
 * orders the walk after the flags it must see: by an acquire of the epoch
 * (pl_ctx_cancelled, pl_sleep_until), or by the list lock that cancellers
 * walk under (group creation). Without either (a task about to start) a
 * concurrent cancellation may be missed, as if it came just after. */
bool pl_ctx_walk(const struct plait_ctx *c);

/* pl_ctx_walk of a task's root context, inline for the start of every
 * task (the same unordered loads). */
static inline bool pl_task_cancelled(const struct plait_task *t)
{
    /* relaxed: as pl_ctx_walk. */
    return atomic_load_explicit(&t->ctx.cancelled, memory_order_relaxed) ||
           (t->group != NULL &&
            (atomic_load_explicit(&t->group->state, memory_order_relaxed) & PL_G_CANCELLED));
}

/* True when c or anything enclosing it is cancelled. One load while no
 * cancellation happened anywhere since c last looked. A cancellation still
 * in flight (flag set, epoch not yet bumped) may be missed, as if the
 * check came first. Called on c's own thread only (it updates epoch_ok). */
static inline bool pl_ctx_cancelled(const struct plait_ctx *c)
{
    /* relaxed: a hint that nothing changed; a stale value only delays
     * noticing a cancellation to the next check. */
    uint32_t e = atomic_load_explicit(&pl_cancel_epoch, memory_order_relaxed);
    if (pl_likely(e == atomic_load_explicit(&c->epoch_ok, memory_order_relaxed)))
        return false;
    /* acquire: pairs with the cancellers' seq_cst bumps (step 2), each
     * after its flag (step 1): the walk sees every flag of the epochs up
     * to e, so e may be recorded as clean. */
    e = atomic_load_explicit(&pl_cancel_epoch, memory_order_acquire);
    if (pl_ctx_walk(c))
        return true;
    /* relaxed: only this thread reads it back as a hint. */
    atomic_store_explicit(&((struct plait_ctx *)c)->epoch_ok, e, memory_order_relaxed);
    return false;
}

/* Cancels c (steps 1 to 4): its flag, sleepers, the groups created under
 * it. c must stay valid during the call (its task's handle, or its own
 * thread). */
void pl_ctx_cancel(struct plait_ctx *c);

/* Cancels g (steps 1 to 4). pl_group_time_out records PL_G_TIMEDOUT too,
 * if its cancellation is the one that takes effect. */
void pl_group_cancel(struct plait_group *g);
void pl_group_time_out(struct plait_group *g);

/* Sleeps until deadline (CLOCK_MONOTONIC ns; UINT64_MAX: none) or until
 * ctx is cancelled: 0 or ECANCELED. The sleeper's side of step 3. */
int pl_sleep_until(const struct plait_ctx *ctx, uint64_t deadline);

void pl_nested_init(struct pl_nested_groups *list);

/* Registers a new group g, created while creator runs, in the list of
 * creator's task (the creator's rule), and marks g cancelled if creator
 * already is. */
void pl_nested_register(struct plait_group *g, struct plait_ctx *creator);

/* Takes g out of its creator's list, if it is still there: called by
 * plait_group_destroy from any thread; current is the calling thread's
 * running context or NULL. */
void pl_nested_unregister(struct plait_group *g, const struct plait_ctx *current);

void pl_ctx_end_slow(struct plait_ctx *c);

/* Called when a context's body has returned: hands the groups it created
 * to the enclosing context (a join child), or takes them out of the list
 * (a task). */
static inline void pl_ctx_end(struct plait_ctx *c)
{
    /* relaxed: registrations under c happened on this thread, or in a join
     * child this thread has since joined (ordered by the join's event); a
     * stale non-zero only costs the slow path. */
    if (pl_unlikely(atomic_load_explicit(&c->groups_created, memory_order_relaxed) != 0))
        pl_ctx_end_slow(c);
}

/* The detach lock (cancel.c): taken by the unregistering thread that is
 * not running the creator task, and by a task's end. Declared here for
 * the fork regression test, which holds it across a fork. */
void pl_detach_lock(void);
void pl_detach_unlock(void);

/* Registers the fork handler that resets the detach lock (once). */
void pl_fork_prepare_once(void);

#endif
