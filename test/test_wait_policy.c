/*
 * test_wait_policy — which work a wait on a worker runs and which it
 * declines (src/worker.c, find_job_waiting and may_take_injected): it
 * prefers work that advances what it waits for, so an unrelated task it
 * could pick up does not hold it up (oneTBB issue #942); and the
 * preference never strands work that others depend on: the decline clock,
 * and the wake-up of parked waiters on a group's first injection.
 */
#include "testlib.h"

/* ---- A wait is not held up by what it picks up ---------------------------- */

/* Rule 7: "prefer work that advances the awaited group [...] so a wait is
 * not held up by an unrelated long task it picked up (oneTBB issue #942)".
 *
 * A task P on a 2-worker pool waits on its group G, whose only task C runs
 * on the other worker. Meanwhile an unrelated root task U sits in the
 * injection queue. U must not end up on P's stack: it would hold P's wait
 * until U ends, long after C (and with it G) is done. (A wait runs only
 * work its return depends on: worker.c, pl_job_awaited.) */
struct leap {
    _Atomic(plait_group *) g; /* G, once P made it */
    atomic_int c_started, release_c, p_may_wait, u_started, release_u;
    atomic_int p_wait;
    _Atomic uint64_t p_wait_ns, u_started_ns; /* when P began its wait, U ran */
};

/* The wait's decline clock (src/worker.c, PL_DECLINE_NS): a wait that has
 * declined work this long runs it aside, where a task that blocks outside
 * plait still holds the worker. A pick by the clock is never sooner. */
#define LEAP_CLOCK_NS 100000000ull

static int leap_c(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct leap *l = arg;
    tl_raise(&l->c_started);
    return tl_wait_flag(&l->release_c, TL_WAIT_S) ? 0 : EIO;
}

static int leap_u(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct leap *l = arg;
    atomic_store(&l->u_started_ns, tl_now_ns());
    tl_raise(&l->u_started);
    return tl_wait_flag(&l->release_u, TL_WAIT_S) ? 0 : EIO;
}

static int leap_p(plait_ctx *ctx, void *arg)
{
    struct leap *l = arg;
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    atomic_store(&l->g, g);
    if ((r = plait_go(g, leap_c, l)) != 0)
        return r;
    /* Spin (not wait) until the other worker has stolen C. */
    if (!tl_wait_flag(&l->c_started, TL_WAIT_S) || !tl_wait_flag(&l->p_may_wait, TL_WAIT_S))
        return EIO;
    atomic_store(&l->p_wait_ns, tl_now_ns());
    atomic_store(&l->p_wait, plait_group_wait(g));
    plait_group_destroy(g);
    return 0;
}

/* One round: true when P's wait finished without U; *by_clock when it was
 * held by U only because a loaded machine let the decline clock pass
 * before G was done (the round then tests nothing). */
static bool leap_round(bool *by_clock)
{
    plait_pool *pool = tl_pool(2);
    struct leap l;
    memset(&l, 0, sizeof l);
    atomic_init(&l.p_wait, -1);
    plait_task *p = plait_submit(pool, leap_p, &l);
    cr_assert_not_null(p);
    TL_AWAIT(tl_raised(&l.c_started));              /* P spins on one worker, C runs on the other */
    plait_task *u = plait_submit(pool, leap_u, &l); /* queued: both workers are busy */
    cr_assert_not_null(u);
    tl_raise(&l.p_may_wait);
    /* P is in its wait (the dump shows it): else G could be done before
     * P waits, and the test would not test. */
    TL_AWAIT(tl_waits_on_group(pool, atomic_load(&l.g)) == 1);
    tl_raise(&l.release_c);
    /* G is done: P must finish without U being released. */
    /* Seconds on a loaded machine, yet short of U's TL_WAIT_S: a wait held
     * by U still shows. */
    bool p_done = TL_SPIN_UNTIL(plait_task_done(p), TL_WAIT_S / 2);
    *by_clock = !p_done && tl_raised(&l.u_started) &&
                atomic_load(&l.u_started_ns) - atomic_load(&l.p_wait_ns) >= LEAP_CLOCK_NS;
    tl_raise(&l.release_u);
    TL_ASSERT_CODE(plait_task_wait(p), 0);
    TL_ASSERT_CODE(plait_task_wait(u), 0);
    TL_ASSERT_CODE(atomic_load(&l.p_wait), 0);
    plait_task_release(p);
    plait_task_release(u);
    cr_assert_eq(plait_pool_destroy(pool), 0);
    return p_done;
}

