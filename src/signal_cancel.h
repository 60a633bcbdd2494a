/*
 * signal_cancel — plait_group_cancel_async: a cancellation asked for from
 * a signal handler, done by a watcher thread.
 *
 * The handler's side may use nothing that can block or allocate, so it
 * only marks the group asked (a CAS on async_state), pushes it on a
 * process-wide lock-free stack (a CAS loop; the take is an exchange of
 * the whole stack, so there is no ABA, as in task_records.h) and rings the
 * watcher's bell (an RMW and a futex wake). The watcher thread, started
 * once per process by the first plait_group_create and stopped at exit,
 * takes the stack and cancels each group as plait_group_cancel does, then
 * marks it done. plait_group_destroy waits (pl_async_forget) until a group
 * it frees is not still on the stack, so the watcher never touches a
 * freed group.
 *
 * Floor: beside cancel (it calls cancel.h and batch.h only).
 */
#ifndef PLAIT_SIGNAL_CANCEL_H
#define PLAIT_SIGNAL_CANCEL_H

#include "core.h"

/* Whether the watcher runs (signal_cancel.c). */
extern _Atomic bool pl_async_started;

int pl_async_watcher_start_slow(void);

/* Starts the watcher once per process: 0, or pthread_create's error (the
 * next call tries again). One load once it runs: every group creation
 * calls it. */
static inline int pl_async_watcher_start(void)
{
    /* acquire: pairs with the starter's release. */
    if (pl_likely(atomic_load_explicit(&pl_async_started, memory_order_acquire)))
        return 0;
    return pl_async_watcher_start_slow();
}

/* Before g is freed: waits until the watcher is done with g, if g was
 * asked to cancel. */
void pl_async_forget(struct plait_group *g);

#endif
