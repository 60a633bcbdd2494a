/*
 * group — task groups: creation, the pending count and its wait, the
 * gathered errors, deadlines and destruction. Cancellation and nesting are
 * cancel.h's; spawning into a group is task.c's.
 *
 * The pending count starts at one, the wait bias, which the first wait
 * removes. It therefore reaches PL_PENDING_WAITING (no task, wait begun)
 * exactly once: when a wait has begun and every task has finished.
 * Whoever brings it there (the last task, or the wait itself when all
 * tasks were done) sets the done event, and no task touches the group
 * after that.
 */
#ifndef PLAIT_GROUP_H
#define PLAIT_GROUP_H

#include <stdint.h>

#include "core.h"

/* Records a failed task's error, taking ownership of message (may be
 * NULL); cancels the group unless it collects all errors. Called before
 * the task's pending decrement, so the wait sees it. The first
 * PL_GROUP_INLINE_ERRORS errors need no allocation; a later one that
 * cannot be stored for want of memory is not kept (plait.h says so), but
 * its code still decides the wait's result if it is the first. */
void pl_group_add_error(struct plait_group *g, int code, char *message, uint64_t task_id);

#endif
