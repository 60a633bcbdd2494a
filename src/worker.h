/*
 * worker — the scheduler loop of each worker thread, and the waits that
 * run other work while they wait.
 *
 * Promise to the other parts:
 *   - pl_tls_worker is the calling thread's worker, or NULL on any other
 *     thread; pl_current_ctx is the context that worker is running.
 *   - pl_wait_event(e, awaited) returns once e is set and may be left
 *     (event.h), or EDEADLK for a cycle of waits it sees. On a worker it runs meanwhile only jobs
 * that the awaited work depends on (pl_job_awaited), so that nothing it runs can hold it up for a
 * reason of its own; work it must not run but that may be stranded otherwise it runs on a fiber of
 * its own, which is suspended if it blocks (worker.c says when and why). Elsewhere it blocks.
 *   - Nested work never overflows a worker's stack: it moves to a fresh
 *     stack before less than PL_STACK_RESERVE is left (fiber.h).
 *   - pl_notify_injected: called after a job was put into the pool's
 *     injection queue; some worker that will take it is awake.
 * Nothing here calls into the parts above (task, group, join): a job is
 * run through the function it carries (job.h).
 */
#ifndef PLAIT_WORKER_H
#define PLAIT_WORKER_H

#include <stdbool.h>

#include "core.h"
#include "fiber.h"
#include "observe.h"

/* The calling thread's worker, or NULL. */
extern PL_TLS struct pl_worker *pl_tls_worker;

/* The running context on this thread, or NULL outside a task. */
static inline struct plait_ctx *pl_current_ctx(void)
{
    struct pl_worker *w = pl_tls_worker;
    return w != NULL ? w->current : NULL;
}

/* What a wait waits for: whose work may advance it. */
struct pl_awaited {
    struct plait_pool *pool; /* the awaited work's pool */
    int victim;              /* a thief to steal from first, or -1 */
    /* The awaited work may sit in the injection queue: NULL for never,
     * else read at every look for work. */
    const _Atomic bool *injected;
    /* What completes: a group, or the context whose end is awaited (a
     * task's root context, a join child's). */
    const void *target;
    /* Where a waiting context on a worker is recorded, so that
     * work nested under the target counts as awaited (pl_job_awaited), or
     * NULL when the target's record has no such field. */
    _Atomic(struct plait_ctx *) *waiter;
};

/* A pl_awaited.injected for work that may always be in the injection
 * queue (a submitted task). */
extern const _Atomic bool pl_injected_always;

/* 0, or EDEADLK (returned before blocking, with nothing left behind)
 * when the target depends on the waiting context itself: a cycle of
 * waits, which would never end. */
int pl_wait_event(struct pl_event *e, const struct pl_awaited *awaited);
/* pl_wait_event until deadline_ns (CLOCK_MONOTONIC, pl_now_ns; not 0):
 * EAGAIN if it passes first, with nothing left behind but a node the
 * setter frees (event.h), and the target untouched. A job it runs is not
 * interrupted, so it may return after the deadline by as long as one job
 * runs. */
int pl_wait_event_until(struct pl_event *e, const struct pl_awaited *awaited, uint64_t deadline_ns);

/* Whether target's completion depends on job j (which the caller holds:
 * taken, not yet run). The walk follows j's context up through join
 * parents, its task's group, and the context waiting on that group (or
 * on a lone task), and so on: each link is a real dependency, and each
 * record on the way is alive while j is unfinished. */
bool pl_job_awaited_slow(const struct pl_job *j, const void *target);
static inline bool pl_job_awaited(const struct pl_job *j, const void *target)
{
    /* The common case inline: a task of the awaited group, the awaited
     * lone task or join child. */
    return j->owner == target || pl_job_awaited_slow(j, target);
}

/* Runs j as nested work: on this stack, or a fresh one if it runs low. */
void pl_run_on_fresh_stack(struct pl_worker *w, struct pl_job *j);
static inline void pl_run_nested(struct pl_worker *w, struct pl_job *j)
{
    if (pl_likely(!pl_stack_low()))
        pl_job_run(w, j);
    else
        pl_run_on_fresh_stack(w, j);
}
/* A context on a worker that waits on a target is its waiter (waiter:
 * pl_awaited.waiter; cur: the worker's running context). */
