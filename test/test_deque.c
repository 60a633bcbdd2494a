/*
 * test_deque — the work-stealing deque (src/deque.h): the owner's LIFO end,
 * the thieves' FIFO end, growth from a tiny buffer, and a concurrent run
 * in which every pushed item must be taken exactly once.
 */
#include "testlib.h"

#include "deque.h"

#define ITEM(i) ((void *)(uintptr_t)((i) + 1))
#define INDEX(p) ((size_t)(uintptr_t)(p)-1)

static struct pl_deque dq; /* cache-aligned: keep it off the stack */

static void deque_tiny(void)
{
    cr_assert_eq(pl_deque_init(&dq, 2), 0);
}

static void deque_fini(void)
{
    pl_deque_destroy(&dq);
}

Test(deque, empty_pop_and_steal_find_nothing, .init = deque_tiny, .fini = deque_fini)
{
    void *x = (void *)1;
    cr_assert_null(pl_deque_pop(&dq));
    cr_assert_eq(pl_deque_steal(&dq, &x), PL_STEAL_EMPTY);
    cr_assert_eq(pl_deque_size_hint(&dq), 0);
}

Test(deque, owner_pops_newest_first, .init = deque_tiny, .fini = deque_fini)
{
    for (size_t i = 0; i < 10; i++)
        cr_assert_eq(pl_deque_push(&dq, ITEM(i)), 0);
    cr_assert_eq(pl_deque_size_hint(&dq), 10);
    for (size_t i = 10; i-- > 0;)
        cr_assert_eq(pl_deque_pop(&dq), ITEM(i), "pop should return item %zu", i);
    cr_assert_null(pl_deque_pop(&dq));
}

Test(deque, thieves_take_oldest_first, .init = deque_tiny, .fini = deque_fini)
{
    for (size_t i = 0; i < 10; i++)
        cr_assert_eq(pl_deque_push(&dq, ITEM(i)), 0);
    for (size_t i = 0; i < 10; i++) {
        void *x = NULL;
        cr_assert_eq(pl_deque_steal(&dq, &x), PL_STEAL_OK);
        cr_assert_eq(x, ITEM(i), "steal should return item %zu", i);
    }
    void *x = NULL;
    cr_assert_eq(pl_deque_steal(&dq, &x), PL_STEAL_EMPTY);
    cr_assert_null(pl_deque_pop(&dq));
}

Test(deque, pop_and_steal_meet_in_the_middle, .init = deque_tiny, .fini = deque_fini)
{
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(pl_deque_push(&dq, ITEM(i)), 0);
    void *x = NULL;
    cr_assert_eq(pl_deque_steal(&dq, &x), PL_STEAL_OK);
    cr_assert_eq(x, ITEM(0));
    cr_assert_eq(pl_deque_pop(&dq), ITEM(3));
    cr_assert_eq(pl_deque_steal(&dq, &x), PL_STEAL_OK);
    cr_assert_eq(x, ITEM(1));
    cr_assert_eq(pl_deque_pop(&dq), ITEM(2), "the last item goes to the owner");
    cr_assert_null(pl_deque_pop(&dq));
    cr_assert_eq(pl_deque_steal(&dq, &x), PL_STEAL_EMPTY);
    /* Usable again after running empty. */
    cr_assert_eq(pl_deque_push(&dq, ITEM(7)), 0);
    cr_assert_eq(pl_deque_pop(&dq), ITEM(7));
}

Test(deque, grows_from_two_slots_to_100k_items, .init = deque_tiny, .fini = deque_fini)
{
    const size_t n = 100000;
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(pl_deque_push(&dq, ITEM(i)), 0);
    cr_assert_eq(pl_deque_size_hint(&dq), (int64_t)n);
    for (size_t i = n; i-- > 0;) {
        void *x = pl_deque_pop(&dq);
        if (x != ITEM(i))
            cr_assert_fail("pop %zu returned %p", i, x);
    }
    cr_assert_null(pl_deque_pop(&dq));
}

Test(deque, growth_keeps_the_stolen_end_in_order, .init = deque_tiny, .fini = deque_fini)
{
    /* Steal some first so that the live range starts mid-buffer when the
     * buffer grows: the copy must keep indices, not positions. */
    const size_t n = 50000;
    size_t next_steal = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(pl_deque_push(&dq, ITEM(i)), 0);
        if (i % 3 == 0) {
            void *x = NULL;
            cr_assert_eq(pl_deque_steal(&dq, &x), PL_STEAL_OK);
            if (x != ITEM(next_steal))
                cr_assert_fail("steal returned %p, want item %zu", x, next_steal);
            next_steal++;
        }
    }
    /* Half of the rest by steals (oldest first), half by pops (newest first). */
    size_t left = n - next_steal, top = next_steal, bottom = n;
    for (size_t k = 0; k < left; k++) {
        void *x = NULL;
        if (k % 2 == 0) {
            cr_assert_eq(pl_deque_steal(&dq, &x), PL_STEAL_OK);
            if (x != ITEM(top))
                cr_assert_fail("steal returned %p, want item %zu", x, top);
            top++;
        } else {
            x = pl_deque_pop(&dq);
            bottom--;
            if (x != ITEM(bottom))
                cr_assert_fail("pop returned %p, want item %zu", x, bottom);
        }
    }
    cr_assert_eq(top, bottom);
    cr_assert_null(pl_deque_pop(&dq));
}

