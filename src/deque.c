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

/*
 * The trim: giving a burst's buffers back (deque.h). The owner, on an
 * empty deque, swaps in a buffer of the initial size (nothing to copy)
 * and frees the retired ones once no thief can still read them. A thief
 * counts itself in `thieves` before it loads buf and uncounts itself
 * after its slot read:
 *
 *   thief: fetch_add(thieves, seq_cst); a = load(buf, seq_cst); read a;
 *          fetch_sub(thieves, release)
 *   owner: store(buf, small, seq_cst); if load(thieves, seq_cst) == 0:
 *          free the retired buffers
 *
 * Store buffering, as in the deque itself: in the total order S, either
 * the thief's add comes after the owner's load, and then its load of buf
 * comes after the owner's store and reads the small buffer (or a later
 * one), never a retired one; or the add comes before the load, and the
 * owner reads 1 or more (it keeps the buffers and tries again at its next
 * empty pop) unless the thief's sub came first too, and then the owner's
 * acquire of that sub (the RMWs on thieves form one release sequence)
 * orders the thief's slot read before the free.
 *
 * What a thief reads in a swapped buffer is discarded: its load of top
 * came before the deque was emptied (or it would not have seen t < b
 * before the swap), and emptying moves top past every index that was in
 * the range (a steal, or the owner's CAS on the last item), so its CAS on
 * top fails. A thief whose t and b were read after the swap reads items
 * pushed into the small buffer, published by push's release of bottom,
 * which comes after the swap's store of buf in the owner's order.
 *
 * Only buffers past PL_DEQUE_KEEP_SLOTS start a trim, so a deque that
 * fills and empties under that size never allocates again.
 */

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
    atomic_init(&d->thieves, 0);
    d->retired = NULL;
    d->init_mask = cap - 1;
    d->trim = false;
#if PL_DEBUG
    atomic_init(&d->owner, 0);
#endif
    return 0;
}

void pl_deque_destroy(struct pl_deque *d)
{
    /* relaxed: destroy runs after every thread that used the deque was
     * joined (pool_free_parts), which orders their accesses before it. */
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
static struct pl_deque_buf *grow(struct pl_deque *d, struct pl_deque_buf *old, int64_t t, int64_t b)
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
    if (nb->mask >= PL_DEQUE_KEEP_SLOTS)
        d->trim = true;
    return nb;
}

/* pl_deque_push on a full deque: grow, then push into the room made (only
 * the owner fills slots, so the room stays). */
int pl_deque_push_grow(struct pl_deque *d, void *item)
{
    /* relaxed: bottom and buf are written only by this thread. acquire:
     * as in pl_deque_push_room (the thieves' CAS on top): grow copies the
     * live range from t. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    struct pl_deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    if (b - t > a->mask && grow(d, a, t, b) == NULL)
        return ENOMEM;
    bool pushed = pl_deque_push_room(d, item);
    PLAIT_ASSERT(pushed);
    (void)pushed;
    return 0;
}

static size_t buf_bytes(const struct pl_deque_buf *b)
{
    return sizeof *b + (size_t)(b->mask + 1) * sizeof b->slot[0];
}

void pl_deque_trim(struct pl_deque *d)
{
    PLAIT_ASSERT(pl_deque_size_hint(d) <= 0);
    /* relaxed: buf is written only by this thread. */
    struct pl_deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    if (a->mask >= PL_DEQUE_KEEP_SLOTS) {
        struct pl_deque_buf *nb = buf_new(d->init_mask + 1);
        if (nb == NULL)
            return; /* out of memory: keep the big one, try again later */
        /* seq_cst: the store-buffering pair with the thieves (above).
         * The range is empty: nothing to copy. */
        atomic_store_explicit(&d->buf, nb, memory_order_seq_cst);
        a->next_retired = d->retired;
        d->retired = a;
    }
    /* seq_cst: the other half of the pair; also acquires the thieves'
     * release decrements (above). A thief holds its count for a few
     * loads: wait that long; one preempted inside its steal defers the
     * frees to the next empty pop. */
    for (unsigned spins = 0; atomic_load_explicit(&d->thieves, memory_order_seq_cst) != 0;
         spins++) {
        if (spins == 64)
            return;
        pl_cpu_relax();
    }
    while (d->retired != NULL) {
        struct pl_deque_buf *next = d->retired->next_retired;
        pl_free_counted(d->retired, buf_bytes(d->retired));
        d->retired = next;
    }
    d->trim = false;
    /* An empty pop of a deque that a burst grew is a quiet point for its
     * worker: hand the burst's memory back now (alloc.h), not only at the
     * next group or pool destroy, which may be long after (the frees
     * deferred past a preempted thief come after that group's destroy). */
    pl_trim_if_due();
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
    /* seq_cst: the trim's store-buffering pair (top of the file). */
    atomic_fetch_add_explicit(&d->thieves, 1, memory_order_seq_cst);
    /* acquire: pairs with grow's release store, so a new buffer's copied
     * slots are visible (the paper's consume); seq_cst: the trim's pair. */
    struct pl_deque_buf *a = atomic_load_explicit(&d->buf, memory_order_seq_cst);
    void *x = pl_deque_buf_get(a, t);
    /* release: the trim, acquiring the count, frees the buffer only after
     * this read. */
    atomic_fetch_sub_explicit(&d->thieves, 1, memory_order_release);
    /* seq_cst: claims index t against the owner's CAS and other thieves. */
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return PL_STEAL_LOST;
    *item = x;
    return PL_STEAL_OK;
}
