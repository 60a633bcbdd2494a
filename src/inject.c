/*
 * The injection queue: a bounded MPMC ring with a mutex-guarded overflow
 * list behind it.
 *
 * The ring is Dmitry Vyukov's bounded MPMC queue (published on
 * 1024cores.net, 2010): each cell carries a sequence number that says
 * whose turn it is. For position pos, a cell is free for the producer of
 * pos when seq == pos, and full for the consumer of pos when
 * seq == pos + 1; the consumer hands it back for the next lap with
 * seq = pos + capacity. Producers (and consumers) claim positions with a
 * CAS on their own counter; the data itself is handed over by the
 * cell's sequence number, a release store paired with an acquire load.
 * Correctness: a position is claimed by exactly one thread (the CAS), and
 * a cell is read only after the sequence number published by its writer
 * (release/acquire), so every item is taken once and seen whole.
 *
 * We do not use Concurrency Kit's ck_ring here, though it is the same
 * kind of ring: ck_pr's accesses are volatile loads and stores with
 * separate fences, which ThreadSanitizer cannot follow, so every task
 * handed through it showed as a data race in our own code. The C11 version
 * lets the TSan build check the code we ship.
 *
 * Order across the ring and the overflow list is FIFO-ish, not exact; no
 * item is lost or taken twice, which is what the pool needs.
 */
#include "inject.h"

#include <errno.h>
#include <stdint.h>

#include "alloc.h"

struct pl_inject_cell {
    _Atomic size_t seq;
    void *item; /* handed over by seq (release/acquire) */
};

int pl_inject_init(struct pl_inject *q, unsigned capacity)
{
    size_t cap = 4;
    while (cap < capacity)
        cap <<= 1;
    q->cells = pl_malloc_aligned(cap * sizeof *q->cells);
    if (q->cells == NULL)
        return ENOMEM;
    for (size_t i = 0; i < cap; i++) {
        atomic_init(&q->cells[i].seq, i);
        q->cells[i].item = NULL;
    }
    q->mask = cap - 1;
    atomic_init(&q->enqueue_pos, 0);
    atomic_init(&q->dequeue_pos, 0);
    atomic_init(&q->overflow_count, 0);
    if (pthread_mutex_init(&q->overflow_lock, NULL) != 0) {
        pl_free(q->cells);
        return ENOMEM;
    }
    q->overflow_head = q->overflow_tail = NULL;
    return 0;
}

void pl_inject_destroy(struct pl_inject *q)
{
    pthread_mutex_destroy(&q->overflow_lock);
    pl_free(q->cells);
}

static void overflow_put(struct pl_inject *q, void *item)
{
    *(void **)item = NULL;
    pthread_mutex_lock(&q->overflow_lock);
    if (q->overflow_tail != NULL)
        *(void **)q->overflow_tail = item;
    else
        q->overflow_head = item;
    q->overflow_tail = item;
    /* relaxed: the count is a hint; the list itself is read under the lock. */
    atomic_fetch_add_explicit(&q->overflow_count, 1, memory_order_relaxed);
    pthread_mutex_unlock(&q->overflow_lock);
}

static void *overflow_take(struct pl_inject *q)
{
    void *item = NULL;
    pthread_mutex_lock(&q->overflow_lock);
    if (q->overflow_head != NULL) {
        item = q->overflow_head;
        q->overflow_head = *(void **)item;
        if (q->overflow_head == NULL)
            q->overflow_tail = NULL;
        /* relaxed: as in overflow_put. */
        atomic_fetch_sub_explicit(&q->overflow_count, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&q->overflow_lock);
    return item;
}

static bool ring_put(struct pl_inject *q, void *item)
{
    /* relaxed: a starting guess; the CAS below decides. */
    size_t pos = atomic_load_explicit(&q->enqueue_pos, memory_order_relaxed);
    struct pl_inject_cell *c;
    for (;;) {
        c = &q->cells[pos & q->mask];
        /* acquire: pairs with the consumer's release that freed the cell,
         * so its read of the old item is done before we overwrite it. */
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            /* relaxed: the CAS only claims the position; the data is
             * published by the cell's seq. */
            if (atomic_compare_exchange_weak_explicit(&q->enqueue_pos, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            return false; /* full */
        } else {
            /* relaxed: another producer took pos; a fresh guess. */
            pos = atomic_load_explicit(&q->enqueue_pos, memory_order_relaxed);
        }
    }
    c->item = item;
    /* release: publishes item to the consumer of pos. */
    atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
    return true;
}

static void *ring_take(struct pl_inject *q)
{
    /* relaxed: a starting guess, as in ring_put. */
    size_t pos = atomic_load_explicit(&q->dequeue_pos, memory_order_relaxed);
    struct pl_inject_cell *c;
    for (;;) {
        c = &q->cells[pos & q->mask];
        /* acquire: pairs with the producer's release of seq = pos + 1. */
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
        if (dif == 0) {
            /* relaxed: claims the position only; the item came with the
             * acquire of seq above. */
            if (atomic_compare_exchange_weak_explicit(&q->dequeue_pos, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            return NULL; /* empty (or its producer is mid-way: it notifies after) */
        } else {
            /* relaxed: another consumer took pos; a fresh guess. */
            pos = atomic_load_explicit(&q->dequeue_pos, memory_order_relaxed);
        }
    }
    void *item = c->item;
    /* release: our read of item is done; the cell is free for the next lap. */
    atomic_store_explicit(&c->seq, pos + q->mask + 1, memory_order_release);
    return item;
}

void pl_inject_put(struct pl_inject *q, void *item)
{
    /* Keep FIFO-ish order: once items overflow, later ones follow them.
     * relaxed: a hint; whichever way a stale count sends the item, it is
     * in the ring or the list, both of which takers look at. */
    if (atomic_load_explicit(&q->overflow_count, memory_order_relaxed) == 0 && ring_put(q, item))
        return;
    overflow_put(q, item);
}

void *pl_inject_take(struct pl_inject *q)
{
    void *item = ring_take(q);
    if (item != NULL)
        return item;
    /* relaxed: a hint that saves the lock when the list is empty. A stale
     * 0 misses an item only for this take: its producer's notify follows
     * the put, and the parker's re-check after its RMW on the lot state
     * (pl_inject_maybe_nonempty) sees the count (park.c). */
    if (atomic_load_explicit(&q->overflow_count, memory_order_relaxed) != 0)
        return overflow_take(q);
    return NULL;
}

bool pl_inject_maybe_nonempty(struct pl_inject *q)
{
    /* relaxed: a hint, read after the parker's RMW on the lot state, which
     * orders it after any put whose producer notified (park.c). */
    return atomic_load_explicit(&q->enqueue_pos, memory_order_relaxed) !=
               atomic_load_explicit(&q->dequeue_pos, memory_order_relaxed) ||
           atomic_load_explicit(&q->overflow_count, memory_order_relaxed) != 0;
}
