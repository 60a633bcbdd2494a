/*
 * timer — timed entries: one thread per pool, started by the first entry,
 * that fires every entry whose time has passed, whether or not anyone
 * waits. An entry carries its own action, the way a job carries its runner
 * (job.h): the timer names none of its clients. A group embeds one for its
 * deadline (group.c), a delayed task's record one for its delay (delay.c).
 *
 * Promises:
 *   - fire(e) is called on the timer thread, under the timer lock, once e
 *     is out of the heap, at or after e->at; it may free e. It may call
 *     pl_timer_remove (of any entry of this pool's timer: it is told that
 *     the lock is already its own) but no pl_timer_set.
 *   - After pl_timer_remove(pool, e) returns, the timer thread does not
 *     touch e again (it fires entries under the lock remove takes). It
 *     needs only the pool's record (pool.h: it lives while e's owner
 *     does), none of what destroy frees, and may run before, during or
 *     after pl_timer_stop.
 *   - admit(e), given to pl_timer_set, runs under the timer lock just
 *     before e goes into the heap (nothing can fail after it); false
 *     refuses the entry (EINVAL). The owner's own checks and links that
 *     must come before any fire or remove can see e go there (a group's
 *     CLOSED, a delayed task's cancellation hook).
 *   - Entries with a drain action are the ones that must not be lost at
 *     the pool's destroy: pl_timer_drain takes each out and calls
 *     drain(e) (under the lock, as fire), and refuses (ESHUTDOWN) every
 *     such entry set after it. Entries without one (deadlines) keep
 *     firing until pl_timer_stop forgets them.
 *
 * Lock order: the timer lock, then whatever the actions take (the locks
 * of cancellation, cancel.h; the injection queue's).
 */
#ifndef PLAIT_TIMER_H
#define PLAIT_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "timed.h"

/* Sets or moves e's time (CLOCK_MONOTONIC ns). 0, EINVAL (admit refused),
 * ESHUTDOWN (the timer was stopped, or drained and e has a drain action),
 * ENOMEM, or the timer thread's creation error; on an error e is not in
 * the heap (a move that fails leaves e where it was). admit may be NULL. */
int pl_timer_set(struct plait_pool *pool, struct pl_timed *e, uint64_t at,
                 bool (*admit)(struct pl_timed *e));
void pl_timer_remove(struct plait_pool *pool, struct pl_timed *e);
/* Pool destroy, before it waits for quiescence: drains the entries that
 * must not be lost (above). */
void pl_timer_drain(struct plait_pool *pool);
/* Stops the timer thread and forgets every entry left (pool destroy, once
 * quiescent); a later pl_timer_set gets ESHUTDOWN, and pl_timer_remove
 * still works. */
void pl_timer_stop(struct plait_pool *pool);
/* Frees the timer record (with the pool's record, once nothing refers to
 * the pool). */
void pl_timer_free(struct plait_pool *pool);

#endif
