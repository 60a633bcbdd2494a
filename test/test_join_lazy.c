/*
 * test_join_lazy — plait_join's paths since a's context is built only when
 * a is taken by a thief: popped back after a successful b, a runs in b's
 * finished context; a thief builds a's own, in a handshake with a failing
 * b. Each test names the path it pins down.
 */
#include "testlib.h"

struct lazy {
    atomic_int a_ran, a_saw_cancel, b_started, a_started;
    atomic_int go; /* raised by the test */
    int a_code;    /* what a returns (through plait_fail when msg_a) */
    const char *msg_a, *msg_b;
    int b_code; /* what b returns (through plait_fail when msg_b) */
    int join_result;
    plait_pool *pool;
    uint64_t steals_before;
};

static void lazy_init(struct lazy *l)
{
    memset(l, 0, sizeof *l);
    atomic_init(&l->a_ran, 0);
    atomic_init(&l->a_saw_cancel, 0);
    atomic_init(&l->b_started, 0);
    atomic_init(&l->a_started, 0);
    atomic_init(&l->go, 0);
    l->join_result = -1;
}

static int a_returns(plait_ctx *ctx, void *arg)
{
    struct lazy *l = arg;
    atomic_store(&l->a_ran, 1);
    return l->msg_a != NULL ? plait_fail(ctx, l->a_code, "%s", l->msg_a) : l->a_code;
}

static int b_returns(plait_ctx *ctx, void *arg)
{
    struct lazy *l = arg;
    return l->msg_b != NULL ? plait_fail(ctx, l->b_code, "%s", l->msg_b) : l->b_code;
}

static int join_ab(plait_ctx *ctx, void *arg)
{
    struct lazy *l = arg;
    l->join_result = plait_join(ctx, a_returns, l, b_returns, l);
    return l->join_result;
}

/* One worker: a is always popped back after b. */
static plait_task *run_one(plait_pool *pool, struct lazy *l, plait_fn root)
{
    plait_task *t = plait_submit(pool, root, l);
    cr_assert_not_null(t);
    plait_task_wait(t);
    return t;
}

