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
 */
#ifndef PLAIT_POOL_H
#define PLAIT_POOL_H

#include "core.h"

int pl_foreign_begin(struct plait_pool *pool);
void pl_foreign_end(struct plait_pool *pool);
void pl_pool_push_task(struct plait_pool *pool, struct plait_task *t);

#endif
