/*
 * delay — delayed tasks' records, their timer entries and their hooks
 * (delay.h says how they decide who hands the task over).
 */
#include "delay.h"

#include <errno.h>

#include "alloc.h"
#include "cancel.h"
#include "debug.h"
#include "pool.h"
#include "timer.h"

struct pl_delay {
    struct pl_timed timed;  /* in the timer's heap (the timer lock) */
    struct pl_sleeper hook; /* in the task's group's list (its lock) */
    struct plait_task *task;
};

/* The hand-over: to the injection queue, as cancelled first if asked
 * (destroy's drain: the task's own flag, with no hook left under it).
 * After the push the task may run and go, and its group and its pool's
 * handle with it but for the count below, which destroy waits for. */
static void hand_over(struct plait_task *t, bool cancel)
{
    struct plait_pool *pool = t->ctx.pool;
    if (cancel)
        pl_ctx_cancel(&t->ctx);
    pl_pool_inject_task(pool, t);
    /* release: pairs with destroy's acquire (pool.c): the push comes
     * before, and this is our last access to the pool. */
    atomic_fetch_sub_explicit(&pool->delayed, 1, memory_order_release);
}

/* The timer's action when due, and destroy's drain (timer.h: under the
 * timer lock, the entry out of the heap). A claimed hook is its
 * canceller's, and so is the record. */
static void delay_due(struct pl_timed *e, bool cancel)
{
    struct pl_delay *d = pl_container_of(e, struct pl_delay, timed);
    if (!pl_cancel_hook_remove(&d->hook))
        return; /* claimed: delay_wake hands it over and frees d */
    struct plait_task *t = d->task;
    pl_free(d);
    hand_over(t, cancel);
}

static void delay_fire(struct pl_timed *e)
{
    delay_due(e, false);
}

static void delay_drain(struct pl_timed *e)
{
    delay_due(e, true);
}

/* Step 5 of a cancellation that reached the task (cancel.h's hooks): the
 * flag that reached it is set, and the task sees it when it is run. */
static void delay_wake(struct pl_sleeper *r)
{
    struct pl_delay *d = pl_container_of(r, struct pl_delay, hook);
    struct plait_task *t = d->task;
    /* After it, the timer does not touch d: a fire in progress (which
     * found the hook claimed) is over. */
    pl_timer_remove(t->ctx.pool, &d->timed);
    pl_free(d);
    hand_over(t, false);
}

/* Admission, under the timer lock (timer.h): the hook goes in with the
 * entry, unless the task is cancelled already. */
static bool delay_admit(struct pl_timed *e)
{
    struct pl_delay *d = pl_container_of(e, struct pl_delay, timed);
    return pl_cancel_hook_add(&d->hook, &d->task->ctx, delay_wake);
}

int pl_delay_arm(struct plait_task *t, uint64_t at)
{
    PLAIT_ASSERT(t->group != NULL && (t->flags & PL_TASK_INJECTED));
    struct plait_pool *pool = t->ctx.pool;
    struct pl_delay *d = pl_malloc(sizeof *d);
    if (d == NULL)
        return ENOMEM;
    d->task = t;
    pl_timed_init(&d->timed, delay_fire, delay_drain);
    /* relaxed: the spawner is a running task or inside a foreign bracket,
     * which destroy outwaits as it does their other pushes; the hand-over
     * decrements it with release. */
    atomic_fetch_add_explicit(&pool->delayed, 1, memory_order_relaxed);
    int err = pl_timer_set(pool, &d->timed, at, delay_admit);
    if (err == 0)
        return 0; /* d is the timer's and the hook's now */
    pl_free(d);
    if (err == EINVAL || err == ESHUTDOWN) {
        /* Cancelled already (admission refused): run now, to finish as
         * cancelled. Destroy drained the timer: as cancelled (delay.h). */
        hand_over(t, err == ESHUTDOWN);
        return 0;
    }
    /* relaxed: undoes our own increment; nothing was published. */
    atomic_fetch_sub_explicit(&pool->delayed, 1, memory_order_relaxed);
    return err;
}
