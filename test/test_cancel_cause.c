/*
 * test_cancel_cause — plait_cancel_cause: why a running task is cancelled,
 * for each reason (a call on the task or its group, a sibling's failure in
 * a fail-fast group or a plait_join, its group's deadline, the enclosing
 * task), and the failing sibling's code.
 */
#include "testlib.h"

/* Sleeps until cancelled; records the cause before and after. */
struct probe {
    atomic_int started;
    int before, after, code, slept;
};

static void probe_init(struct probe *p)
{
    atomic_init(&p->started, 0);
    p->before = p->after = p->code = p->slept = -1;
}

static int probe_task(plait_ctx *ctx, void *arg)
{
    struct probe *p = arg;
    int code = -1;
    p->before = plait_cancel_cause(ctx, &code);
    cr_assert_eq(code, 0);
    tl_raise(&p->started);
    p->slept = plait_sleep(ctx, TL_MINUTE_NS);
    p->after = plait_cancel_cause(ctx, &p->code);
    return ECANCELED;
}

/* Starts a probe in g and waits until it sleeps. */
static void go_probe(plait_group *g, struct probe *p)
{
    probe_init(p);
    cr_assert_eq(plait_go(g, probe_task, p), 0);
    TL_AWAIT(tl_raised(&p->started));
}

static void check(struct probe *p, int reason, int code)
{
    cr_assert_eq(p->before, PLAIT_CANCEL_NONE, "cause before the cancel: %d", p->before);
    cr_assert_eq(p->slept, ECANCELED, "the sleep was not cut short: %d", p->slept);
    cr_assert_eq(p->after, reason, "cause %d, want %d", p->after, reason);
    cr_assert_eq(p->code, code, "code %d, want %d", p->code, code);
}

Test(cancel_cause, none_outside_a_cancellation_and_for_null)
{
    cr_assert_eq(plait_cancel_cause(NULL, NULL), PLAIT_CANCEL_NONE);
    int code = 5;
    cr_assert_eq(plait_cancel_cause(NULL, &code), PLAIT_CANCEL_NONE);
    cr_assert_eq(code, 0);
}

/* Spawns body (which runs the probe, directly or below it), cancels that
 * task once the probe sleeps, and checks the cause the probe saw. */
static void cancel_task_and_check(plait_fn body, int reason)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct probe p;
    probe_init(&p);
    plait_task *t = plait_spawn(g, body, &p);
    cr_assert_not_null(t);
    TL_AWAIT(tl_raised(&p.started));
    plait_task_cancel(t);
    plait_task_wait(t);
    check(&p, reason, 0);
    plait_task_release(t);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(cancel_cause, task_cancel_is_a_call, .timeout = TL_TIMEOUT)
{
    cancel_task_and_check(probe_task, PLAIT_CANCEL_CALL);
}

Test(cancel_cause, group_cancel_is_a_call, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct probe p;
    go_probe(g, &p);
    plait_group_cancel(g);
    cr_assert_eq(plait_group_wait(g), ECANCELED);
    check(&p, PLAIT_CANCEL_CALL, 0);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(cancel_cause, a_failing_sibling_gives_its_code, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct probe p;
    go_probe(g, &p);
    cr_assert_eq(plait_go(g, tl_return_task, TL_CODE(EPIPE)), 0);
    cr_assert_eq(plait_group_wait(g), EPIPE);
    check(&p, PLAIT_CANCEL_FAILURE, EPIPE);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(cancel_cause, the_groups_deadline, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct probe p;
    go_probe(g, &p);
    cr_assert_eq(plait_group_set_timeout(g, 1000000), 0);
    cr_assert_eq(plait_group_wait(g), ETIMEDOUT);
    check(&p, PLAIT_CANCEL_DEADLINE, 0);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

/* An outer task runs a probe in a group of its own; the outer is cancelled. */
static int outer_task(plait_ctx *ctx, void *arg)
{
    plait_group *inner;
    int r = plait_group_create(&inner, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    r = plait_go(inner, probe_task, arg);
    int w = plait_group_wait(inner);
    plait_group_destroy(inner);
    return r != 0 ? r : w;
}

Test(cancel_cause, through_the_enclosing_task, .timeout = TL_TIMEOUT)
{
    cancel_task_and_check(outer_task, PLAIT_CANCEL_ENCLOSING);
}

/* plait_join: one branch sleeps, the other fails once the first sleeps. */

static int fail_after_probe(plait_ctx *ctx, void *arg)
{
    struct probe *p = arg;
    (void)ctx;
    if (!tl_wait_flag(&p->started, TL_WAIT_S))
        return EIO;
    return EDOM;
}

static int join_task(plait_ctx *ctx, void *arg)
{
    struct probe *p = arg;
    return plait_join(ctx, probe_task, p, fail_after_probe, p);
}

Test(cancel_cause, a_failing_join_branch_gives_its_code, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct probe p;
    probe_init(&p);
    cr_assert_eq(plait_go(g, join_task, &p), 0);
    cr_assert_eq(plait_group_wait(g), EDOM);
    check(&p, PLAIT_CANCEL_FAILURE, EDOM);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}