/* Path: a inline in b's context; its failure's message travels up. */
Test(join_lazy, a_run_inline_fails_with_its_message, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct lazy l;
    lazy_init(&l);
    l.a_code = ENOTDIR;
    l.msg_a = "a's own words";
    plait_task *t = run_one(pool, &l, join_ab);
    TL_ASSERT_CODE(plait_task_wait(t), ENOTDIR);
    TL_ASSERT_CODE(l.join_result, ENOTDIR);
    cr_assert_str_eq(plait_task_message(t), "a's own words");
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Path: b succeeded but left a message: a must not run in b's context (it
 * would fail carrying b's words); a's failure without a message leaves
 * none, and b's is dropped. */
Test(join_lazy, b_s_message_is_not_a_s, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct lazy l;
    lazy_init(&l);
    l.a_code = EROFS;
    l.msg_b = "b's words, b succeeded";
    plait_task *t = run_one(pool, &l, join_ab);
    TL_ASSERT_CODE(plait_task_wait(t), EROFS);
    cr_assert_null(plait_task_message(t), "got \"%s\"", plait_task_message(t));
    plait_task_release(t);

    /* And with a message of a's own, a's wins. */
    lazy_init(&l);
    l.a_code = EROFS;
    l.msg_a = "a";
    l.msg_b = "b";
    t = run_one(pool, &l, join_ab);
    TL_ASSERT_CODE(plait_task_wait(t), EROFS);
    cr_assert_str_eq(plait_task_message(t), "a");
    plait_task_release(t);

    /* b's failure with a message, a never runs. */
    lazy_init(&l);
    l.b_code = EXDEV;
    l.msg_b = "b failed";
    t = run_one(pool, &l, join_ab);
    TL_ASSERT_CODE(plait_task_wait(t), EXDEV);
    cr_assert_eq(atomic_load(&l.a_ran), 0, "a ran after b had failed");
    cr_assert_str_eq(plait_task_message(t), "b failed");
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* b returning ECANCELED does not cancel a: a still runs (in a context of
 * its own, b's being no fresh one), and the join reports ECANCELED. */
Test(join_lazy, b_cancelled_does_not_skip_a, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct lazy l;
    lazy_init(&l);
    l.b_code = ECANCELED;
    plait_task *t = run_one(pool, &l, join_ab);
    TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
    cr_assert_eq(atomic_load(&l.a_ran), 1);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Path: a inline in b's finished context sees its task's cancellation. */
static int a_waits_for_cancel(plait_ctx *ctx, void *arg)
{
    struct lazy *l = arg;
    atomic_store(&l->a_ran, 1);
    tl_raise(&l->a_started);
    if (!TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S))
        return EIO;
    atomic_store(&l->a_saw_cancel, 1);
    /* A group created now is born cancelled (the creator's rule). */
    plait_group *g;
    if (plait_group_create(&g, plait_ctx_pool(ctx), 0) != 0)
        return ENOMEM;
    int w = plait_group_wait(g);
    plait_group_destroy(g);
    return w == ECANCELED ? ECANCELED : EIO;
}

static int join_a_waits(plait_ctx *ctx, void *arg)
{
    struct lazy *l = arg;
    l->join_result = plait_join(ctx, a_waits_for_cancel, l, tl_noop_task, NULL);
    return l->join_result;
}

Test(join_lazy, a_run_inline_sees_its_task_cancelled, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct lazy l;
    lazy_init(&l);
    plait_task *t = plait_submit(pool, join_a_waits, &l);
    cr_assert_not_null(t);
    TL_AWAIT(tl_raised(&l.a_started));
    plait_task_cancel(t);
    TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
    TL_ASSERT_CODE(l.join_result, ECANCELED);
    cr_assert_eq(atomic_load(&l.a_saw_cancel), 1);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Path: a inline after b created a group that outlives b, and a creates
 * one too, in the context it shares with b. Both follow the task: cancelled
 * by its cancellation while a runs (case 0), and after the join returned,
 * when both have passed to the task's context (case 1). */
struct kept {
    struct lazy l;
    int when;
    plait_group *gb, *ga;
    atomic_int joined;
};

static int b_keeps_a_group(plait_ctx *ctx, void *arg)
{
    struct kept *k = arg;
    return plait_group_create(&k->gb, plait_ctx_pool(ctx), 0);
}

static int a_keeps_a_group(plait_ctx *ctx, void *arg)
{
    struct kept *k = arg;
    atomic_store(&k->l.a_ran, 1);
    int r = plait_group_create(&k->ga, plait_ctx_pool(ctx), 0);
    if (r != 0 || k->when == 1)
        return r;
    tl_raise(&k->l.a_started);
    if (!TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S))
        return EIO;
    return 0;
}

static int join_keeps(plait_ctx *ctx, void *arg)
{
    struct kept *k = arg;
    k->l.join_result = plait_join(ctx, a_keeps_a_group, k, b_keeps_a_group, k);
    if (k->when == 1) {
        tl_raise(&k->joined);
        if (!TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S))
            return EIO;
    }
    int wb = k->gb != NULL ? plait_group_wait(k->gb) : EIO;
    int wa = k->ga != NULL ? plait_group_wait(k->ga) : EIO;
    if (k->gb != NULL)
        plait_group_destroy(k->gb);
    if (k->ga != NULL)
        plait_group_destroy(k->ga);
    return wb == ECANCELED && wa == ECANCELED ? ECANCELED : EIO;
}

Test(join_lazy, groups_of_a_run_inline_and_of_b_follow_the_task, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1); /* a is popped back: inline */
    for (int when = 0; when < 2; when++) {
        struct kept k;
        memset(&k, 0, sizeof k);
        lazy_init(&k.l);
        atomic_init(&k.joined, 0);
        k.when = when;
        plait_task *t = plait_submit(pool, join_keeps, &k);
        cr_assert_not_null(t);
        if (when == 0)
            TL_AWAIT(tl_raised(&k.l.a_started));
        else
            TL_AWAIT(tl_raised(&k.joined));
        plait_task_cancel(t);
        TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
        TL_ASSERT_CODE(k.l.join_result, when == 0 ? ECANCELED : 0);
        plait_task_release(t);
    }
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Path: the handshake of a failing b with a thief. b waits until a was
 * stolen (the steal is counted before the thief runs it), then fails at
 * once, racing the thief's build of a's context: either the thief comes
 * second and a never runs, or it comes first and a is cancelled. A thief
 * that missed b's failure would run a uncancelled (a then times out).
 * Rounds go on until the thief came second at least once. */
static uint64_t steals(plait_pool *pool)
{
    plait_stats s;
    plait_pool_stats(pool, &s);
    return s.steals;
}

static int a_polls(plait_ctx *ctx, void *arg)
{
    struct lazy *l = arg;
    atomic_store(&l->a_ran, 1);
    if (!TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S))
        return EIO;
    atomic_store(&l->a_saw_cancel, 1);
    return ECANCELED;
}

static int b_fails_once_a_is_stolen(plait_ctx *ctx, void *arg)
{
    struct lazy *l = arg;
    (void)ctx;
    /* No yield in the spin: b must fail as soon as it sees the steal. */
    uint64_t t0 = tl_now_ns();
    while (steals(l->pool) == l->steals_before)
        if (tl_since_s(t0) > TL_WAIT_S)
            return EIO;
    return ENOSPC;
}

static int join_race(plait_ctx *ctx, void *arg)
{
    struct lazy *l = arg;
    l->join_result = plait_join(ctx, a_polls, l, b_fails_once_a_is_stolen, l);
    return l->join_result;
}

Test(join_lazy, a_stolen_while_b_fails_is_cancelled_or_never_runs, .timeout = 120)
{
    plait_pool *pool = tl_pool(2);
    int skipped = 0, cancelled = 0, rounds = 0;
    uint64_t t0 = tl_now_ns();
    while ((skipped == 0 || cancelled == 0) && rounds < 20000 && tl_since_s(t0) < 30) {
        struct lazy l;
        lazy_init(&l);
        l.pool = pool;
        l.steals_before = steals(pool);
        plait_task *t = plait_submit(pool, join_race, &l);
        cr_assert_not_null(t);
        TL_ASSERT_CODE(plait_task_wait(t), ENOSPC);
        TL_ASSERT_CODE(l.join_result, ENOSPC);
        plait_task_release(t);
        if (atomic_load(&l.a_ran))
            cr_assert_eq(atomic_load(&l.a_saw_cancel), 1, "a ran and was never cancelled");
        if (atomic_load(&l.a_ran))
            cancelled++;
        else
            skipped++;
        rounds++;
    }
    cr_log_info("%d rounds: thief second %d, first %d", rounds, skipped, cancelled);
    cr_assert_gt(skipped, 0, "the thief never came second in %d rounds", rounds);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Path: b leaves work above our frame (a group's task it did not wait
 * for) and fails: join_slow runs that work aside, then finds a and does
 * not run it. */
struct left {
    struct lazy l;
    plait_group *g;
    atomic_int left_ran;
};

static int left_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct left *x = arg;
    atomic_store(&x->left_ran, 1);
    return 0;
}

static int b_leaves_work_and_fails(plait_ctx *ctx, void *arg)
{
    struct left *x = arg;
    int r = plait_group_create(&x->g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    r = plait_go(x->g, left_task, x);
    return r != 0 ? r : EPIPE;
}

static int a_counts(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct left *x = arg;
    atomic_store(&x->l.a_ran, 1);
    return 0;
}

static int join_left(plait_ctx *ctx, void *arg)
{
    struct left *x = arg;
    x->l.join_result = plait_join(ctx, a_counts, x, b_leaves_work_and_fails, x);
    int w = plait_group_wait(x->g);
    plait_group_destroy(x->g);
    return w == 0 ? x->l.join_result : EIO;
}

Test(join_lazy, b_fails_leaving_work_above_a, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct left x;
    lazy_init(&x.l);
    atomic_init(&x.left_ran, 0);
    plait_task *t = plait_submit(pool, join_left, &x);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), EPIPE);
    cr_assert_eq(atomic_load(&x.left_ran), 1);
    cr_assert_eq(atomic_load(&x.l.a_ran), 0, "a ran after b had failed");
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}
