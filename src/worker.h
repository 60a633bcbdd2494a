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
