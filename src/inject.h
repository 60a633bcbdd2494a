/*
 * inject — the pool's injection queue: the way in for work from threads
 * that are not workers of the pool (they cannot touch a worker's deque).
 *
 * Promise: multi-producer, multi-consumer, unbounded (a bounded ring
 * takes the common case without locks; when it is full the rest goes to a
 * mutex-guarded overflow list).
 * Every item put is taken exactly once. pl_inject_put never fails.
 * Items are linked through their first word when they overflow, so every
 * item must point to at least sizeof(void *) writable bytes that the queue
 * may use while it holds the item.
 */
#ifndef PLAIT_INJECT_H
#define PLAIT_INJECT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

struct pl_inject_cell;

struct pl_inject {
    PL_CACHE_ALIGNED _Atomic size_t enqueue_pos;
    PL_CACHE_ALIGNED _Atomic size_t dequeue_pos;
    PL_CACHE_ALIGNED struct pl_inject_cell *cells;
    size_t mask;
    /* Items in the overflow list; read without the lock as a hint. */
    PL_CACHE_ALIGNED _Atomic size_t overflow_count;
    pthread_mutex_t overflow_lock;
    void *overflow_head, *overflow_tail;
};

/* capacity: ring slots, a power of two >= 4. 0 or ENOMEM. */
int pl_inject_init(struct pl_inject *q, unsigned capacity);
void pl_inject_destroy(struct pl_inject *q);

void pl_inject_put(struct pl_inject *q, void *item);
/* NULL when empty. */
void *pl_inject_take(struct pl_inject *q);
/* A hint: may be stale, used before parking (which rechecks). */
bool pl_inject_maybe_nonempty(struct pl_inject *q);

#endif
