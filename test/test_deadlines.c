/*
 * test_deadlines — group deadlines (rule 5): a deadline cancels its group
 * within about a millisecond whether or not anyone waits on it, also when
 * every task had already finished; the wait then returns ETIMEDOUT.
 *
 * The latency bounds here are generous (seconds) so that a loaded machine
 * or a sanitizer does not make them flaky; what they catch is a deadline
 * that fires only when someone waits, or never. A deadline's test waits
 * for the tasks it means to see cancelled to be running before it sets it
 * (a task the deadline finds queued finishes cancelled, never run).
 */
#include "testlib.h"

#define MS 1000000ull

/* A task that records when it saw its group cancelled. */
struct watch {
    atomic_int started;
    _Atomic uint64_t seen_at; /* tl_now_ns() when plait_cancelled() read true */
};

static int watch_task(plait_ctx *ctx, void *arg)
{
    struct watch *w = arg;
    tl_raise(&w->started);
    if (!TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S))
        return EIO;
    atomic_store(&w->seen_at, tl_now_ns());
    return ECANCELED;
}

static void watch_init(struct watch *w)
{
    atomic_init(&w->started, 0);
    atomic_init(&w->seen_at, 0);
}

/* Rule 5 */
Test(deadline, fires_with_nobody_waiting, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct watch w;
    watch_init(&w);
    cr_assert_eq(plait_go(g, watch_task, &w), 0);
    TL_AWAIT(tl_raised(&w.started));
    uint64_t t0 = tl_now_ns();
    TL_ASSERT_CODE(plait_group_set_timeout(g, 20 * MS), 0);
    /* Nobody waits: the task must still see the cancel and finish. */
    TL_AWAIT(plait_group_pending(g) == 0);
    uint64_t seen = atomic_load(&w.seen_at);
    cr_assert_neq(seen, 0u);
    cr_assert_geq(seen - t0, 20 * MS, "fired early: after %.3f ms", (seen - t0) / 1e6);
    cr_log_info("deadline of 20 ms seen after %.3f ms", (seen - t0) / 1e6);
    /* Nobody waits: a deadline that fires only for a waiter never fires
     * here (the task gives up after TL_WAIT_S), so 5 s tells it apart. */
    cr_assert_lt(seen - t0, 20 * MS + 5000 * MS, "fired late: after %.3f ms", (seen - t0) / 1e6);
    TL_ASSERT_CODE(plait_group_wait(g), ETIMEDOUT);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 5 */
Test(deadline, fires_when_every_task_had_finished_but_the_group_was_not_waited,
     .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    plait_task *t = plait_spawn(g, tl_noop_task, NULL);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    /* The task's event is set (and may release its waiter) just before
     * the group's count drops. */
    TL_AWAIT(plait_group_pending(g) == 0u);
    TL_ASSERT_CODE(plait_group_set_timeout(g, 5 * MS), 0);
    /* Observe the cancellation without waiting: plait_go refuses to spawn
     * into a cancelled group. */
    TL_AWAIT(({
        int r = plait_go(g, tl_noop_task, NULL);
        if (r == 0)
            tl_sleep_ms(1);
        r == ECANCELED;
    }));
    TL_ASSERT_CODE(plait_group_wait(g), ETIMEDOUT);
    cr_assert_eq(plait_group_errors(g, NULL), 0u);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 5 */
Test(deadline, fires_on_a_group_with_no_tasks_at_all, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_set_timeout(g, 1 * MS), 0);
    TL_AWAIT(plait_go(g, tl_noop_task, NULL) == ECANCELED);
    TL_ASSERT_CODE(plait_group_wait(g), ETIMEDOUT);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 5 */
Test(deadline, a_zero_timeout_fires_at_once, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    struct watch w;
    watch_init(&w);
    cr_assert_eq(plait_go(g, watch_task, &w), 0);
    TL_ASSERT_CODE(plait_group_set_timeout(g, 0), 0);
    TL_ASSERT_CODE(plait_group_wait(g), ETIMEDOUT);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 5 (a deadline that does not reach plait_sleep would sleep 60 s: the
 * test timeout catches it) */
Test(deadline, cuts_plait_sleep_short, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    struct tl_sleeper s;
    tl_sleeper_init(&s, 60000 * MS);
    cr_assert_eq(plait_go(g, tl_sleep_task, &s), 0);
    TL_AWAIT(tl_raised(&s.started));
    TL_ASSERT_CODE(plait_group_set_timeout(g, 10 * MS), 0);
    TL_ASSERT_CODE(plait_group_wait(g), ETIMEDOUT);
    TL_ASSERT_CODE(s.r, ECANCELED);
    cr_assert_lt(s.took, 5000 * MS);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 5 */
Test(deadline, a_later_call_replaces_the_deadline, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    /* Far, then near: the near one fires. */
    plait_group *g = tl_group(pool, 0);
    struct watch w;
    watch_init(&w);
    cr_assert_eq(plait_go(g, watch_task, &w), 0);
    TL_AWAIT(tl_raised(&w.started));
    TL_ASSERT_CODE(plait_group_set_timeout(g, 3600000 * MS), 0);
    TL_ASSERT_CODE(plait_group_set_timeout(g, 10 * MS), 0);
    TL_ASSERT_CODE(plait_group_wait(g), ETIMEDOUT);
    plait_group_destroy(g);

    /* Near, then far: nothing fires in the meantime. */
    g = tl_group(pool, 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    cr_assert_eq(plait_go(g, tl_gate_cancellable_task, &gate), 0);
    uint64_t t0 = tl_now_ns();
    TL_ASSERT_CODE(plait_group_set_timeout(g, 100 * MS), 0);
    TL_ASSERT_CODE(plait_group_set_timeout(g, 3600000 * MS), 0);
    uint64_t between = tl_now_ns() - t0;
    tl_sleep_ms(200); /* well past the replaced deadline */
    /* Only when the second call came before the first deadline's time can
     * the test tell that it replaced it: else the first may rightly have
     * fired in between, and the wait says ETIMEDOUT. */
    bool replaced_in_time = between < 100 * MS;
    if (replaced_in_time)
        cr_assert_eq(atomic_load(&gate.saw_cancel), 0, "the replaced deadline fired");
    else
        cr_log_warn("machine too loaded: %.1f ms between two calls", between / 1e6);
    tl_raise(&gate.open);
    int r = plait_group_wait(g);
    if (replaced_in_time)
        TL_ASSERT_CODE(r, 0);
    else
        cr_assert(r == 0 || r == ETIMEDOUT, "wait returned %d (%s)", r, strerror(r));
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 5: a group waited and destroyed before its deadline is forgotten by
 * the timer (under ASan a late firing would be a use after free). */
Test(deadline, a_group_done_before_its_deadline_is_not_touched_after_destroy, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    for (int i = 0; i < 20; i++) {
        plait_group *g = tl_group(pool, 0);
        TL_ASSERT_CODE(plait_group_set_timeout(g, (uint64_t)(20 + i) * MS), 0);
        atomic_int n = 0;
        cr_assert_eq(plait_go(g, tl_count_task, &n), 0);
        /* Normally done long before the deadline; on a very loaded machine
         * the deadline may win, which is fine here. */
        int r = plait_group_wait(g);
        cr_assert(r == 0 || r == ETIMEDOUT, "wait returned %d (%s)", r, strerror(r));
        plait_group_destroy(g);
    }
    /* Also one destroyed without a wait. */
    plait_group *g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_set_timeout(g, 20 * MS), 0);
    plait_group_destroy(g);
    tl_sleep_ms(80); /* every deadline above has passed */
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 5: more groups than workers, so most watchers never run: the
 * deadline is then seen through the wait, which cannot return before it
 * (the group's task is pending until the deadline cancels it). */
Test(deadline, many_groups_each_fire_not_before_their_own_deadline, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    enum { N = 24 };
    plait_group *g[N];
    struct watch w[N];
    uint64_t set_at[N], timeout[N], longest = 0;
    for (int i = 0; i < N; i++) {
        g[i] = tl_group(pool, 0);
        watch_init(&w[i]);
        cr_assert_eq(plait_go(g[i], watch_task, &w[i]), 0);
    }
    /* At least one watcher running before any deadline (else on a slow
     * machine every task may still be queued when its deadline fires, and
     * none sees it run: the check of `ran` below). */
    TL_AWAIT(({
        bool any = false;
        for (int i = 0; i < N && !any; i++)
            any = tl_raised(&w[i].started);
        any;
    }));
    for (int i = 0; i < N; i++) {
        /* Scrambled order: 5..120 ms. */
        timeout[i] = (uint64_t)(5 + (i * 7) % N * 5) * MS;
        if (timeout[i] > longest)
            longest = timeout[i];
        set_at[i] = tl_now_ns();
        TL_ASSERT_CODE(plait_group_set_timeout(g[i], timeout[i]), 0);
    }
    int ran = 0;
    for (int i = 0; i < N; i++) {
        TL_ASSERT_CODE(plait_group_wait(g[i]), ETIMEDOUT);
        uint64_t back = tl_now_ns() - set_at[i];
        cr_assert_geq(back, timeout[i], "group %d was done after %.3f ms, before its %.0f ms", i,
                      back / 1e6, timeout[i] / 1e6);
        cr_assert_lt(back, longest + 5000 * MS);
        uint64_t seen = atomic_load(&w[i].seen_at);
        if (seen != 0) {
            ran++;
            cr_assert_geq(seen - set_at[i], timeout[i],
                          "group %d fired after %.3f ms, before its %.0f ms", i,
                          (seen - set_at[i]) / 1e6, timeout[i] / 1e6);
        }
        plait_group_destroy(g[i]);
    }
    cr_assert_geq(ran, 1);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct timeout_from_task {
    atomic_int inner;
};

static int set_timeout_inside(plait_ctx *ctx, void *arg)
{
    struct timeout_from_task *a = arg;
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    struct watch w;
    watch_init(&w);
    /* Spawn first: a deadline set first could fire before the spawn. */
    if ((r = plait_go(g, watch_task, &w)) == 0)
        r = plait_group_set_timeout(g, 5 * MS);
    atomic_store(&a->inner, plait_group_wait(g));
    plait_group_destroy(g);
    return r;
}

/* Rule 5 */
Test(deadline, set_and_waited_on_a_worker, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2); /* the watcher needs a second worker... */
    struct timeout_from_task a;
    atomic_init(&a.inner, -1);
    plait_task *t = plait_submit(pool, set_timeout_inside, &a);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    TL_ASSERT_CODE(atomic_load(&a.inner), ETIMEDOUT);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);

    pool = tl_pool(1); /* ...or the waiting worker runs it itself */
    atomic_store(&a.inner, -1);
    t = plait_submit(pool, set_timeout_inside, &a);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    TL_ASSERT_CODE(atomic_load(&a.inner), ETIMEDOUT);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* A pool with a pending deadline shuts down without waiting for it. */
Test(deadline, destroying_the_pool_with_a_far_deadline_pending, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_set_timeout(g, 3600000 * MS), 0);
    cr_assert_eq(plait_go(g, tl_noop_task, NULL), 0);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
    uint64_t t0 = tl_now_ns();
    cr_assert_eq(plait_pool_destroy(pool), 0);
    cr_assert_lt(tl_since_s(t0), 5.0);
}

/* Rule 5 with rule 3's result order: a deadline that fires after the group
 * was already cancelled does not turn the wait's ECANCELED into ETIMEDOUT. */
Test(deadline, a_deadline_after_a_cancel_leaves_the_result_cancelled, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct watch w;
    watch_init(&w);
    cr_assert_eq(plait_go(g, watch_task, &w), 0);
    TL_AWAIT(tl_raised(&w.started));
    TL_ASSERT_CODE(plait_group_cancel(g), 0);
    TL_ASSERT_CODE(plait_group_set_timeout(g, 0), 0);
    TL_AWAIT(plait_group_pending(g) == 0);
    tl_sleep_ms(5); /* let the timer thread reach the fired deadline */
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* A deadline set from another thread while a wait closes the group is
 * either refused (EINVAL) or removed by the wait; the group is then freed
 * and a stale heap entry would be a use after free (ASan) in the timer. */
struct racing_timeout {
    plait_group *g;
    atomic_int go;
    int r;
};

static void *set_timeout_thread(void *arg)
{
    struct racing_timeout *rt = arg;
    while (!atomic_load(&rt->go))
        ;
    rt->r = plait_group_set_timeout(rt->g, 1000 * MS);
    return NULL;
}

Test(deadline, a_deadline_set_while_the_group_closes_is_refused_or_removed, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    for (int i = 0; i < TL_SIZE(2000, 200); i++) {
        struct racing_timeout rt = {.g = tl_group(pool, 0), .r = -1};
        atomic_init(&rt.go, 0);
        /* A deadline first, so the timer thread exists and the wait must
         * look in its heap. */
        TL_ASSERT_CODE(plait_group_set_timeout(rt.g, 1000 * MS), 0);
        cr_assert_eq(plait_go(rt.g, tl_noop_task, NULL), 0);
        pthread_t th = tl_thread(set_timeout_thread, &rt);
        atomic_store(&rt.go, 1);
        TL_ASSERT_CODE(plait_group_wait(rt.g), 0);
        tl_join_thread(th);
        cr_assert(rt.r == 0 || rt.r == EINVAL, "set_timeout returned %d", rt.r);
        plait_group_destroy(rt.g);
    }
    cr_assert_eq(plait_pool_destroy(pool), 0);
}
