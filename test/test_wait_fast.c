/*
 * test_wait_fast — the wait's fast path (src/worker.h, pl_wait_fast): a wait
 * on a worker whose own deque's newest job is the awaited group's task
 * runs it at once, without the loop's setup. It must keep what the loop
 * promises: the dump sees the wait while the task runs nested in it, a
 * job that is not awaited is not run by the wait, several own tasks run
 * one after the other, and the wait's result is the group's. (That the
 * waiter is recorded before the nested task runs is what the cycle tests
 * of test_waits.c need: without it they hang.)
 */
#include "testlib.h"

/* ---- The dump sees a wait whose fast path runs the group's task --------- */

struct seen {
    _Atomic(plait_group *) g;
    struct tl_gate gate;
};

static int seen_root(plait_ctx *ctx, void *arg)
{
    struct seen *s = arg;
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    atomic_store(&s->g, g);
    if ((r = plait_go(g, tl_gate_task, &s->gate)) != 0)
        return r;
    /* One worker: the gate task is the newest job of our deque, and runs
     * nested in this wait's fast path. */
    r = plait_group_wait(g);
    plait_group_destroy(g);
    return r;
}

/* Observability: the dump names the group a task waits on while that
 * wait runs the group's own task (observe.h: each task on a worker's
 * chain but the innermost is inside exactly one wait). */
Test(wait_fast, the_dump_sees_a_wait_that_runs_its_own_task, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct seen s;
    atomic_init(&s.g, NULL);
    tl_gate_init(&s.gate);
    plait_task *root = plait_submit(pool, seen_root, &s);
    cr_assert_not_null(root);
    TL_AWAIT(atomic_load(&s.gate.started) == 1);
    /* The gate task runs; its only way onto the worker is the root's wait. */
    cr_assert_eq(tl_waits_on_group(pool, atomic_load(&s.g)), 1,
                 "the dump does not show the root waiting on its group");
    tl_raise(&s.gate.open);
    TL_ASSERT_CODE(plait_task_wait(root), 0);
    plait_task_release(root);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- What the fast path runs, and what it leaves ------------------------ */

struct order {
    atomic_int ran[4];
    atomic_int next;
    atomic_int unrelated_ran;
    int unrelated_during_wait; /* unrelated_ran as the wait returned */
    int wait_rc, second_rc;
};

struct step {
    struct order *o;
    int index;
    int code;
};

static int step_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct step *s = arg;
    atomic_store(&s->o->ran[s->index], atomic_fetch_add(&s->o->next, 1) + 1);
    return s->code;
}

static int unrelated_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    atomic_store((atomic_int *)arg, 1);
    return 0;
}

static int order_root(plait_ctx *ctx, void *arg)
{
    struct order *o = arg;
    plait_pool *pool = plait_ctx_pool(ctx);
    plait_group *g, *h;
    if (plait_group_create(&g, pool, PLAIT_GROUP_COLLECT_ALL) != 0 ||
        plait_group_create(&h, pool, 0) != 0)
        return ENOMEM;
    struct step steps[3] = {{o, 0, 0}, {o, 1, EIO}, {o, 2, 0}};
    for (int i = 0; i < 3; i++)
        if (plait_go(g, step_task, &steps[i]) != 0)
            return EIO;
    o->wait_rc = plait_group_wait(g);
    /* An unrelated job on top of the group's own: the wait must not run
     * it (worker.c: a wait runs only what it depends on), and the job of
     * g below it still is the wait's. */
    plait_group *g2;
    if (plait_group_create(&g2, pool, 0) != 0)
        return ENOMEM;
    struct step last = {o, 3, 0};
    if (plait_go(g2, step_task, &last) != 0 || plait_go(h, unrelated_task, &o->unrelated_ran) != 0)
        return EIO;
    o->second_rc = plait_group_wait(g2);
    o->unrelated_during_wait = atomic_load(&o->unrelated_ran);
    int rh = plait_group_wait(h);
    plait_group_destroy(g2);
    plait_group_destroy(h);
    plait_group_destroy(g);
    return rh;
}

/* Rule 7 and the wait's result: on one worker the wait runs the group's
 * three tasks newest first (LIFO, each in the fast path), returns the
 * group's first error, and leaves an unrelated job on top of its deque to
 * that job's own wait. */
Test(wait_fast, runs_its_own_tasks_and_leaves_the_rest, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct order o;
    memset(&o, 0, sizeof o);
    for (int i = 0; i < 4; i++)
        atomic_init(&o.ran[i], 0);
    atomic_init(&o.next, 0);
    atomic_init(&o.unrelated_ran, 0);
    plait_task *root = plait_submit(pool, order_root, &o);
    cr_assert_not_null(root);
    TL_ASSERT_CODE(plait_task_wait(root), 0);
    TL_ASSERT_CODE(o.wait_rc, EIO);
    cr_assert_eq(atomic_load(&o.ran[2]), 1, "the newest task runs first");
    cr_assert_eq(atomic_load(&o.ran[1]), 2);
    cr_assert_eq(atomic_load(&o.ran[0]), 3);
    TL_ASSERT_CODE(o.second_rc, 0);
    cr_assert_eq(atomic_load(&o.ran[3]), 4, "the second group's task ran");
    cr_assert_eq(o.unrelated_during_wait, 0, "the wait ran a job it does not depend on");
    cr_assert_eq(atomic_load(&o.unrelated_ran), 1);
    plait_task_release(root);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}
