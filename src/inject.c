/*
 * The injection queue: a Concurrency Kit MPMC ring (lock-free, bounded)
 * with a mutex-guarded overflow list behind it.
 *
 * Order: when the ring is full, items go to the overflow list; consumers
 * take from the ring first, then from the overflow list. FIFO order across
 * the two is not kept exactly (a later put may land in a ring slot freed
 * before an earlier overflowed item is taken); no item is lost or taken
 * twice, which is what the pool needs. The ring's own correctness argument
 * is Concurrency Kit's (ck_ring.h: sequence-checked CAS on the producer and
 * consumer counters).
 */
#include "inject.h"

#include <errno.h>

#include "alloc.h"

int pl_inject_init(struct pl_inject *q, unsigned capacity)
{
    q->slots = pl_calloc(capacity, sizeof *q->slots);
    if (q->slots == NULL)
        return ENOMEM;
    ck_ring_init(&q->ring, capacity);
    atomic_init(&q->overflow_count, 0);
    if (pthread_mutex_init(&q->overflow_lock, NULL) != 0) {
        pl_free(q->slots);
        return ENOMEM;
    }
    q->overflow_head = q->overflow_tail = NULL;
    return 0;
}

void pl_inject_destroy(struct pl_inject *q)
{
    pthread_mutex_destroy(&q->overflow_lock);
    pl_free(q->slots);
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
        atomic_fetch_sub_explicit(&q->overflow_count, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&q->overflow_lock);
    return item;
}

void pl_inject_put(struct pl_inject *q, void *item)
{
    /* Keep FIFO-ish order: once items overflow, later ones follow them. */
    if (atomic_load_explicit(&q->overflow_count, memory_order_relaxed) == 0 &&
        ck_ring_enqueue_mpmc(&q->ring, q->slots, item))
        return;
    overflow_put(q, item);
}

void *pl_inject_take(struct pl_inject *q)
{
    void *item;
    if (ck_ring_dequeue_mpmc(&q->ring, q->slots, &item))
        return item;
    if (atomic_load_explicit(&q->overflow_count, memory_order_relaxed) != 0)
        return overflow_take(q);
    return NULL;
}

bool pl_inject_maybe_nonempty(struct pl_inject *q)
{
    return ck_ring_size(&q->ring) != 0 ||
           atomic_load_explicit(&q->overflow_count, memory_order_relaxed) != 0;
}
