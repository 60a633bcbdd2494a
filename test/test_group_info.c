/*
 * test_group_info — plait_group_get_info: counts while tasks run and after
 * the wait, by outcome (succeeded, failed, cancelled, never run); why a
 * group was cancelled (a call, a failure, its deadline, an enclosing
 * task), so that "timed out" and "failed" are told apart in a collect-all
 * group; and the errors lost for want of memory.
 */
#include "testlib.h"

#include "alloc.h"

static plait_group_info info_of(plait_group *g)
{
    plait_group_info i;
    TL_ASSERT_CODE(plait_group_get_info(g, &i), 0);
    return i;
}

Test(group_info, counts_while_running_and_after_the_wait, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_group *g = tl_group(pool, 0);
    plait_group_info i = info_of(g);
    cr_assert_eq(i.spawned, 0);
    cr_assert_not(i.waited);
    for (int k = 0; k < 10; k++)
        cr_assert_eq(plait_go(g, tl_gate_task, &gate), 0);
    TL_AWAIT(atomic_load(&gate.started) == 2);
    i = info_of(g);
    cr_assert_eq(i.spawned, 10);
    cr_assert_eq(i.pending, 10);
    cr_assert_eq(i.succeeded + i.failed + i.cancelled, 0);
    tl_raise(&gate.open);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    i = info_of(g);
    cr_assert_eq(i.spawned, 10);
    cr_assert_eq(i.pending, 0);
    cr_assert_eq(i.succeeded, 10);
    cr_assert(i.waited);
    cr_assert_not(i.is_cancelled);
    cr_assert_eq(i.cancel_reason, PLAIT_CANCEL_NONE);
    for (size_t k = 0; k < sizeof i.reserved / sizeof i.reserved[0]; k++)
        cr_assert_eq(i.reserved[k], 0);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(group_info, counts_each_outcome, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    for (int k = 0; k < 5; k++)
        cr_assert_eq(plait_go(g, tl_return_task, TL_CODE(0)), 0);
    for (int k = 0; k < 3; k++)
        cr_assert_eq(plait_go(g, tl_return_task, TL_CODE(EIO)), 0);
    for (int k = 0; k < 2; k++)
        cr_assert_eq(plait_go(g, tl_return_task, TL_CODE(ECANCELED)), 0);
    TL_ASSERT_CODE(plait_group_wait(g), EIO);
    plait_group_info i = info_of(g);
    cr_assert_eq(i.spawned, 10);
    cr_assert_eq(i.succeeded, 5);
    cr_assert_eq(i.failed, 3);
    cr_assert_eq(i.cancelled, 2);
    cr_assert_eq(i.never_run, 0, "they ran, and returned ECANCELED");
    cr_assert_eq(i.errors_lost, 0);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(group_info, tasks_cancelled_before_they_ran_are_never_run, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct tl_gate gate;
    plait_group *busy = tl_busy_group(pool, &gate);
    plait_group *g = tl_group(pool, 0);
    for (int k = 0; k < 20; k++)
        cr_assert_eq(plait_go(g, tl_noop_task, NULL), 0);
    TL_ASSERT_CODE(plait_group_cancel(g), 0);
    /* A refused spawn is not counted. */
    TL_ASSERT_CODE(plait_go(g, tl_noop_task, NULL), ECANCELED);
    tl_raise(&gate.open);
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    plait_group_info i = info_of(g);
    cr_assert_eq(i.spawned, 20);
    cr_assert_eq(i.cancelled, 20);
    cr_assert_eq(i.never_run, 20);
    cr_assert(i.is_cancelled);
    cr_assert_eq(i.cancel_reason, PLAIT_CANCEL_CALL);
    plait_group_destroy(g);
    TL_ASSERT_CODE(plait_group_wait(busy), 0);
    plait_group_destroy(busy);
    plait_pool_destroy(pool);
}

static int fail_after_gate(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct tl_gate *gate = arg;
    atomic_fetch_add_explicit(&gate->started, 1, memory_order_acq_rel);
    TL_SPIN_UNTIL(tl_raised(&gate->open), TL_WAIT_S);
    return EIO;
}

Test(group_info, tells_timed_out_from_failed_in_a_collect_all_group, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    /* Failed, deadline never reached. */
    plait_group *g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    cr_assert_eq(plait_go(g, tl_return_task, TL_CODE(EIO)), 0);
    TL_ASSERT_CODE(plait_group_set_timeout(g, 60ull * 1000000000u), 0);
    TL_ASSERT_CODE(plait_group_wait(g), EIO);
    plait_group_info i = info_of(g);
    cr_assert_eq(i.failed, 1);
    cr_assert_not(i.timed_out);
    cr_assert_not(i.is_cancelled);
    plait_group_destroy(g);
    /* Failed and timed out: the wait says EIO, the info says both. */
    struct tl_gate gate, fail_gate;
    tl_gate_init(&gate);
    tl_gate_init(&fail_gate);
    g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    cr_assert_eq(plait_go(g, tl_gate_cancellable_task, &gate), 0);
    cr_assert_eq(plait_go(g, fail_after_gate, &fail_gate), 0);
    /* Both running before the deadline: a task the deadline finds queued
     * would finish cancelled, never run, and the wait say ETIMEDOUT. */
    TL_AWAIT(atomic_load(&gate.started) == 1 && atomic_load(&fail_gate.started) == 1);
    TL_ASSERT_CODE(plait_group_set_timeout(g, 1000000), 0);
    TL_AWAIT(info_of(g).timed_out);
    tl_raise(&fail_gate.open);
    TL_ASSERT_CODE(plait_group_wait(g), EIO);
    i = info_of(g);
    cr_assert_eq(i.failed, 1);
    cr_assert(i.timed_out);
    cr_assert_eq(i.cancel_reason, PLAIT_CANCEL_DEADLINE);
    cr_assert_eq(i.cancelled, 1);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

struct nest {
    plait_group *inner;
    struct tl_gate gate;
};

static int create_inner_and_wait(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct nest *n = arg;
    if (plait_group_create(&n->inner, plait_ctx_pool(ctx), 0) != 0)
        return ENOMEM;
    if (plait_go(n->inner, tl_gate_cancellable_task, &n->gate) != 0)
        return EIO;
    return plait_group_wait(n->inner);
}

Test(group_info, an_enclosing_cancellation_is_named, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct nest n = {0};
    tl_gate_init(&n.gate);
    plait_group *outer = tl_group(pool, 0);
    cr_assert_eq(plait_go(outer, create_inner_and_wait, &n), 0);
    TL_AWAIT(atomic_load(&n.gate.started) == 1);
    plait_group_cancel(outer);
    TL_ASSERT_CODE(plait_group_wait(outer), ECANCELED);
    plait_group_info i = info_of(n.inner);
    cr_assert(i.is_cancelled);
    cr_assert_eq(i.cancel_reason, PLAIT_CANCEL_ENCLOSING);
    cr_assert_eq(info_of(outer).cancel_reason, PLAIT_CANCEL_CALL);
    plait_group_destroy(n.inner);
    plait_group_destroy(outer);
    plait_pool_destroy(pool);
}

Test(group_info, an_error_that_cannot_be_stored_is_counted_lost, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct tl_gate gate;
    plait_group *busy = tl_busy_group(pool, &gate);
    plait_group *g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    /* Failures without a message: the only allocation they make is the
     * error array's growth, at the fifth error. */
    for (int k = 0; k < 8; k++)
        cr_assert_eq(plait_go(g, tl_return_task, TL_CODE(EIO)), 0);
    pl_fault_set(1);
    tl_raise(&gate.open);
    TL_ASSERT_CODE(plait_group_wait(g), EIO);
    pl_fault_set(0);
    plait_group_info i = info_of(g);
    cr_assert_eq(i.failed, 8);
    cr_assert_eq(i.errors_lost, 1);
    cr_assert_eq(plait_group_errors(g, NULL), 7);
    plait_group_destroy(g);
    TL_ASSERT_CODE(plait_group_wait(busy), 0);
    plait_group_destroy(busy);
    plait_pool_destroy(pool);
}

Test(group_info, bad_calls, .timeout = TL_TIMEOUT)
{
    plait_group_info i;
    TL_ASSERT_CODE(plait_group_get_info(NULL, &i), EINVAL);
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_get_info(g, NULL), EINVAL);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}
