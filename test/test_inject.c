/*
 * test_inject — the injection queue (src/inject.h): multi-producer,
 * multi-consumer, unbounded (ring + overflow list). Every item put must be
 * taken exactly once, also past the ring's capacity.
 *
 * Items are structs whose first word the queue may use as a link (the
 * promise in inject.h); the payload after it must come back untouched.
 */
#include "testlib.h"

#include "inject.h"

struct item {
    void *link; /* the queue's, while it holds the item */
    uint32_t producer;
    uint32_t seq;
    _Atomic uint32_t taken;
};

static struct pl_inject q; /* cache-aligned: keep it off the stack */

static void inject_tiny(void)
{
    cr_assert_eq(pl_inject_init(&q, 4), 0);
}

static void inject_fini(void)
{
    pl_inject_destroy(&q);
}

Test(inject, empty_queue_takes_nothing, .init = inject_tiny, .fini = inject_fini)
{
    cr_assert_null(pl_inject_take(&q));
    cr_assert_not(pl_inject_maybe_nonempty(&q));
}

Test(inject, items_within_capacity_come_back_once, .init = inject_tiny, .fini = inject_fini)
{
    struct item it[3] = {{.seq = 0}, {.seq = 1}, {.seq = 2}};
    for (int i = 0; i < 3; i++)
        pl_inject_put(&q, &it[i]);
    cr_assert(pl_inject_maybe_nonempty(&q));
    int seen[3] = {0};
    for (int i = 0; i < 3; i++) {
        struct item *x = pl_inject_take(&q);
        cr_assert_not_null(x);
        cr_assert(x >= it && x < it + 3);
        seen[x - it]++;
        cr_assert_eq(x->seq, (uint32_t)(x - it), "payload changed");
    }
    cr_assert_null(pl_inject_take(&q));
    cr_assert_not(pl_inject_maybe_nonempty(&q));
    for (int i = 0; i < 3; i++)
        cr_assert_eq(seen[i], 1);
}

Test(inject, overflow_past_a_tiny_ring_loses_nothing, .init = inject_tiny, .fini = inject_fini)
{
    const size_t n = 1000;
    struct item *it = calloc(n, sizeof *it);
    cr_assert_not_null(it);
    for (size_t i = 0; i < n; i++) {
        it[i].seq = (uint32_t)i;
        pl_inject_put(&q, &it[i]);
    }
    for (size_t i = 0; i < n; i++) {
        struct item *x = pl_inject_take(&q);
        cr_assert_not_null(x, "took only %zu of %zu", i, n);
        cr_assert(x >= it && x < it + n);
        cr_assert_eq(x->seq, (uint32_t)(x - it));
        cr_assert_eq(atomic_fetch_add(&x->taken, 1), 0u, "item %u taken twice", x->seq);
    }
    cr_assert_null(pl_inject_take(&q));
    /* Mixed: put and take interleaved with the overflow list non-empty. */
    for (size_t i = 0; i < n; i++)
        atomic_store(&it[i].taken, 0);
    size_t put = 0, got = 0;
    while (got < n) {
        for (int k = 0; k < 7 && put < n; k++)
            pl_inject_put(&q, &it[put++]);
        for (int k = 0; k < 5; k++) {
            struct item *x = pl_inject_take(&q);
            if (x == NULL)
                break;
            cr_assert_eq(atomic_fetch_add(&x->taken, 1), 0u, "item %u taken twice", x->seq);
            got++;
        }
    }
    cr_assert_null(pl_inject_take(&q));
    free(it);
}

/* ---- Concurrent: producers and consumers ----------------------------------- */

#define PRODUCERS 4

struct mpmc {
    struct item *items; /* PRODUCERS * per_producer */
    size_t per_producer;
    size_t total;
    atomic_size_t taken;
    atomic_size_t bad;
    atomic_int go;
};

static struct mpmc M;

static void *producer_main(void *arg)
{
    size_t p = (size_t)(uintptr_t)arg;
    while (!tl_raised(&M.go))
        sched_yield();
    for (size_t i = 0; i < M.per_producer; i++) {
        pl_inject_put(&q, &M.items[p * M.per_producer + i]);
        if (i % 64 == 0)
            sched_yield();
    }
    return NULL;
}

static void *consumer_main(void *arg)
{
    (void)arg;
    while (!tl_raised(&M.go))
        sched_yield();
    uint64_t t0 = tl_now_ns();
    while (atomic_load(&M.taken) < M.total) {
        struct item *x = pl_inject_take(&q);
        if (x == NULL) {
            if (tl_since_s(t0) > 60)
                break; /* lost items: the test thread reports it */
            sched_yield();
            continue;
        }
        if (x < M.items || x >= M.items + M.total ||
            x->seq != (uint32_t)((x - M.items) % M.per_producer) ||
            atomic_fetch_add(&x->taken, 1) != 0)
            atomic_fetch_add(&M.bad, 1);
        atomic_fetch_add(&M.taken, 1);
    }
    return NULL;
}

static void run_mpmc(unsigned capacity, int consumers, size_t per_producer)
{
    cr_assert_eq(pl_inject_init(&q, capacity), 0);
    M.per_producer = per_producer;
    M.total = PRODUCERS * per_producer;
    M.items = calloc(M.total, sizeof *M.items);
    cr_assert_not_null(M.items);
    for (size_t p = 0; p < PRODUCERS; p++)
        for (size_t i = 0; i < per_producer; i++) {
            M.items[p * per_producer + i].producer = (uint32_t)p;
            M.items[p * per_producer + i].seq = (uint32_t)i;
        }
    atomic_init(&M.taken, 0);
    atomic_init(&M.bad, 0);
    atomic_init(&M.go, 0);

    pthread_t prod[PRODUCERS], cons[8];
    for (int p = 0; p < PRODUCERS; p++)
        prod[p] = tl_thread(producer_main, (void *)(uintptr_t)p);
    for (int c = 0; c < consumers; c++)
        cons[c] = tl_thread(consumer_main, NULL);
    tl_raise(&M.go);
    for (int p = 0; p < PRODUCERS; p++)
        tl_join_thread(prod[p]);
    for (int c = 0; c < consumers; c++)
        tl_join_thread(cons[c]);

    cr_assert_eq(atomic_load(&M.bad), 0u, "%zu items taken twice or corrupted",
                 atomic_load(&M.bad));
    cr_assert_eq(atomic_load(&M.taken), M.total, "took %zu of %zu", atomic_load(&M.taken), M.total);
    for (size_t i = 0; i < M.total; i++)
        if (atomic_load(&M.items[i].taken) != 1)
            cr_assert_fail("item %zu (producer %u, seq %u) taken %u times", i, M.items[i].producer,
                           M.items[i].seq, atomic_load(&M.items[i].taken));
    cr_assert_null(pl_inject_take(&q));
    pl_inject_destroy(&q);
    free(M.items);
}

Test(inject, four_producers_two_consumers_tiny_ring_every_item_once, .timeout = TL_TIMEOUT * 2)
{
    run_mpmc(4, 2, TL_SIZE(50000, 5000));
}

Test(inject, four_producers_four_consumers_tiny_ring_every_item_once, .timeout = TL_TIMEOUT * 2)
{
    run_mpmc(4, 4, TL_SIZE(50000, 5000));
}

Test(inject, four_producers_three_consumers_large_ring_every_item_once, .timeout = TL_TIMEOUT * 2)
{
    run_mpmc(1024, 3, TL_SIZE(50000, 5000));
}
