/*
 * group_for — loops as tasks of a group (plait_group_for), and
 * plait_fail_item.
 *
 * A loop's chunks are made by recursive halving, each half a task of the
 * group: a chunk task for [b, e) spawns [mid, e) into the group and goes
 * on with [b, mid) until it is no longer than grain, then runs fn on it.
 * A worker's spawns go to its own deque, so thieves take the largest
 * halves and split them on their side (as plait_join's halving did), and
 * every chunk is a task of the group: its policy, limit, deadline and
 * cancellation apply, and its errors are the group's.
 *
 * The loop's record (fn, arg, grain) is shared by its chunk tasks: on the
 * caller's stack for plait_parallel_for (which waits), else on the heap
 * with one reference per chunk task, dropped by the task's drop (so also
 * by a spawn that fails).
 */
#ifndef PLAIT_GROUP_FOR_H
#define PLAIT_GROUP_FOR_H

#include <stdbool.h>
#include <stddef.h>

#include "core.h"

struct pl_loop {
    plait_range_fn fn;
    void *arg;
    size_t grain;
    uint32_t task_flags; /* PL_TASK_INTERNAL for plait_parallel_for */
    bool on_heap;        /* refs counts its chunk tasks */
    _Atomic size_t refs;
};

/* The automatic grain: about eight chunks per worker, enough for balance,
 * few enough that splitting costs nothing next to the chunks. */
size_t pl_loop_grain(const struct plait_pool *pool, size_t n, size_t grain);

/* Spawns the root chunk [begin, end) of loop into g (begin < end). */
int pl_loop_spawn(struct plait_group *g, struct pl_loop *loop, size_t begin, size_t end);

#endif