static inline void pl_wait_record(_Atomic(struct plait_ctx *) *waiter, struct plait_ctx *cur)
{
    if (waiter == NULL || cur == NULL)
        return;
    /* A store, not a CAS, and whoever came first or last: of several
     * waiters, any may stay recorded, as each is a context waiting on the
     * unfinished target. release: publishes the waiting context's chain to
     * the walks (chain_reaches' acquire, worker.c). */
    atomic_store_explicit(waiter, cur, memory_order_release);
}

/* pl_wait_event past its fast path: its loop, out of line (the caller
 * may have tried pl_wait_fast first, or not). */
int pl_wait_event_loop(struct pl_event *e, const struct pl_awaited *awaited);
/* Puts a job that pl_wait_fast popped but may not run back where the
 * loop looks for it (on the deque, or run aside if it is full). */
void pl_wait_set_aside(struct pl_worker *w, struct pl_job *j);

/* The fast path of an untimed wait on worker w, whose running context is
 * cur, on e, for the work of target (waiter: pl_awaited's): while the
 * newest job of our own deque is awaited work (pl_job_awaited: a group's
 * own task, or a task handle's, pushed just before the wait), run it, as
 * the loop would first (its own pop, or find_job_waiting's test of the job
 * it popped), and say whether that set the event; false: the caller goes
 * on with pl_wait_event_loop. Inline, so that a caller that has w, cur and
 * the target at hand (group.c's wait) pays no call and no pl_awaited. It
 * skips only what blocking or declining needs: the loop's state, and the
 * wait depth with its handshake with pl_notify_injected (worker.c's
 * wait_enter). A depth left at 0 while the job runs says this worker is
 * not inside a wait, which is true of a worker that runs work rather than
 * blocks: the job's own waits enter from depth 0 and make the handshake,
 * and if the event is not set after it, the loop makes it before it can
 * decline or sleep. (At a depth above 0 nothing changes: no handshake is
 * due.) What the loop's promises need is kept: the waiter is recorded
 * before anything runs nested (for the walks of pl_job_awaited and the
 * cycle check), and the dump's note matches the job, nested here, to this
 * wait (observe.h). A job that is not awaited goes back, for the loop's
 * own look. Called with e unset, or set by another thread since: then no
 * job is awaited any more (every task of the target has finished, and so
 * has all work under it), and the loop sees e set. */
static inline __attribute__((always_inline)) bool
pl_wait_fast(struct pl_worker *w, struct plait_ctx *cur, struct pl_event *e, const void *target,
             _Atomic(struct plait_ctx *) *waiter)
{
    struct pl_job *j = pl_deque_pop(&w->deque);
    if (j == NULL)
        return false;
    if (!pl_job_awaited(j, target)) {
        pl_wait_set_aside(w, j);
        return false;
    }
    pl_wait_record(waiter, cur);
    pl_obs_wait_enter(w, e);
    bool done;
    for (;;) {
        pl_run_nested(w, j);
        if ((done = pl_event_done(e)))
            break;
        if ((j = pl_deque_pop(&w->deque)) == NULL)
            break;
        if (!pl_job_awaited(j, target)) {
            pl_wait_set_aside(w, j);
            break;
        }
    }
    pl_obs_wait_leave(w);
    return done;
}

/* Runs j on a fiber of its own, which is suspended (and this returns) if
 * j blocks in a wait: for work the caller must not be held up by. False,
 * with j not run, when no fiber can be had. */
bool pl_run_aside(struct pl_worker *w, struct pl_job *j);
/* fn(ctx, arg) on a fresh stack (plait_join's b when the stack runs low);
 * inline if none can be had. */
int pl_call_on_fresh_stack(struct pl_worker *w, plait_fn fn, plait_ctx *ctx, void *arg);

/* After putting work into the injection queue: wakes a worker that will
 * take it (the fenced notify of park.h). */
void pl_notify_injected(struct plait_pool *pool);

/* A worker thread's body (pthread_create's start routine). */
void *pl_worker_main(void *arg);

#endif
