/*
 * timed — what the pool's timer holds (timer.h): an entry that carries
 * the action to run when its time comes, the way a job carries its runner
 * (job.h). Its owner embeds it and recovers itself with pl_container_of:
 * a group for its deadline (group.c), a delayed task's record for its
 * delay (delay.c). A layout only, so that core.h can embed it.
 */
#ifndef PLAIT_TIMED_H
#define PLAIT_TIMED_H

#include <stddef.h>
#include <stdint.h>

struct pl_timed;
typedef void (*pl_timed_fn)(struct pl_timed *e);

struct pl_timed {
    uint64_t at;       /* CLOCK_MONOTONIC ns (the timer lock) */
    size_t heap_index; /* SIZE_MAX: not in the heap (the timer lock) */
    pl_timed_fn fire;  /* set before the first pl_timer_set */
    pl_timed_fn drain; /* NULL: forgotten at stop */
};

static inline void pl_timed_init(struct pl_timed *e, pl_timed_fn fire, pl_timed_fn drain)
{
    e->at = 0;
    e->heap_index = SIZE_MAX;
    e->fire = fire;
    e->drain = drain;
}

#endif
