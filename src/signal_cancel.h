/*
 * signal_cancel — plait_group_cancel_async: a cancellation asked for from
 * a signal handler, done by a watcher thread.
 *
 * The handler's side may use nothing that can block or allocate, so it
 * only marks the group asked (a CAS on async_state), pushes it on a
 * process-wide lock-free stack (a CAS loop; the take is an exchange of
 * the whole stack, so there is no ABA, as in task_records.h) and rings the
 * watcher's bell (an RMW and a futex wake). The watcher thread takes the
 * stack and cancels each group as plait_group_cancel does, then marks it
 * done. plait_group_destroy waits (pl_async_group_destroyed) until a group
 * it frees is not still on the stack, so the watcher never touches a freed
 * group.
 *
 * Only groups created with PLAIT_GROUP_CANCEL_ASYNC may be asked, and the
 * watcher runs exactly while such groups exist: the first one's creation
 * starts it, the last one's destruction stops and joins it (under one
 * mutex; these groups are few). A program that never asks for the flag
 * has no extra thread, so it stays single-threaded between pools (fork,
 * ThreadSanitizer's fork check).
 *
 * Floor: beside cancel (it calls cancel.h and batch.h only).
 */
#ifndef PLAIT_SIGNAL_CANCEL_H
#define PLAIT_SIGNAL_CANCEL_H

#include "core.h"

/* A PLAIT_GROUP_CANCEL_ASYNC group is being created: 0, or pthread_create's
 * error when it would be the first and the watcher cannot start. */
int pl_async_group_created(void);

/* Before such a group g is freed: waits until the watcher is done with g,
 * and stops the watcher if g was the last one. */
void pl_async_group_destroyed(struct plait_group *g);

#endif
