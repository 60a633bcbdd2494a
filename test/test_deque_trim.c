/*
 * test_deque_trim — the deque gives a burst's buffers back (deque.h): the
 * owner's pop that finds the deque empty, after it grew past
 * PL_DEQUE_KEEP_SLOTS, swaps in a buffer of the initial size and frees the
 * big ones once no thief is inside a steal. Here thieves steal all the
 * while, so trims race steals (TSan and ASan see a thief that reads a
 * freed buffer); every item must still be taken exactly once, and once
 * the thieves stop, the next empty pop leaves only the initial buffer.
 */
#include "testlib.h"

#include "deque.h"

#define ITEM(i) ((void *)(uintptr_t)((i) + 1))
#define INDEX(p) ((size_t)(uintptr_t)(p)-1)
#define THIEVES 2

static struct pl_deque dq; /* cache-aligned: keep it off the stack */

static struct {
    size_t n;
    _Atomic uint32_t *taken;
    atomic_int stop;
    atomic_int allow;  /* thieves may steal */
    atomic_int inside; /* thieves between their check of allow and the end of a steal */
    atomic_int bad;
} T;

static void take(void *x)
{
    size_t i = INDEX(x);
    if (x == NULL || i >= T.n)
        atomic_fetch_add(&T.bad, 1);
    else
        atomic_fetch_add_explicit(&T.taken[i], 1, memory_order_relaxed);
}

static void *thief(void *arg)
{
    (void)arg;
    while (!tl_raised(&T.stop)) {
        /* seq_cst: the store-buffering pair with pause_thieves. */
        atomic_fetch_add(&T.inside, 1);
        void *x;
        if (atomic_load(&T.allow) && pl_deque_steal(&dq, &x) == PL_STEAL_OK)
            take(x);
        atomic_fetch_sub(&T.inside, 1);
    }
    return NULL;
}

/* So that the pushes grow the deque past the keep size whatever the
 * thieves' pace. */
static void pause_thieves(void)
{
    atomic_store(&T.allow, 0);
    /* A thief that counts itself in after this sees allow clear. */
    TL_AWAIT(atomic_load(&T.inside) == 0);
}

Test(deque_trim, bursts_past_the_keep_size_shrink_back_under_steals, .timeout = TL_TIMEOUT * 2)
{
    cr_assert_eq(pl_deque_init(&dq, 256), 0);
    const int rounds = TL_SIZE(8, 3);
    const size_t per = PL_DEQUE_KEEP_SLOTS + PL_DEQUE_KEEP_SLOTS / 2;
    T.n = (size_t)rounds * per;
    T.taken = calloc(T.n, sizeof *T.taken);
    cr_assert_not_null(T.taken);
    pthread_t th[THIEVES];
    for (int i = 0; i < THIEVES; i++)
        th[i] = tl_thread(thief, NULL);

    size_t next = 0;
    for (int r = 0; r < rounds; r++) {
        pause_thieves();
        for (size_t k = 0; k < per; k++)
            cr_assert_eq(pl_deque_push(&dq, ITEM(next++)), 0);
        struct pl_deque_buf *grown = atomic_load_explicit(&dq.buf, memory_order_relaxed);
        cr_assert_gt(grown->mask + 1, PL_DEQUE_KEEP_SLOTS);
        atomic_store(&T.allow, 1);
        /* Pop to empty: the empty pop trims, with thieves still at it. */
        void *x;
        while ((x = pl_deque_pop(&dq)) != NULL)
            take(x);
    }
    tl_raise(&T.stop);
    for (int i = 0; i < THIEVES; i++)
        tl_join_thread(th[i]);
    cr_assert_null(pl_deque_pop(&dq)); /* no thief now: the trim completes */

    cr_assert_eq(atomic_load(&T.bad), 0);
    for (size_t i = 0; i < T.n; i++)
        cr_assert_eq(atomic_load(&T.taken[i]), 1, "item %zu taken %u times", i,
                     atomic_load(&T.taken[i]));
    struct pl_deque_buf *b = atomic_load_explicit(&dq.buf, memory_order_relaxed);
    cr_assert_eq(b->mask + 1, 256, "capacity %lld after the bursts", (long long)(b->mask + 1));
    cr_assert_null(dq.retired);
    cr_assert(!dq.trim);
    free(T.taken);
    pl_deque_destroy(&dq);
}

/* Under the keep size a deque that fills and empties keeps its buffers. */
Test(deque_trim, bursts_under_the_keep_size_keep_their_buffer, .timeout = TL_TIMEOUT)
{
    cr_assert_eq(pl_deque_init(&dq, 2), 0);
    for (int r = 0; r < 3; r++) {
        for (size_t k = 0; k < PL_DEQUE_KEEP_SLOTS; k++)
            cr_assert_eq(pl_deque_push(&dq, ITEM(k)), 0);
        while (pl_deque_pop(&dq) != NULL) {
        }
    }
    struct pl_deque_buf *b = atomic_load_explicit(&dq.buf, memory_order_relaxed);
    cr_assert_eq(b->mask + 1, PL_DEQUE_KEEP_SLOTS);
    cr_assert(!dq.trim);
    pl_deque_destroy(&dq);
}
