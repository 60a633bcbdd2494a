/*
 * The Chase–Lev deque in the C11 formulation of Lê et al. (PPoPP 2013).
 *
 * Orderings. The paper places two seq_cst fences (one in take, between the
 * store of bottom and the load of top; one in steal, between the load of
 * top and the load of bottom) and a release fence in push. ThreadSanitizer
 * does not model standalone fences, so a fence-based deque gives it false
 * reports and can hide real ones. We therefore fold each seq_cst fence into
 * the accesses it separates, making them seq_cst operations themselves:
 *
 *   take:  store(bottom, b, seq_cst); t = load(top, seq_cst)
 *   steal: t = load(top, seq_cst);    b = load(bottom, seq_cst)
 *
 * All four accesses then sit in the single total order S of seq_cst
 * operations, which is exactly what the paper's proof uses the fences for
 * (the store-buffering "Dekker" pattern): either the thief's load of bottom
 * follows the owner's store in S, and it sees the decremented bottom; or it
 * precedes it, and then the thief's load of top precedes the owner's load of
 * top in S, so the owner reads a top at least as large as the thief's and,
 * when both aim at the last item (t == b), both must win a CAS on top, which
 * only one can. On x86-64 this compiles to the same cost as the fenced
 * version (an xchg for the store instead of mov + mfence; plain loads), so
 * the code TSan checks is the code we ship, on every build.
 *
 * The release fence in push becomes a release store of bottom, which pairs
 * with the thief's (seq_cst, hence acquire) load of bottom: a thief that
 * sees the new bottom also sees the item written to the slot.
 *
 * Slots are atomics accessed relaxed: a thief may read a slot the owner is
 * overwriting after wrap-around; that value is discarded because its CAS on
 * top then fails, and atomic slots keep the race defined.
 *
 * Indices are signed 64-bit so that bottom - 1 on an empty deque stays
 * comparable (the paper's size_t version relies on wrap-around compares).
 */
#include "deque.h"

#include <errno.h>
#include <stdlib.h>

#include "alloc.h"

static struct pl_deque_buf *buf_new(int64_t capacity)
{
    struct pl_deque_buf *b = pl_malloc(sizeof *b + (size_t)capacity * sizeof b->slot[0]);
    if (b == NULL)
        return NULL;
    b->mask = capacity - 1;
    b->next_retired = NULL;
    return b;
}

int pl_deque_init(struct pl_deque *d, size_t capacity)
{
    int64_t cap = 2;
    while ((size_t)cap < capacity)
        cap <<= 1;
    struct pl_deque_buf *b = buf_new(cap);
    if (b == NULL)
        return ENOMEM;
    atomic_init(&d->top, 0);
    atomic_init(&d->bottom, 0);
    atomic_init(&d->buf, b);
    d->retired = NULL;
#if PL_DEBUG
    atomic_init(&d->owner, 0);
#endif
    return 0;
}

void pl_deque_destroy(struct pl_deque *d)
{
    pl_free(atomic_load_explicit(&d->buf, memory_order_relaxed));
    while (d->retired != NULL) {
        struct pl_deque_buf *next = d->retired->next_retired;
        pl_free(d->retired);
        d->retired = next;
    }
}

/* Owner only, out of line: growth is rare. Copies the live range [t, b)
 * into a buffer twice as large. The old buffer is unchanged and stays
 * allocated, so a thief still reading it gets the same item the new buffer
 * holds at that index. */
__attribute__((noinline)) struct pl_deque_buf *pl_deque_grow(struct pl_deque *d,
                                                             struct pl_deque_buf *old, int64_t t,
                                                             int64_t b)
{
    struct pl_deque_buf *nb = buf_new((old->mask + 1) * 2);
    if (nb == NULL)
        return NULL;
    for (int64_t i = t; i < b; i++)
        pl_deque_buf_put(nb, i, pl_deque_buf_get(old, i));
    /* release: a thief that loads the new buffer pointer (acquire) sees the
     * copied slots. */
    atomic_store_explicit(&d->buf, nb, memory_order_release);
    old->next_retired = d->retired;
    d->retired = old;
    return nb;
}

enum pl_steal_result pl_deque_steal(struct pl_deque *d, void **item)
{
    /* seq_cst load of top then seq_cst load of bottom: the folded fence. The
     * load of bottom is also the acquire that pairs with push's release
     * store, so the slot's content is visible. */
    int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_seq_cst);
    if (t >= b)
        return PL_STEAL_EMPTY;
    /* acquire: pairs with grow's release store, so a new buffer's copied
     * slots are visible (the paper's consume). */
    struct pl_deque_buf *a = atomic_load_explicit(&d->buf, memory_order_acquire);
    void *x = pl_deque_buf_get(a, t);
    /* seq_cst: claims index t against the owner's CAS and other thieves. */
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return PL_STEAL_LOST;
    *item = x;
    return PL_STEAL_OK;
}
