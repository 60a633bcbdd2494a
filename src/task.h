/*
 * task — spawning, running and finishing tasks, and task handles.
 *
 * A task spawned with plait_go has no handle: one owner, no reference
 * count traffic, no completion event. A task record carries its runner
 * (job.h), so workers run it without knowing it is a task.
 */
#ifndef PLAIT_TASK_H
#define PLAIT_TASK_H

#include <stdint.h>

#include "core.h"

/* A lone task (no group) with a handle, from any thread; NULL with *err
 * set. flags: PL_TASK_INTERNAL or 0. */
struct plait_task *pl_submit(struct plait_pool *pool, plait_fn fn, void *arg, uint32_t flags,
                             int *err);

#endif
