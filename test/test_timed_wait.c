/*
 * test_timed_wait — plait_group_wait_for / plait_task_wait_for: EAGAIN when
 * the time passes first, leaving the group or task as it was (a later wait
 * of either kind returns the right result); else exactly what the plain
 * wait returns. Waiters that time out leave their node to the event's
 * setter, who frees it (ASan's leak check sees a node left behind).
 */
#include "testlib.h"

#define MS 1000000ull

static int fail_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return EIO;
}

Test(timed_wait, a_group_wait_for_that_times_out_leaves_the_group_waitable, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    atomic_int ran = 0;
    cr_assert_eq(plait_go(g, tl_gate_task, &gate), 0);
    uint64_t t0 = tl_now_ns();
    TL_ASSERT_CODE(plait_group_wait_for(g, 20 * MS), EAGAIN);
    cr_assert(tl_now_ns() - t0 >= 20 * MS, "returned before its time");
    TL_ASSERT_CODE(plait_group_wait_for(g, 0), EAGAIN); /* a poll */
    /* Not closed: spawns are accepted while a task is left. */
    cr_assert_eq(plait_go(g, tl_count_task, &ran), 0);
    tl_raise(&gate.open);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    cr_assert_eq(atomic_load(&ran), 1);
    cr_assert_eq(atomic_load(&gate.finished), 1);
    TL_ASSERT_CODE(plait_group_wait_for(g, 0), EINVAL); /* closed by the wait */
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(timed_wait, a_group_wait_for_in_time_returns_what_the_wait_returns, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(plait_go(g, i == 3 ? fail_task : tl_noop_task, NULL), 0);
    TL_ASSERT_CODE(plait_group_wait_for(g, 60ull * 1000 * MS), EIO);
    /* Closed, as plait_group_wait closes it. */
    TL_ASSERT_CODE(plait_group_wait(g), EINVAL);
    TL_ASSERT_CODE(plait_go(g, tl_noop_task, NULL), EINVAL);
    const plait_error *errs = NULL;
    cr_assert_eq(plait_group_errors(g, &errs), 1);
    cr_assert_eq(errs[0].code, EIO);
    plait_group_destroy(g);

    /* An empty group: the poll itself ends it. */
    g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_wait_for(g, 0), 0);
    TL_ASSERT_CODE(plait_group_wait(g), EINVAL);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(timed_wait, a_poll_reports_the_end_once_the_tasks_are_done, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    cr_assert_eq(plait_go(g, tl_gate_task, &gate), 0);
    TL_ASSERT_CODE(plait_group_wait_for(g, 0), EAGAIN);
    tl_raise(&gate.open);
    int r;
    TL_AWAIT((r = plait_group_wait_for(g, 0)) != EAGAIN);
    TL_ASSERT_CODE(r, 0);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

/* ---- On a worker ---------------------------------------------------------- */

struct outer {
    plait_pool *pool;
    struct tl_gate gate;
    atomic_int timed_out;
    int first, second, third;
};

static int waiting_outer(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct outer *o = arg;
    plait_group *g = NULL;
    if (plait_group_create(&g, o->pool, 0) != 0)
        return ENOMEM;
    if (plait_go(g, tl_gate_task, &o->gate) != 0)
        return EIO;
    /* The gated task runs on the other worker, not inside our wait. */
    if (!TL_SPIN_UNTIL(atomic_load(&o->gate.started) == 1, TL_WAIT_S))
        return ETIME;
    o->first = plait_group_wait_for(g, 20 * MS);
    o->second = plait_group_wait_for(g, 0);
    tl_raise(&o->timed_out);
    o->third = plait_group_wait(g);
    plait_group_destroy(g);
    return 0;
}

Test(timed_wait, on_a_worker_it_times_out_and_a_later_wait_gets_the_result, .timeout = TL_TIMEOUT)
{
    struct outer o = {.pool = tl_pool(2)};
    tl_gate_init(&o.gate);
    plait_group *top = tl_group(o.pool, 0);
    cr_assert_eq(plait_go(top, waiting_outer, &o), 0);
    cr_assert(tl_wait_flag(&o.timed_out, TL_WAIT_S));
    tl_raise(&o.gate.open);
    TL_ASSERT_CODE(plait_group_wait(top), 0);
    TL_ASSERT_CODE(o.first, EAGAIN);
    TL_ASSERT_CODE(o.second, EAGAIN);
    TL_ASSERT_CODE(o.third, 0);
    plait_group_destroy(top);
    plait_pool_destroy(o.pool);
}

struct runs_meanwhile {
    plait_pool *pool;
    atomic_int ran;
    int r;
};

static int timed_waiter_that_runs_its_tasks(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct runs_meanwhile *m = arg;
    plait_group *g = NULL;
    if (plait_group_create(&g, m->pool, 0) != 0)
        return ENOMEM;
    for (int i = 0; i < 100; i++)
        if (plait_go(g, tl_count_task, &m->ran) != 0)
            return EIO;
    /* One worker: only this wait can run them. */
    m->r = plait_group_wait_for(g, 60ull * 1000 * MS);
    plait_group_destroy(g);
    return 0;
}

Test(timed_wait, on_a_worker_it_runs_the_awaited_tasks_meanwhile, .timeout = TL_TIMEOUT)
{
    struct runs_meanwhile m = {.pool = tl_pool(1), .r = -1};
    plait_group *top = tl_group(m.pool, 0);
    cr_assert_eq(plait_go(top, timed_waiter_that_runs_its_tasks, &m), 0);
    TL_ASSERT_CODE(plait_group_wait(top), 0);
    TL_ASSERT_CODE(m.r, 0);
    cr_assert_eq(atomic_load(&m.ran), 100);
    plait_group_destroy(top);
    plait_pool_destroy(m.pool);
}

/* ---- Tasks ------------------------------------------------------------------ */

Test(timed_wait, a_task_wait_for_times_out_then_the_task_is_waited, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_task *t = plait_spawn(g, tl_gate_task, &gate);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait_for(t, 0), EAGAIN);
    uint64_t t0 = tl_now_ns();
    TL_ASSERT_CODE(plait_task_wait_for(t, 20 * MS), EAGAIN);
    cr_assert(tl_now_ns() - t0 >= 20 * MS, "returned before its time");
    TL_ASSERT_CODE(plait_task_status(t), EAGAIN);
    tl_raise(&gate.open);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    TL_ASSERT_CODE(plait_task_wait_for(t, 0), 0);
    plait_task *f = plait_spawn(g, fail_task, NULL);
    cr_assert_not_null(f);
    TL_ASSERT_CODE(plait_task_wait_for(f, 60ull * 1000 * MS), EIO);
    plait_task_release(f);
    plait_task_release(t);
    TL_ASSERT_CODE(plait_group_wait(g), EIO);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

/* ---- Many waiters timing out while the group finishes ----------------------- */

#define WAITERS 6

struct crowd {
    plait_group *g;
    plait_task *t;
    atomic_int results[WAITERS];
    atomic_int eagains;
    atomic_int go;
};

struct waiter_arg {
    struct crowd *c;
    int i;
};

static void *timed_waiter(void *p)
{
    struct waiter_arg *a = p;
    uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(a->i + 1);
    while (!tl_raised(&a->c->go))
        sched_yield();
    int r;
    /* Odd waiters wait on the task, even ones on the group. */
    while ((r = (a->i & 1)
                    ? plait_task_wait_for(a->c->t, tl_xorshift(&seed) % (20 * 1000))
                    : plait_group_wait_for(a->c->g, tl_xorshift(&seed) % (20 * 1000))) == EAGAIN)
        atomic_fetch_add(&a->c->eagains, 1);
    atomic_store(&a->c->results[a->i], r);
    return NULL;
}

static int timed_waiting_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct waiter_arg *a = arg;
    timed_waiter(a);
    return 0;
}

Test(timed_wait, many_waiters_timing_out_while_the_group_finishes, .timeout = TL_TIMEOUT)
{
    int rounds = TL_SIZE(40, 10);
    plait_pool *pool = tl_pool(2);
    int total_eagain = 0;
    for (int round = 0; round < rounds; round++) {
        struct crowd c = {0};
        c.g = tl_group(pool, 0);
        /* Waiters on workers too: tasks of another group. */
        plait_group *others = tl_group(pool, 0);
        c.t = plait_spawn(c.g, tl_noop_task, NULL);
        cr_assert_not_null(c.t);
        struct waiter_arg args[WAITERS];
        pthread_t th[WAITERS];
        for (int i = 0; i < WAITERS; i++) {
            args[i] = (struct waiter_arg){&c, i};
            atomic_init(&c.results[i], -1);
            if (i < WAITERS - 2)
                th[i] = tl_thread(timed_waiter, &args[i]);
            else
                cr_assert_eq(plait_go(others, timed_waiting_task, &args[i]), 0);
        }
        /* Held: the timed waits have begun the wait, so without the hold
         * the group could run dry between two spawns (rule 15). */
        cr_assert_eq(plait_group_hold(c.g), 0);
        tl_raise(&c.go);
        for (int i = 0; i < 2000; i++)
            cr_assert_eq(plait_go(c.g, tl_noop_task, NULL), 0);
        cr_assert_eq(plait_group_release(c.g), 0);
        for (int i = 0; i < WAITERS - 2; i++)
            tl_join_thread(th[i]);
        TL_ASSERT_CODE(plait_group_wait(others), 0);
        /* A group waiter that comes back after another one closed the group
         * gets EINVAL, as a plain wait would; the first gets the result. */
        int zeros = 0;
        for (int i = 0; i < WAITERS; i++) {
            int r = atomic_load(&c.results[i]);
            cr_assert(r == 0 || (!(i & 1) && r == EINVAL), "waiter %d: %d", i, r);
            zeros += !(i & 1) && r == 0;
        }
        cr_assert_geq(zeros, 1);
        total_eagain += atomic_load(&c.eagains);
        plait_task_release(c.t);
        plait_group_destroy(others);
        plait_group_destroy(c.g);
    }
    cr_log_info("timed waits that timed out: %d", total_eagain);
    plait_pool_destroy(pool);
}