/* Rule 7 */
Test(wait_policy, a_wait_is_not_held_up_by_an_unrelated_task_it_picked_up, .timeout = 120)
{
    bool p_done = false, by_clock = true;
    for (int round = 0; round < 5 && !p_done && by_clock; round++)
        p_done = leap_round(&by_clock);
    cr_assert(p_done || by_clock,
              "P's wait was held up by an unrelated task it picked up (oneTBB #942)");
    if (!p_done)
        cr_log_warn("5 rounds in which the decline clock passed before G was done: untested");
}

/* ---- A wait's preference never strands injected work ---------------------- */

struct stranded {
    _Atomic(plait_group *) g;
    atomic_int spinner_started, a_started;
};

static int spin_until_cancelled(plait_ctx *ctx, void *arg)
{
    struct stranded *s = arg;
    tl_raise(&s->spinner_started);
    return TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S) ? ECANCELED : EIO;
}

/* Creates G, spawns the spinner (another worker steals it), waits on G. */
static int wait_on_spinner(plait_ctx *ctx, void *arg)
{
    struct stranded *s = arg;
    tl_raise(&s->a_started);
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    if ((r = plait_go(g, spin_until_cancelled, s)) == 0 &&
        !tl_wait_flag(&s->spinner_started, TL_WAIT_S))
        r = EIO;
    atomic_store(&s->g, g);
    int w = plait_group_wait(g);
    plait_group_destroy(g);
    return r != 0 ? r : w == ECANCELED ? 0 : w;
}

static int cancel_g(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    return plait_group_cancel(atomic_load(&((struct stranded *)arg)->g));
}

/* Submits fn (which ends up waiting on the spinner's group), waits until
 * that group exists, then gives the waiters time to park (not a
 * handshake: the tests pass either way, they only hang on the bug). */
static plait_task *stranded_start(plait_pool *pool, struct stranded *s, plait_fn fn)
{
    atomic_init(&s->g, NULL);
    atomic_init(&s->spinner_started, 0);
    atomic_init(&s->a_started, 0);
    plait_task *t = plait_submit(pool, fn, s);
    cr_assert_not_null(t);
    TL_AWAIT(atomic_load(&s->g) != NULL);
    tl_sleep_ms(50);
    return t;
}

/* Rule 7: two workers, one spinning in a task that only a cancel ends, the
 * other waiting (and declining unrelated injected work); the cancel comes
 * from a submitted task. The waiter must run it after all. */
Test(wait_policy, a_declining_wait_still_runs_the_injected_task_others_depend_on,
     .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct stranded s;
    plait_task *a = stranded_start(pool, &s, wait_on_spinner);
    plait_task *x = plait_submit(pool, cancel_g, &s);
    cr_assert_not_null(x);
    TL_ASSERT_CODE(plait_task_wait(a), 0);
    TL_ASSERT_CODE(plait_task_wait(x), 0);
    plait_task_release(a);
    plait_task_release(x);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Spawns wait_on_spinner into K and waits on K, after the other waiter. */
static int wait_on_waiter(plait_ctx *ctx, void *arg)
{
    struct stranded *s = arg;
    plait_group *k;
    int r = plait_group_create(&k, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    if ((r = plait_go(k, wait_on_spinner, s)) == 0 && !tl_wait_flag(&s->spinner_started, TL_WAIT_S))
        r = EIO;
    int w = plait_group_wait(k);
    plait_group_destroy(k);
    return r != 0 ? r : w;
}

/* Rule 7 with rule 2: three workers, two of them waiting and parked (each
 * declining injected work), the third spinning until its group is
 * cancelled; a failing task is then spawned into that group from outside.
 * The waiter on that group must take it, and the failure end the spin. */
Test(wait_policy, the_first_spawn_from_outside_reaches_a_parked_waiter_of_its_group,
     .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(3);
    struct stranded s;
    plait_task *b = stranded_start(pool, &s, wait_on_waiter);
    TL_ASSERT_CODE(plait_go(atomic_load(&s.g), tl_return_task, TL_CODE(EIO)), 0);
    TL_ASSERT_CODE(plait_task_wait(b), EIO); /* the failure, passed up by both waits */
    plait_task_release(b);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}
