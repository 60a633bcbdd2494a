/*
 * deque — one worker's work-stealing deque.
 *
 * Promise to the other parts: the owner thread pushes and pops at the
 * bottom (LIFO); any thread may steal from the top (FIFO). Every pushed
 * item is returned exactly once, by pop or by steal. The deque grows when
 * full; a retired buffer is kept until pl_deque_destroy, because a thief
 * may still be reading it (retire-until-destroy: the retired buffers add
 * up to less than the live one, so memory stays within 2x).
 *
 * Algorithm: Chase & Lev, "Dynamic Circular Work-Stealing Deque" (SPAA
 * 2005), in the C11 formulation of Lê, Pop, Cohen & Zappa Nardelli,
 * "Correct and Efficient Work-Stealing for Weak Memory Models" (PPoPP
 * 2013). The orderings are argued in deque.c.
 */
#ifndef PLAIT_DEQUE_H
#define PLAIT_DEQUE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct pl_deque_buf;

struct pl_deque {
    /* Thieves write top; the owner writes bottom: separate cache lines. */
    PL_CACHE_ALIGNED _Atomic int64_t top;
    PL_CACHE_ALIGNED _Atomic int64_t bottom;
    _Atomic(struct pl_deque_buf *) buf;
    struct pl_deque_buf *retired; /* owner only: old buffers, freed at destroy */
};

/* Result of a steal attempt. */
enum pl_steal_result { PL_STEAL_OK, PL_STEAL_EMPTY, PL_STEAL_LOST };

/* capacity: initial number of slots, rounded up to a power of two (>= 2).
 * 0 or ENOMEM. */
int pl_deque_init(struct pl_deque *d, size_t capacity);
void pl_deque_destroy(struct pl_deque *d);

/* Owner only. 0, or ENOMEM when the deque is full and cannot grow (the
 * item is then not pushed). */
int pl_deque_push(struct pl_deque *d, void *item);

/* Owner only. The newest item, or NULL when empty. */
void *pl_deque_pop(struct pl_deque *d);

/* Any thread. PL_STEAL_OK with *item set to the oldest item; PL_STEAL_EMPTY;
 * or PL_STEAL_LOST when another thread took the item first (retry later). */
enum pl_steal_result pl_deque_steal(struct pl_deque *d, void **item);

/* Any thread: a snapshot that may be stale by the time it returns. */
static inline int64_t pl_deque_size_hint(struct pl_deque *d)
{
    /* relaxed: a hint for victim choice and parking re-checks, which
     * recheck with the real operations. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    return b - t;
}

#endif
