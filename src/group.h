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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

/* Counts a new task (or hold) in g, unless g is over: pending is exactly
 * PL_PENDING_WAITING once the wait began and every task finished, and the
 * done event may already be set. A CAS, not an add and an undo: with the
 * undo, a second late spawner could see PL_PENDING_WAITING + 1, take it for
 * a live group and spawn into a finished one. */
static inline bool pl_pending_add(struct plait_group *g)
{
    /* relaxed: the increment reaches whoever decrements through the push
     * (release) and pop/steal (acquire) of the task itself (for a hold,
     * through the holder's own release). */
    size_t p = atomic_load_explicit(&g->pending, memory_order_relaxed);
    do {
        if (p == PL_PENDING_WAITING)
            return false;
        /* relaxed both ways, for the same reason: the CAS needs only its
         * atomicity (no increment lands on a final count); a refusal
         * reads nothing of the group that the caller then relies on. */
    } while (!atomic_compare_exchange_weak_explicit(&g->pending, &p, p + 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    return true;
}

/* Takes one task (or hold) off g's pending count, the counterpart of
 * pl_pending_add; the last one after the wait began sets g's done event.
 * After it g is not touched. */
static inline void pl_pending_drop(struct plait_group *g)
{
    /* acq_rel: release our work to the waiter; the last decrement
     * acquires the others'. */
    if (atomic_fetch_sub_explicit(&g->pending, 1, memory_order_acq_rel) == PL_PENDING_WAITING + 1)
        pl_event_set(&g->done);
}

/* Records a failed task's error, taking ownership of message (may be
 * NULL); cancels the group unless it collects all errors. Called before
 * the task's pending decrement, so the wait sees it. The first
 * PL_GROUP_INLINE_ERRORS errors need no allocation; a later one that
 * cannot be stored for want of memory is not kept (plait.h says so), but
 * its code still decides the wait's result if it is the first. */
void pl_group_add_error(struct plait_group *g, int code, char *message, uint64_t task_id,
                        size_t item);

#endif
