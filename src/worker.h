/*
 * worker — the scheduler loop of each worker thread, and the waits that
 * run other work while they wait.
 *
 * Promise to the other parts:
 *   - pl_tls_worker is the calling thread's worker, or NULL on any other
 *     thread; pl_current_ctx is the context that worker is running.
 *   - pl_wait_event(e, awaited) returns once e is set and may be left
 *     (event.h). On a worker it runs jobs meanwhile, preferring the ones
 *     that advance the awaited work (worker.c's comment says which, and
 *     why a preference can delay a job but never strand it); elsewhere it
 *     blocks.
 *   - pl_notify_injected: called after a job was put into the pool's
 *     injection queue; some worker that will take it is awake.
 * Nothing here calls into the parts above (task, group, join): a job is
 * run through the function it carries (job.h).
 */
#ifndef PLAIT_WORKER_H
#define PLAIT_WORKER_H

#include <stdbool.h>

#include "core.h"

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
};

/* A pl_awaited.injected for work that may always be in the injection
 * queue (a submitted task). */
extern const _Atomic bool pl_injected_always;

void pl_wait_event(struct pl_event *e, const struct pl_awaited *awaited);

/* After putting work into the injection queue: wakes a worker that will
 * take it (the fenced notify of park.h). */
void pl_notify_injected(struct plait_pool *pool);

/* A worker thread's body (pthread_create's start routine). */
void *pl_worker_main(void *arg);

#endif
