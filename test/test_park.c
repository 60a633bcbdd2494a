/*
 * test_park — parking idle workers and waking them (src/park.h), through
 * the public API (an idle pool sleeps, work after an idle gap always
 * wakes it, the counters move) and directly on a parking lot (the
 * prepare / notify / leave handshakes).
 *
 * A lost wake-up shows up as a hang: the test's timeout catches it.
 */
#include "testlib.h"

#include "park.h"

static plait_stats stats_of(plait_pool *p)
{
    plait_stats s;
    cr_assert_eq(plait_pool_stats(p, &s), 0);
    return s;
}

/* ---- Through the public API --------------------------------------------- */

Test(park, idle_pool_parks_and_uses_no_cpu, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    /* Give the workers some work first, so they go idle from busy. */
    plait_group *g = tl_group(pool, 0);
    atomic_int n = 0;
    for (int i = 0; i < 100; i++)
        cr_assert_eq(plait_go(g, tl_count_task, &n), 0);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);

    TL_AWAIT(stats_of(pool).parks >= 2);
    /* Let the bounded spin end everywhere, then measure. */
    tl_sleep_ms(50);
    uint64_t cpu0 = tl_cpu_ns(), wall0 = tl_now_ns();
    tl_sleep_ms(300);
    uint64_t cpu = tl_cpu_ns() - cpu0, wall = tl_now_ns() - wall0;
    double share = (double)cpu / (double)wall;
    cr_log_info("idle pool: %.2f%% of a core over %.0f ms", share * 100, wall / 1e6);
    cr_assert_lt(share, 0.05, "an idle pool used %.1f%% of a core (%.1f ms CPU in %.0f ms)",
                 share * 100, cpu / 1e6, wall / 1e6);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(park, bursts_after_idle_gaps_always_complete, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    const int rounds = TL_SIZE(40, 15);
    uint64_t parks = 0;
    for (int r = 0; r < rounds; r++) {
        /* Wait until some worker has gone to sleep since the last burst
         * began (the pool is idle again). */
        TL_AWAIT(stats_of(pool).parks > parks);
        parks = stats_of(pool).parks;
        if (r % 4 == 0)
            tl_sleep_ms(2); /* a longer gap now and then: everyone asleep */
        atomic_int n = 0;
        int burst = 1 + r % 5;
        plait_task *t[5];
        for (int i = 0; i < burst; i++) {
            t[i] = plait_submit(pool, tl_count_task, &n);
            cr_assert_not_null(t[i]);
        }
        /* A lost wake-up would hang here (the test's timeout). */
        for (int i = 0; i < burst; i++) {
            TL_ASSERT_CODE(plait_task_wait(t[i]), 0);
            plait_task_release(t[i]);
        }
        cr_assert_eq(atomic_load(&n), burst);
    }
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(park, a_single_submission_wakes_a_parked_pool_and_is_counted, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    TL_AWAIT(stats_of(pool).parks >= 1);
    tl_sleep_ms(20); /* past the spin: the worker is asleep */
    plait_stats before = stats_of(pool);
    atomic_int n = 0;
    plait_task *t = plait_submit(pool, tl_count_task, &n);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    plait_stats after = stats_of(pool);
    cr_assert_eq(atomic_load(&n), 1);
    cr_assert_geq(after.wakeups, before.wakeups + 1, "wakeups %" PRIu64 " -> %" PRIu64,
                  before.wakeups, after.wakeups);
    cr_assert_geq(after.injected, before.injected + 1);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct waker_arg {
    plait_pool *pool;
    plait_group *g;
    atomic_int *counter;
    int tasks;
};

static void *foreign_spawner(void *arg)
{
    struct waker_arg *a = arg;
    for (int i = 0; i < a->tasks; i++) {
        if (plait_go(a->g, tl_count_task, a->counter) != 0)
            return (void *)1;
        if (i % 16 == 0)
            sched_yield();
    }
    return NULL;
}

Test(park, trickle_of_foreign_spawns_into_a_sleepy_pool_completes, .timeout = TL_TIMEOUT)
{
    /* Several foreign threads spawn one task at a time, so workers keep
     * going to sleep and being woken. */
    plait_pool *pool = tl_pool(4);
    plait_group *g = tl_group(pool, 0);
    atomic_int n = 0;
    enum { THREADS = 3 };
    struct waker_arg a = {pool, g, &n, TL_SIZE(3000, 500)};
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        th[i] = tl_thread(foreign_spawner, &a);
    for (int i = 0; i < THREADS; i++)
        cr_assert_null(tl_join_thread(th[i]));
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    cr_assert_eq(atomic_load(&n), THREADS * a.tasks);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- The parking lot, directly ------------------------------------------ */

static struct pl_lot lot;

static void lot_init(void)
{
    pl_lot_init(&lot);
}

static void lot_fini(void)
{
    pl_lot_destroy(&lot);
}

static void parker_init(struct pl_parker *p)
{
    atomic_init(&p->word, 0);
    p->next = NULL;
    p->on_idle = false;
    p->handed_search = false;
}

static uint32_t lot_state(void)
{
    return atomic_load(&lot.state);
}

Test(lot, notify_without_sleepers_wakes_nobody, .init = lot_init, .fini = lot_fini)
{
    pl_lot_notify(&lot, PL_WAKE_ANY);
    pl_lot_notify_unfenced(&lot);
    pl_lot_notify_local(&lot);
    cr_assert_eq(atomic_load(&lot.wakeups), 0u);
    cr_assert_eq(lot_state(), 0u);
}

Test(lot, prepare_then_leave_undoes_the_announcement, .init = lot_init, .fini = lot_fini)
{
    struct pl_parker p;
    parker_init(&p);
    pl_lot_prepare(&lot, &p, false, PL_PARK_TAKES);
    cr_assert_eq(PL_LOT_SLEEPERS(lot_state()), 1u);
    cr_assert_eq(atomic_load(&lot.parks), 1u);
    cr_assert_not(pl_lot_leave(&lot, &p), "nobody handed a search to the parker");
    cr_assert_eq(lot_state(), 0u);
    /* Leaving twice is harmless. */
    cr_assert_not(pl_lot_leave(&lot, &p));
    cr_assert_eq(lot_state(), 0u);
}

Test(lot, prepare_from_searching_moves_the_searcher_to_sleeper, .init = lot_init, .fini = lot_fini)
{
    struct pl_parker p;
    parker_init(&p);
    pl_lot_search_begin(&lot);
    cr_assert_eq(PL_LOT_SEARCHING(lot_state()), 1u);
    pl_lot_prepare(&lot, &p, true, PL_PARK_TAKES);
    cr_assert_eq(PL_LOT_SEARCHING(lot_state()), 0u);
    cr_assert_eq(PL_LOT_SLEEPERS(lot_state()), 1u);
    cr_assert_not(pl_lot_leave(&lot, &p));
    cr_assert_eq(lot_state(), 0u);
}

Test(lot, notify_pops_a_prepared_parker_and_hands_it_the_search, .init = lot_init, .fini = lot_fini)
{
    struct pl_parker p;
    parker_init(&p);
    pl_lot_prepare(&lot, &p, false, PL_PARK_TAKES);
    pl_lot_notify(&lot, PL_WAKE_ANY);
    cr_assert_eq(atomic_load(&lot.wakeups), 1u);
    cr_assert_eq(atomic_load(&p.word), 0u, "the parker's word is cleared: its sleep returns");
    cr_assert_eq(PL_LOT_SLEEPERS(lot_state()), 0u);
    cr_assert_eq(PL_LOT_SEARCHING(lot_state()), 1u, "the woken parker counts as searching");
    /* Its sleep returns at once. */
    pl_parker_sleep(&p, 0);
    cr_assert(pl_lot_leave(&lot, &p), "leave reports the handed search");
    cr_assert(pl_lot_search_end(&lot), "it was the last searcher");
    cr_assert_eq(lot_state(), 0u);
}

Test(lot, notify_is_throttled_while_someone_searches, .init = lot_init, .fini = lot_fini)
{
    struct pl_parker p;
    parker_init(&p);
    pl_lot_search_begin(&lot);
    pl_lot_prepare(&lot, &p, false, PL_PARK_TAKES);
    pl_lot_notify(&lot, PL_WAKE_ANY);
    cr_assert_eq(atomic_load(&lot.wakeups), 0u, "a searcher will find the work itself");
    cr_assert_eq(atomic_load(&p.word), 1u);
    /* The searcher found work and was the last: it notifies in turn. */
    cr_assert(pl_lot_search_end(&lot));
    pl_lot_notify(&lot, PL_WAKE_ANY);
    cr_assert_eq(atomic_load(&lot.wakeups), 1u);
    cr_assert_eq(atomic_load(&p.word), 0u);
    cr_assert(pl_lot_leave(&lot, &p));
    cr_assert(pl_lot_search_end(&lot));
    cr_assert_eq(lot_state(), 0u);
}

Test(lot, sleep_with_a_deadline_returns_unwoken, .init = lot_init, .fini = lot_fini)
{
    struct pl_parker p;
    parker_init(&p);
    pl_lot_prepare(&lot, &p, false, PL_PARK_TAKES);
    uint64_t t0 = tl_now_ns();
    pl_parker_sleep(&p, pl_now_ns() + 5000000u);
    cr_assert_geq(tl_now_ns() - t0, 5000000u, "slept only %" PRIu64 " ns", tl_now_ns() - t0);
    cr_assert_not(pl_lot_leave(&lot, &p));
    cr_assert_eq(lot_state(), 0u);
    cr_assert_eq(atomic_load(&lot.wakeups), 0u);
}

struct sleeper {
    struct pl_parker p;
    atomic_int prepared;
    atomic_int woke;
    bool handed;
};

static void *sleeper_main(void *arg)
{
    struct sleeper *s = arg;
    pl_lot_prepare(&lot, &s->p, false, PL_PARK_TAKES);
    tl_raise(&s->prepared);
    pl_parker_sleep(&s->p, 0); /* no deadline: only a wake ends it */
    s->handed = pl_lot_leave(&lot, &s->p);
    tl_raise(&s->woke);
    return NULL;
}

Test(lot, notify_wakes_a_sleeping_thread, .init = lot_init, .fini = lot_fini, .timeout = TL_TIMEOUT)
{
    for (int round = 0; round < TL_SIZE(200, 50); round++) {
        struct sleeper s;
        parker_init(&s.p);
        atomic_init(&s.prepared, 0);
        atomic_init(&s.woke, 0);
        s.handed = false;
        pthread_t th = tl_thread(sleeper_main, &s);
        TL_AWAIT(tl_raised(&s.prepared));
        if (round % 2 == 0)
            sched_yield(); /* sometimes notify before it sleeps, sometimes after */
        pl_lot_notify(&lot, PL_WAKE_ANY);
        tl_join_thread(th);
        cr_assert(tl_raised(&s.woke));
        cr_assert(s.handed);
        cr_assert(pl_lot_search_end(&lot));
        cr_assert_eq(lot_state(), 0u);
    }
    cr_assert_eq(atomic_load(&lot.wakeups), (uint64_t)TL_SIZE(200, 50));
}

Test(lot, direct_wake_ends_a_sleep, .init = lot_init, .fini = lot_fini, .timeout = TL_TIMEOUT)
{
    struct sleeper s;
    parker_init(&s.p);
    atomic_init(&s.prepared, 0);
    atomic_init(&s.woke, 0);
    pthread_t th = tl_thread(sleeper_main, &s);
    TL_AWAIT(tl_raised(&s.prepared));
    pl_parker_wake(&s.p);
    tl_join_thread(th);
    cr_assert_not(s.handed, "a direct wake hands no search");
    cr_assert_eq(lot_state(), 0u);
}

Test(lot, notify_all_wakes_every_sleeper, .init = lot_init, .fini = lot_fini, .timeout = TL_TIMEOUT)
{
    enum { N = 3 };
    struct sleeper s[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        parker_init(&s[i].p);
        atomic_init(&s[i].prepared, 0);
        atomic_init(&s[i].woke, 0);
        th[i] = tl_thread(sleeper_main, &s[i]);
    }
    for (int i = 0; i < N; i++)
        TL_AWAIT(tl_raised(&s[i].prepared));
    cr_assert_eq(PL_LOT_SLEEPERS(lot_state()), (uint32_t)N);
    pl_lot_notify_all(&lot);
    for (int i = 0; i < N; i++) {
        tl_join_thread(th[i]);
        cr_assert(tl_raised(&s[i].woke));
    }
    cr_assert_eq(lot_state(), 0u);
}
