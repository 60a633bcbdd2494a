/*
 * delay — spawns that become runnable later (plait_spawn_options.delay_ns):
 * the task is in its group from the spawn (pending, a limit's slot, its
 * handle), and is handed to the pool's queues by the pool's timer when it
 * is due, holding no worker meanwhile (no thread but the timer's, which
 * every deadline shares).
 *
 * Promise: every task armed here is handed to the injection queue exactly
 * once (pl_pool_inject_task) and then run by a worker as any task is:
 *   - when due, by the timer thread;
 *   - at once, as soon as a cancellation reaches it (its group's, by any
 *     cause, a deadline, an enclosing task's through rule 4, the task's
 *     own plait_task_cancel): it then finishes as cancelled without
 *     running (task.c checks its flags before it starts), and the wait
 *     does not wait out the delay;
 *   - at once, as cancelled, when the pool's destroy drains the timer
 *     (pl_timer_drain: the timer that would make it runnable stops), or
 *     when it is armed after that.
 * Its record (pl_delay) goes when it is handed over: none lingers until a
 * cancelled task's original due time.
 *
 * How (delay.c): the record is in the timer's heap (its entry) and in its
 * group's list of sleepers (a hook, cancel.h). Both go in together under
 * the timer lock (the entry's admission, timer.h), the hook under its
 * list's lock inside it: so no fire and no claim sees one without the
 * other. Who hands the task over is decided once, under the list's lock:
 * the timer's fire (and destroy's drain) unlinks the hook unless a
 * canceller claimed it (step 4); a claimed hook is the canceller's, whose
 * wake action (step 5) takes the entry out of the heap (pl_timer_remove:
 * it waits for a fire in progress, which then leaves the record alone; on
 * the timer thread, whose deadline cancellation it runs inside, the lock
 * is already its own) and hands the task over. Lock order: the timer's,
 * then the list's (cancel.h); no list lock is held when the timer's lock
 * is taken (step 5 holds none).
 *
 * Teardown: pool->delayed counts records armed and not yet handed over;
 * destroy drains the timer before it waits for quiescence, and its
 * quiescence waits for the count to reach 0 too (a canceller's hand-over
 * in flight), so no task is handed to a pool whose workers have stopped,
 * and the count's decrement is the hand-over's last access to the pool.
 */
#ifndef PLAIT_DELAY_H
#define PLAIT_DELAY_H

#include <stdint.h>

#include "core.h"

/* Arms t (of a group, counted in it, PL_TASK_INJECTED set, not yet
 * published to any queue) to be handed over at `at` (CLOCK_MONOTONIC ns).
 * 0: armed, or handed over already (a cancellation or destroy came
 * first); t may be over when this returns. ENOMEM or the timer thread's
 * creation error: nothing was done, t is the caller's to undo. */
int pl_delay_arm(struct plait_task *t, uint64_t at);

#endif
