/*
 * timer — group deadlines: one thread per pool, started by the first
 * deadline, that cancels (pl_group_time_out) every group whose deadline
 * has passed, whether or not anyone waits on it.
 *
 * Promise: after pl_timer_remove(pool, g) returns, the timer thread does
 * not touch g again (it cancels groups under the timer lock, which remove
 * takes). pl_timer_remove needs only the pool's record (pool.h: it lives
 * while g does), none of what destroy frees, and may run before, during
 * or after pl_timer_stop. pl_timer_set refuses (EINVAL) a group that a wait has closed;
 * a deadline set while a wait closes the group is either refused or
 * removed by that wait's pl_timer_remove (the store-buffering pair on
 * had_deadline and PL_G_CLOSED, timer.c and plait_group_wait).
 */
#ifndef PLAIT_TIMER_H
#define PLAIT_TIMER_H

#include <stdint.h>

#include "core.h"

/* Sets or moves g's deadline (CLOCK_MONOTONIC ns). 0, EINVAL (closed),
 * ESHUTDOWN (the timer was stopped), ENOMEM, or the timer thread's
 * creation error. */
int pl_timer_set(struct plait_pool *pool, struct plait_group *g, uint64_t deadline);
void pl_timer_remove(struct plait_pool *pool, struct plait_group *g);
/* Stops the timer thread and forgets every deadline (pool destroy); a
 * later pl_timer_set gets ESHUTDOWN, and pl_timer_remove still works. */
void pl_timer_stop(struct plait_pool *pool);
/* Frees the timer record (with the pool's record, once nothing refers to
 * the pool). */
void pl_timer_free(struct plait_pool *pool);

#endif
