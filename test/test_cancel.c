/*
 * test_cancel — cancellation: fail fast (rule 2), cancelling a group or a
 * task by a call, and nesting (rule 4): cancelling a task reaches the
 * groups created inside it, transitively.
 */
#include "testlib.h"

/* A task that announces it runs, then fails with code once the test says. */
struct trigger {
    atomic_int started;
    atomic_int fire;
    int code;
};

static void trigger_init(struct trigger *t, int code)
{
    atomic_init(&t->started, 0);
    atomic_init(&t->fire, 0);
    t->code = code;
}

static int fail_on_trigger(plait_ctx *ctx, void *arg)
{
    struct trigger *t = arg;
    tl_raise(&t->started);
    if (!tl_wait_flag(&t->fire, TL_WAIT_S))
        return EIO;
    return plait_fail(ctx, t->code, "trigger %d", t->code);
}

/* ---- Rule 2: Fail fast ----------------------------------------------------- */

/* Rule 2 */
Test(fail_fast, queued_tasks_never_start_when_one_fails, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    struct trigger f;
    trigger_init(&f, EPIPE);
    plait_task *ft = plait_spawn(g, fail_on_trigger, &f);
    cr_assert_not_null(ft);
    TL_AWAIT(tl_raised(&f.started)); /* the only worker is in f */
    atomic_int ran = 0;
    enum { QUEUED = 10 };
    plait_task *q[QUEUED];
    for (int i = 0; i < QUEUED; i++) {
        q[i] = plait_spawn(g, tl_count_task, &ran);
        cr_assert_not_null(q[i]);
    }
    tl_raise(&f.fire);
    TL_ASSERT_CODE(plait_group_wait(g), EPIPE);
    cr_assert_eq(atomic_load(&ran), 0, "%d queued tasks started after a sibling failed",
                 atomic_load(&ran));
    for (int i = 0; i < QUEUED; i++) {
        TL_ASSERT_CODE(plait_task_status(q[i]), ECANCELED);
        plait_task_release(q[i]);
    }
    TL_ASSERT_CODE(plait_task_status(ft), EPIPE);
    plait_task_release(ft);
    cr_assert_eq(plait_group_errors(g, NULL), 1u, "cancelled tasks add no error");
    plait_stats s;
    cr_assert_eq(plait_pool_stats(pool, &s), 0);
    cr_assert_eq(s.tasks_cancelled, (uint64_t)QUEUED);
    cr_assert_eq(s.tasks_failed, 1u);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 2 */
Test(fail_fast, a_running_sibling_sees_plait_cancelled, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_task *s = plait_spawn(g, tl_gate_cancellable_task, &gate);
    cr_assert_not_null(s);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    cr_assert_eq(plait_go(g, tl_return_task, TL_CODE(ENOENT)), 0);
    TL_ASSERT_CODE(plait_group_wait(g), ENOENT);
    cr_assert_eq(atomic_load(&gate.saw_cancel), 1, "the running sibling never saw the cancel");
    TL_ASSERT_CODE(plait_task_status(s), ECANCELED);
    plait_task_release(s);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 2 (a broken cancel would sleep 60 s: the test timeout catches it) */
Test(fail_fast, a_sleeping_sibling_wakes_with_ecanceled, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct tl_sleeper s;
    tl_sleeper_init(&s, TL_MINUTE_NS);
    cr_assert_eq(plait_go(g, tl_sleep_task, &s), 0);
    TL_AWAIT(tl_raised(&s.started));
    uint64_t t0 = tl_now_ns();
    cr_assert_eq(plait_go(g, tl_return_task, TL_CODE(EBADF)), 0);
    TL_ASSERT_CODE(plait_group_wait(g), EBADF);
    cr_assert_lt(tl_since_s(t0), 10.0);
    TL_ASSERT_CODE(s.r, ECANCELED);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 2 */
Test(fail_fast, collect_all_gathers_every_error_without_cancelling, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_task *s = plait_spawn(g, tl_gate_cancellable_task, &gate);
    cr_assert_not_null(s);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    enum { N = 10 };
    plait_task *f[N];
    atomic_int ran = 0;
    for (int i = 0; i < N; i++) {
        f[i] = plait_spawn(g, tl_return_task, TL_CODE(1000 + i));
        cr_assert_not_null(f[i]);
    }
    for (int i = 0; i < N; i++)
        cr_assert_neq(plait_task_wait(f[i]), ECANCELED, "failing task %d was cancelled", i);
    /* Later tasks still run. */
    for (int i = 0; i < 5; i++)
        cr_assert_eq(plait_go(g, tl_count_task, &ran), 0);
    cr_assert_not(atomic_load(&gate.saw_cancel), "COLLECT_ALL cancelled a sibling");
    tl_raise(&gate.open);
    int r = plait_group_wait(g);
    cr_assert(r >= 1000 && r < 1000 + N, "wait returned %d, not one of the errors", r);
    TL_ASSERT_CODE(plait_task_status(s), 0);
    cr_assert_eq(atomic_load(&ran), 5);
    const plait_error *errs;
    cr_assert_eq(plait_group_errors(g, &errs), (size_t)N);
    TL_ASSERT_CODE(r, errs[0].code); /* the first error's code */
    int seen[N] = {0};
    for (int i = 0; i < N; i++) {
        cr_assert(errs[i].code >= 1000 && errs[i].code < 1000 + N);
        seen[errs[i].code - 1000]++;
    }
    for (int i = 0; i < N; i++) {
        cr_assert_eq(seen[i], 1, "error %d gathered %d times", 1000 + i, seen[i]);
        plait_task_release(f[i]);
    }
    plait_task_release(s);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- Cancelling by a call --------------------------------------------------- */

Test(cancel, group_cancel_stops_running_and_queued_tasks, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    cr_assert_eq(plait_go(g, tl_gate_cancellable_task, &gate), 0);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    atomic_int ran = 0;
    for (int i = 0; i < 20; i++)
        cr_assert_eq(plait_go(g, tl_count_task, &ran), 0);
    TL_ASSERT_CODE(plait_group_cancel(g), 0);
    TL_ASSERT_CODE(plait_group_cancel(g), 0); /* twice is fine */
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    cr_assert_eq(atomic_load(&gate.saw_cancel), 1);
    cr_assert_eq(atomic_load(&ran), 0);
    cr_assert_eq(plait_group_errors(g, NULL), 0u);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(cancel, cancelling_one_task_leaves_its_group_and_siblings_alone, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct tl_gate a, b;
    tl_gate_init(&a);
    tl_gate_init(&b);
    plait_task *ta = plait_spawn(g, tl_gate_cancellable_task, &a);
    plait_task *tb = plait_spawn(g, tl_gate_cancellable_task, &b);
    cr_assert_not_null(ta);
    cr_assert_not_null(tb);
    TL_AWAIT(atomic_load(&a.started) == 1 && atomic_load(&b.started) == 1);
    TL_ASSERT_CODE(plait_task_cancel(ta), 0);
    TL_ASSERT_CODE(plait_task_wait(ta), ECANCELED);
    cr_assert_eq(atomic_load(&a.saw_cancel), 1);
    /* The sibling runs on, and more spawns are accepted. */
    atomic_int ran = 0;
    cr_assert_eq(plait_go(g, tl_count_task, &ran), 0);
    tl_raise(&b.open);
    TL_ASSERT_CODE(plait_group_wait(g), 0); /* a cancelled task neither fails nor cancels */
    cr_assert_eq(atomic_load(&b.saw_cancel), 0);
    TL_ASSERT_CODE(plait_task_status(tb), 0);
    cr_assert_eq(atomic_load(&ran), 1);
    cr_assert_eq(plait_group_errors(g, NULL), 0u);
    plait_task_release(ta);
    plait_task_release(tb);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(cancel, cancel_from_another_thread_while_waiting, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    for (int round = 0; round < TL_SIZE(50, 10); round++) {
        plait_group *g = tl_group(pool, 0);
        struct tl_gate gate;
        tl_gate_init(&gate);
        for (int i = 0; i < 4; i++)
            cr_assert_eq(plait_go(g, tl_gate_cancellable_task, &gate), 0);
        pthread_t th = tl_thread(tl_cancel_group_thread, g);
        TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
        tl_join_thread(th);
        plait_group_destroy(g);
    }
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- Rule 4: Nesting -------------------------------------------------------- */

/* Three levels: a task creates a group and spawns into it a task that
 * creates a group, and so on; the innermost task waits at a gate. Every
 * level records what its wait returned. */
struct level {
    int depth; /* 0: the innermost */
    struct tl_gate *gate;
    atomic_int *wait_result; /* per level */
    atomic_int *groups_made;
};

static int nest_task(plait_ctx *ctx, void *arg)
{
    struct level *l = arg;
    if (l->depth == 0)
        return tl_gate_cancellable_task(ctx, l->gate);
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    atomic_fetch_add(l->groups_made, 1);
    struct level inner = {l->depth - 1, l->gate, l->wait_result, l->groups_made};
    r = plait_go(g, nest_task, &inner);
    int w = plait_group_wait(g);
    atomic_store(&l->wait_result[l->depth], w);
    plait_group_destroy(g);
    return r != 0 ? r : w;
}

static void levels_init(atomic_int *res, int n, atomic_int *made)
{
    for (int i = 0; i < n; i++)
        atomic_init(&res[i], -1);
    atomic_init(made, 0);
}

/* Rule 4 */
Test(nesting, cancelling_a_task_cancels_groups_created_inside_it_three_levels_deep,
     .timeout = TL_TIMEOUT)
{
    for (unsigned threads = 1; threads <= 4; threads *= 2) {
        plait_pool *pool = tl_pool(threads);
        struct tl_gate gate;
        tl_gate_init(&gate);
        atomic_int res[4], made;
        levels_init(res, 4, &made);
        struct level top = {3, &gate, res, &made};
        plait_task *t = plait_submit(pool, nest_task, &top);
        cr_assert_not_null(t);
        TL_AWAIT(atomic_load(&gate.started) == 1);
        cr_assert_eq(atomic_load(&made), 3);
        TL_ASSERT_CODE(plait_task_cancel(t), 0);
        TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
        cr_assert_eq(atomic_load(&gate.saw_cancel), 1, "%u workers: innermost not cancelled",
                     threads);
        for (int d = 1; d <= 3; d++)
            TL_ASSERT_CODE(atomic_load(&res[d]), ECANCELED);
        plait_task_release(t);
        cr_assert_eq(plait_pool_destroy(pool), 0);
    }
}

/* Rule 4 */
Test(nesting, cancelling_a_group_cancels_groups_created_by_its_tasks, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    atomic_int res[4], made;
    levels_init(res, 4, &made);
    struct level top = {3, &gate, res, &made};
    cr_assert_eq(plait_go(g, nest_task, &top), 0);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    TL_ASSERT_CODE(plait_group_cancel(g), 0);
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    cr_assert_eq(atomic_load(&gate.saw_cancel), 1);
    for (int d = 1; d <= 3; d++)
        TL_ASSERT_CODE(atomic_load(&res[d]), ECANCELED);
    cr_assert_eq(plait_group_errors(g, NULL), 0u);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 4 */
Test(nesting, a_failure_cancels_groups_nested_in_its_siblings, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    atomic_int res[4], made;
    levels_init(res, 4, &made);
    struct level top = {2, &gate, res, &made};
    cr_assert_eq(plait_go(g, nest_task, &top), 0);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    cr_assert_eq(plait_go(g, tl_return_task, TL_CODE(EXDEV)), 0);
    TL_ASSERT_CODE(plait_group_wait(g), EXDEV);
    cr_assert_eq(atomic_load(&gate.saw_cancel), 1);
    TL_ASSERT_CODE(atomic_load(&res[1]), ECANCELED);
    TL_ASSERT_CODE(atomic_load(&res[2]), ECANCELED);
    const plait_error *errs;
    cr_assert_eq(plait_group_errors(g, &errs), 1u, "inner cancellations add no error");
    TL_ASSERT_CODE(errs[0].code, EXDEV);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Two siblings each create a nested group; cancelling one sibling's task
 * must not reach the other's group. The second gate is opened right after
 * the cancel returns (the cancel flags every group it reaches before it
 * returns), so the second innermost task reads cancelled only if the
 * cancel wrongly reached it; the test never waits on one branch while the
 * other is still blocked (a worker's wait may have picked it up). */
struct branch {
    struct tl_gate gate;
    atomic_int res[3];
    atomic_int made;
    struct level top;
};

/* Rule 4 */
Test(nesting, cancelling_one_task_spares_groups_created_by_its_siblings, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    plait_group *g = tl_group(pool, 0);
    struct branch b[2];
    plait_task *t[2];
    for (int i = 0; i < 2; i++) {
        tl_gate_init(&b[i].gate);
        levels_init(b[i].res, 3, &b[i].made);
        b[i].top = (struct level){2, &b[i].gate, b[i].res, &b[i].made};
        t[i] = plait_spawn(g, nest_task, &b[i].top);
        cr_assert_not_null(t[i]);
    }
    TL_AWAIT(atomic_load(&b[0].gate.started) == 1 && atomic_load(&b[1].gate.started) == 1);
    TL_ASSERT_CODE(plait_task_cancel(t[0]), 0);
    tl_raise(&b[1].gate.open);
    TL_ASSERT_CODE(plait_group_wait(g), 0); /* a cancelled task neither fails nor cancels */
    TL_ASSERT_CODE(plait_task_status(t[0]), ECANCELED);
    cr_assert_eq(atomic_load(&b[0].gate.saw_cancel), 1);
    TL_ASSERT_CODE(atomic_load(&b[0].res[1]), ECANCELED);
    TL_ASSERT_CODE(atomic_load(&b[0].res[2]), ECANCELED);
    cr_assert_eq(atomic_load(&b[1].gate.saw_cancel), 0, "the sibling's nested group was cancelled");
    TL_ASSERT_CODE(plait_task_status(t[1]), 0);
    TL_ASSERT_CODE(atomic_load(&b[1].res[1]), 0);
    TL_ASSERT_CODE(atomic_load(&b[1].res[2]), 0);
    plait_task_release(t[0]);
    plait_task_release(t[1]);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct after_cancel {
    atomic_int started;
    atomic_int inner_wait;
    atomic_int child_status;
    atomic_int ran;
};

static int group_made_after_cancel(plait_ctx *ctx, void *arg)
{
    struct after_cancel *a = arg;
    tl_raise(&a->started);
    if (!TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S))
        return EIO;
    /* Already cancelled: a group created now belongs to a cancelled task. */
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    plait_task *c = plait_spawn(g, tl_count_task, &a->ran);
    atomic_store(&a->child_status, c != NULL ? plait_task_wait(c) : errno);
    plait_task_release(c);
    atomic_store(&a->inner_wait, plait_group_wait(g));
    plait_group_destroy(g);
    return ECANCELED;
}

/* Rule 4 */
Test(nesting, a_group_created_by_an_already_cancelled_task_is_born_cancelled, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct after_cancel a;
    atomic_init(&a.started, 0);
    atomic_init(&a.inner_wait, -1);
    atomic_init(&a.child_status, -1);
    atomic_init(&a.ran, 0);
    plait_task *t = plait_submit(pool, group_made_after_cancel, &a);
    cr_assert_not_null(t);
    TL_AWAIT(tl_raised(&a.started));
    plait_task_cancel(t);
    TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
    TL_ASSERT_CODE(atomic_load(&a.child_status), ECANCELED);
    TL_ASSERT_CODE(atomic_load(&a.inner_wait), ECANCELED);
    cr_assert_eq(atomic_load(&a.ran), 0);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 4 */
Test(nesting, an_outer_deadline_times_out_only_the_outer_group, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    atomic_int res[4], made;
    levels_init(res, 4, &made);
    struct level top = {2, &gate, res, &made};
    cr_assert_eq(plait_go(g, nest_task, &top), 0);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    TL_ASSERT_CODE(plait_group_set_timeout(g, 20 * 1000000u), 0);
    TL_ASSERT_CODE(plait_group_wait(g), ETIMEDOUT);
    cr_assert_eq(atomic_load(&gate.saw_cancel), 1);
    TL_ASSERT_CODE(atomic_load(&res[1]), ECANCELED);
    TL_ASSERT_CODE(atomic_load(&res[2]), ECANCELED);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct inner_deadline {
    struct tl_gate gate;
    atomic_int inner_result;
};

static int inner_group_with_deadline(plait_ctx *ctx, void *arg)
{
    struct inner_deadline *a = arg;
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    /* Spawn first, and let the other worker start it: a deadline that
     * found it queued would finish it never run (the gate's saw_cancel
     * stays 0). */
    if ((r = plait_go(g, tl_gate_cancellable_task, &a->gate)) == 0 &&
        !TL_SPIN_UNTIL(atomic_load(&a->gate.started) == 1, TL_WAIT_S))
        r = ETIME;
    if (r == 0)
        r = plait_group_set_timeout(g, 20 * 1000000u);
    atomic_store(&a->inner_result, plait_group_wait(g));
    plait_group_destroy(g);
    return r; /* the inner timeout is handled here: the task succeeds */
}

static int not_cancelled_task(plait_ctx *ctx, void *arg)
{
    (void)arg;
    return plait_cancelled(ctx) ? ECANCELED : 0;
}

/* Rule 4 */
Test(nesting, an_inner_deadline_times_out_only_the_inner_group, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *outer = tl_group(pool, 0);
    struct inner_deadline a;
    tl_gate_init(&a.gate);
    atomic_init(&a.inner_result, -1);
    plait_task *t = plait_spawn(outer, inner_group_with_deadline, &a);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    TL_ASSERT_CODE(atomic_load(&a.inner_result), ETIMEDOUT);
    cr_assert_eq(atomic_load(&a.gate.saw_cancel), 1);
    /* The outer group was not cancelled: a task spawned now runs and does
     * not read cancelled. */
    plait_task *s = plait_spawn(outer, not_cancelled_task, NULL);
    cr_assert_not_null(s);
    TL_ASSERT_CODE(plait_task_wait(s), 0);
    TL_ASSERT_CODE(plait_group_wait(outer), 0);
    plait_task_release(t);
    plait_task_release(s);
    plait_group_destroy(outer);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 4: a group created by a lone task, the lone task cancelled while
 * the inner group is waited on by a foreign thread. */
struct handoff {
    _Atomic(plait_group *) g;
    struct tl_gate gate;
    atomic_int release;
};

static int create_and_hand_off(plait_ctx *ctx, void *arg)
{
    struct handoff *h = arg;
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    if ((r = plait_go(g, tl_gate_cancellable_task, &h->gate)) != 0)
        return r;
    atomic_store(&h->g, g);
    /* Stay alive (the group follows this task's fate while it runs). */
    if (!TL_SPIN_UNTIL(plait_cancelled(ctx) || tl_raised(&h->release), TL_WAIT_S))
        return EIO;
    return plait_cancelled(ctx) ? ECANCELED : 0;
}

/* Rule 4 */
Test(nesting, a_foreign_waiter_sees_ecanceled_when_the_creating_task_is_cancelled,
     .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct handoff h;
    atomic_init(&h.g, NULL);
    tl_gate_init(&h.gate);
    atomic_init(&h.release, 0);
    plait_task *t = plait_submit(pool, create_and_hand_off, &h);
    cr_assert_not_null(t);
    TL_AWAIT(atomic_load(&h.g) != NULL && atomic_load(&h.gate.started) == 1);
    plait_task_cancel(t);
    plait_group *g = atomic_load(&h.g);
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    cr_assert_eq(atomic_load(&h.gate.saw_cancel), 1);
    TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
    plait_group_destroy(g);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}