Test(deque, wraps_around_a_small_buffer_without_growing, .init = deque_tiny, .fini = deque_fini)
{
    /* Never more than two items at once: indices run far past the buffer
     * size and wrap many times. */
    for (size_t i = 0; i < 10000; i += 2) {
        cr_assert_eq(pl_deque_push(&dq, ITEM(i)), 0);
        cr_assert_eq(pl_deque_push(&dq, ITEM(i + 1)), 0);
        void *x = NULL;
        cr_assert_eq(pl_deque_steal(&dq, &x), PL_STEAL_OK);
        cr_assert_eq(x, ITEM(i));
        cr_assert_eq(pl_deque_pop(&dq), ITEM(i + 1));
    }
    cr_assert_eq(pl_deque_size_hint(&dq), 0);
}

/* ---- Concurrent: one owner, three thieves ---------------------------------- */

#define THIEVES 3

struct conc {
    size_t n;
    _Atomic uint32_t *taken; /* per item: how many times it was taken */
    atomic_size_t total;
    atomic_int owner_done;
    atomic_size_t stolen;
    atomic_int go;
};

static struct conc C;

static void count_item(void *x)
{
    size_t i = INDEX(x);
    if (x == NULL || i >= C.n) {
        /* Recorded as an impossible count, reported by the test thread. */
        atomic_fetch_add(&C.taken[0], 1000000);
        return;
    }
    atomic_fetch_add_explicit(&C.taken[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&C.total, 1, memory_order_relaxed);
}

static void *thief_main(void *arg)
{
    (void)arg;
    while (!tl_raised(&C.go))
        sched_yield();
    size_t mine = 0;
    for (;;) {
        void *x = NULL;
        enum pl_steal_result r = pl_deque_steal(&dq, &x);
        if (r == PL_STEAL_OK) {
            count_item(x);
            mine++;
        } else if (r == PL_STEAL_EMPTY && tl_raised(&C.owner_done)) {
            /* The owner has emptied the deque and will push no more. */
            break;
        }
    }
    atomic_fetch_add(&C.stolen, mine);
    return NULL;
}

Test(deque, owner_and_three_thieves_take_every_item_exactly_once, .init = deque_tiny,
     .fini = deque_fini, .timeout = TL_TIMEOUT * 2)
{
    C.n = TL_SIZE(400000, 40000);
    C.taken = calloc(C.n, sizeof *C.taken);
    cr_assert_not_null(C.taken);
    atomic_init(&C.total, 0);
    atomic_init(&C.owner_done, 0);
    atomic_init(&C.stolen, 0);
    atomic_init(&C.go, 0);

    pthread_t th[THIEVES];
    for (int i = 0; i < THIEVES; i++)
        th[i] = tl_thread(thief_main, (void *)(uintptr_t)i);
    tl_raise(&C.go);

    /* Bursts of pushes (some long, so the buffer grows while thieves are
     * stealing from it), each followed by some pops. */
    uint64_t rng = 0x243f6a8885a308d3ull;
    size_t pushed = 0, popped = 0;
    while (pushed < C.n) {
        size_t burst = (tl_xorshift(&rng) % 8 == 0) ? 1 + tl_xorshift(&rng) % 2000
                                                    : 1 + tl_xorshift(&rng) % 32;
        if (burst > C.n - pushed)
            burst = C.n - pushed;
        for (size_t k = 0; k < burst; k++) {
            if (pl_deque_push(&dq, ITEM(pushed)) != 0)
                cr_assert_fail("push failed at item %zu", pushed);
            pushed++;
        }
        size_t pops = tl_xorshift(&rng) % (burst + 1);
        for (size_t k = 0; k < pops; k++) {
            void *x = pl_deque_pop(&dq);
            if (x == NULL)
                break; /* emptied by thieves (or lost the last one to them) */
            count_item(x);
            popped++;
        }
    }
    /* Drain: pop until empty. A NULL pop means the deque is empty (a lost
     * race for the last item means a thief has it). */
    for (;;) {
        void *x = pl_deque_pop(&dq);
        if (x == NULL)
            break;
        count_item(x);
        popped++;
    }
    tl_raise(&C.owner_done);
    for (int i = 0; i < THIEVES; i++)
        tl_join_thread(th[i]);

    size_t stolen = atomic_load(&C.stolen);
    cr_log_info("deque: %zu items, %zu popped by the owner, %zu stolen", C.n, popped, stolen);
    cr_assert_eq(popped + stolen, C.n, "popped %zu + stolen %zu != pushed %zu", popped, stolen,
                 C.n);
    cr_assert_eq(atomic_load(&C.total), C.n);
    for (size_t i = 0; i < C.n; i++) {
        uint32_t t = atomic_load(&C.taken[i]);
        if (t != 1)
            cr_assert_fail("item %zu taken %u times", i, t);
    }
    free(C.taken);
}
