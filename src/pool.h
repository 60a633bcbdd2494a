/*
 * pool — creating and destroying pools, and the way work enters a pool.
 *
 * Promise to the parts that add work (task.c):
 *   - a thread that is not one of the pool's workers brackets its push
 *     with pl_foreign_begin / pl_foreign_end; begin fails with ESHUTDOWN
 *     once plait_pool_destroy has begun, and destroy does not free the
 *     pool before every bracket that began has ended;
 *   - pl_pool_push_task puts a task where the pool's workers will find it
 *     (the caller's own deque, else the injection queue) and wakes a
 *     worker when nobody else would notice it. It never fails.
 *
 * Promise to groups (group.c): the pool's record (struct plait_pool
 * itself, and the timer record, timer.h) lives while a reference to it
 * does. A group takes one at creation (pl_pool_ref: the caller holds the
 * handle, or runs a task of the pool, so the record is alive), or, when
 * created in a running task of the pool, at that task's end if it is still
 * registered with it then (cancel.c; until then the running task keeps the
 * record), and drops it as the last thing its destroy does
 * (pl_pool_unref). plait_pool_destroy frees everything else (workers,
 * queues, record caches, the timer thread) and drops the handle's
 * reference, after every worker is joined (so a running task of the pool
 * keeps the record alive): so a group that outlives its pool may read the
 * pool's flags (shutting_down: ESHUTDOWN for spawns), its timer and its
 * foreign brackets, and nothing more.
 */
#ifndef PLAIT_POOL_H
#define PLAIT_POOL_H

#include "core.h"

int pl_foreign_begin(struct plait_pool *pool);
void pl_foreign_end(struct plait_pool *pool);
/* pl_pool_push_task past its common path: a spawner outside the pool's
 * workers (local NULL), or one whose deque must grow. */
void pl_pool_push_task_slow(struct plait_pool *pool, struct plait_task *t, struct pl_worker *local);
/* local: the calling thread's worker if it is one of the pool's, else
 * NULL. Inline: the push on one's own deque is the spawn's hot path. */
static inline void pl_pool_push_task(struct plait_pool *pool, struct plait_task *t,
                                     struct pl_worker *local)
{
    if (pl_likely(local != NULL) && pl_likely(pl_deque_push_room(&local->deque, &t->job))) {
        /* Our own deque: we will get to it ourselves, so the cheap check
         * is enough (park.h). */
        pl_lot_notify_local(&pool->lot);
        return;
    }
    pl_pool_push_task_slow(pool, t, local);
}
/* Into the injection queue, with the handshake that makes a worker take
 * it, for a task whose spawner set PL_TASK_INJECTED before publishing it
 * (a delayed task: its flags are not written again). Not counted as
 * injected from outside. */
void pl_pool_inject_task(struct plait_pool *pool, struct plait_task *t);
/* pl_pool_ref is core.h's (inline). */
void pl_pool_unref(struct plait_pool *pool);

#endif
