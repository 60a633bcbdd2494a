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

/* A spawn into g for plait's own loops (group_for.c), without a handle:
 * the task's range_begin/range_end are set to begin/end before it is
 * published. flags: PL_TASK_INTERNAL or 0; drop as plait_spawn_with's
 * (also called here on an error). */
int pl_spawn_range(struct plait_group *g, plait_fn fn, void *arg, uint32_t flags,
                   void (*drop)(void *), size_t begin, size_t end);

#endif
