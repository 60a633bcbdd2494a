/*
 * deque — one worker's work-stealing deque.
 *
 * Promise to the other parts: the owner thread pushes and pops at the
 * bottom (LIFO); any thread may steal from the top (FIFO). Every pushed
 * item is returned exactly once, by pop or by steal. The deque grows when
 * full; a retired buffer is kept while a thief may still be reading it
 * (the retired buffers add up to less than the live one, so memory stays
 * within 2x). Once the live buffer grew past PL_DEQUE_KEEP_SLOTS, the
 * owner's pop that finds the deque empty swaps in a buffer of the initial
 * size and frees the big ones as soon as no thief is inside a steal
 * (deque.c, the trim): a burst does not keep its memory. Smaller buffers
 * stay until then or pl_deque_destroy, so that a deque that fills and
 * empties over and over does not allocate each time.
 *
 * Algorithm: Chase & Lev, "Dynamic Circular Work-Stealing Deque" (SPAA
 * 2005), in the C11 formulation of Lê, Pop, Cohen & Zappa Nardelli,
 * "Correct and Efficient Work-Stealing for Weak Memory Models" (PPoPP
 * 2013). The orderings are argued in deque.c.
 */
#ifndef PLAIT_DEQUE_H
#define PLAIT_DEQUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "debug.h"
#include "util.h"

#include <errno.h>

struct pl_deque_buf;

/* Slots a deque keeps when it empties (512 KiB of buffer). */
#define PL_DEQUE_KEEP_SLOTS 65536

struct pl_deque {
    /* Thieves write top; the owner writes bottom: separate cache lines. */
    PL_CACHE_ALIGNED _Atomic int64_t top;
    /* Steals between their load of buf and their last slot read: the
     * trim frees retired buffers only while none is (deque.c). */
    _Atomic uint32_t thieves;
    PL_CACHE_ALIGNED _Atomic int64_t bottom;
    _Atomic(struct pl_deque_buf *) buf;
    struct pl_deque_buf *retired; /* owner only: old buffers, freed by the trim or destroy */
    int64_t init_mask;            /* owner only: the initial capacity - 1 */
    bool trim;                    /* owner only: a trim is due when the deque is empty */
#if PL_DEBUG
    /* pl_debug_thread() of the owner: the first thread to push or pop. */
    _Atomic uintptr_t owner;
#endif
};

/* Result of a steal attempt. */
enum pl_steal_result { PL_STEAL_OK, PL_STEAL_EMPTY, PL_STEAL_LOST };

/* capacity: initial number of slots, rounded up to a power of two (>= 2).
 * 0 or ENOMEM. */
int pl_deque_init(struct pl_deque *d, size_t capacity);
void pl_deque_destroy(struct pl_deque *d);

/* Owner only, on an empty deque: the trim (deque.c). */
void pl_deque_trim(struct pl_deque *d);

struct pl_deque_buf {
    int64_t mask; /* capacity - 1; capacity is a power of two */
    struct pl_deque_buf *next_retired;
    _Atomic(void *) slot[];
};

/* relaxed slot accesses: a slot's content is published by push's release
 * of bottom (or grow's of buf) and claimed by the CAS on top; a racing
 * read after wrap-around is discarded by that CAS (deque.c). */
static inline void *pl_deque_buf_get(struct pl_deque_buf *b, int64_t i)
{
    /* relaxed: see above. */
    return atomic_load_explicit(&b->slot[i & b->mask], memory_order_relaxed);
}

static inline void pl_deque_buf_put(struct pl_deque_buf *b, int64_t i, void *item)
{
    /* relaxed: see above. */
    atomic_store_explicit(&b->slot[i & b->mask], item, memory_order_relaxed);
}

/* The owner's operations are inline: they are the hot path of every
 * spawn and join. Their orderings are argued in deque.c. */

#if PL_DEBUG
/* Debug builds: push and pop are the owner's alone; the first thread to
 * call either becomes the owner. */
static inline bool pl_deque_is_owner(struct pl_deque *d)
{
    uintptr_t none = 0, me = pl_debug_thread();
    /* relaxed: a name, not a publication; the owner reads its own write. */
    return atomic_compare_exchange_strong_explicit(&d->owner, &none, me, memory_order_relaxed,
                                                   memory_order_relaxed) ||
           none == me;
}
#endif

/* Owner only: a push when there is room, without the growth (false,
 * nothing pushed), so that an inlined caller makes no call on its common
 * path (pool.h). */
static inline bool pl_deque_push_room(struct pl_deque *d, void *item)
{
    PLAIT_ASSERT(pl_deque_is_owner(d));
    /* relaxed: bottom is written only by this thread. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    /* acquire: pairs with the thieves' CAS on top, so that slots they have
     * taken are not overwritten before they read them. */
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    /* relaxed: buf is written only by this thread. */
    struct pl_deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    if (pl_unlikely(b - t > a->mask))
        return false;
    pl_deque_buf_put(a, b, item);
    /* release: publishes the slot to a thief that acquires bottom. */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    return true;
}

/* Out of line: growth is rare (deque.c). */
int pl_deque_push_grow(struct pl_deque *d, void *item);

/* Owner only. 0, or ENOMEM when the deque is full and cannot grow (the
 * item is then not pushed). */
static inline int pl_deque_push(struct pl_deque *d, void *item)
{
    if (pl_likely(pl_deque_push_room(d, item)))
        return 0;
    return pl_deque_push_grow(d, item);
}

/* Owner only. The newest item, or NULL when empty. */
static inline void *pl_deque_pop(struct pl_deque *d)
{
    PLAIT_ASSERT(pl_deque_is_owner(d));
    /* relaxed, both: bottom and buf are written only by this thread. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    struct pl_deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    /* seq_cst store then seq_cst load: the folded fence (see the top of the
     * file). Reserves slot b before looking at top. */
    atomic_store_explicit(&d->bottom, b, memory_order_seq_cst);
    int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
    if (t > b) {
        /* Empty: restore bottom. relaxed: only this thread writes bottom,
         * and no thief can take anything from an empty range. */
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
        if (pl_unlikely(d->trim))
            pl_deque_trim(d);
        return NULL;
    }
    void *item = pl_deque_buf_get(a, b);
    if (t == b) {
        /* The last item: race the thieves for it with a CAS on top.
         * seq_cst: part of the same total order as the thieves' CAS. */
        if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                     memory_order_relaxed))
            item = NULL;
        /* relaxed: top now equals b + 1 either way, so the deque reads
         * empty to thieves whatever bottom they see. */
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    }
    return item;
}

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
