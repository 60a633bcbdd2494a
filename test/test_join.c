/*
 * test_join — plait_join: fork-join inside a running task. Results against
 * the sequential computation, failure of one side cancelling the other,
 * the return code's precedence, bad input.
 */
#include "testlib.h"

/* ---- fib ---------------------------------------------------------------------- */

static long fib_seq(int n)
{
    return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2);
}

struct fib_arg {
    int n;
    long result;
};

static int fib_task(plait_ctx *ctx, void *arg)
{
    struct fib_arg *f = arg;
    if (f->n < 2) {
        f->result = f->n;
        return 0;
    }
    struct fib_arg a = {f->n - 1, 0}, b = {f->n - 2, 0};
    int r = plait_join(ctx, fib_task, &a, fib_task, &b);
    if (r != 0)
        return r;
    f->result = a.result + b.result;
    return 0;
}

static void check_fib(unsigned threads, int n)
{
    plait_pool *pool = tl_pool(threads);
    struct fib_arg f = {n, -1};
    plait_task *t = plait_submit(pool, fib_task, &f);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    cr_assert_eq(f.result, fib_seq(n), "fib(%d) on %u workers: %ld, want %ld", n, threads, f.result,
                 fib_seq(n));
    plait_stats s;
    cr_assert_eq(plait_pool_stats(pool, &s), 0);
    cr_assert_eq(s.tasks_succeeded, 1u, "join children are not tasks");
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(join, fib_matches_the_sequential_value_on_one_worker, .timeout = TL_TIMEOUT)
{
    check_fib(1, TL_SIZE(22, 16));
}

Test(join, fib_matches_the_sequential_value_on_two_and_four_workers, .timeout = TL_TIMEOUT)
{
    check_fib(2, TL_SIZE(24, 16));
    check_fib(4, TL_SIZE(24, 16));
}

struct fib_thread {
    plait_pool *pool;
    int n;
    long result;
    int r;
};

static void *fib_from_thread(void *arg)
{
    struct fib_thread *ft = arg;
    struct fib_arg f = {ft->n, -1};
    plait_task *t = plait_submit(ft->pool, fib_task, &f);
    if (t == NULL) {
        ft->r = errno;
        return NULL;
    }
    ft->r = plait_task_wait(t);
    plait_task_release(t);
    ft->result = f.result;
    return NULL;
}

Test(join, concurrent_roots_from_foreign_threads, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    enum { THREADS = 3 };
    struct fib_thread ft[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ft[i] = (struct fib_thread){pool, TL_SIZE(20, 14) + i, -1, -1};
        th[i] = tl_thread(fib_from_thread, &ft[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        tl_join_thread(th[i]);
        TL_ASSERT_CODE(ft[i].r, 0);
        cr_assert_eq(ft[i].result, fib_seq(ft[i].n));
    }
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- Failure and cancellation ---------------------------------------------------- */

struct pair {
    atomic_int a_started, b_started;
    atomic_int a_ran, b_ran;
    atomic_int a_saw_cancel, b_saw_cancel;
    int a_code, b_code;
    int join_result;
};

static void pair_init(struct pair *p, int a_code, int b_code)
{
    memset(p, 0, sizeof *p);
    atomic_init(&p->a_started, 0);
    atomic_init(&p->b_started, 0);
    atomic_init(&p->a_ran, 0);
    atomic_init(&p->b_ran, 0);
    atomic_init(&p->a_saw_cancel, 0);
    atomic_init(&p->b_saw_cancel, 0);
    p->a_code = a_code;
    p->b_code = b_code;
    p->join_result = -1;
}

/* b: announce, then poll until cancelled. */
static int b_polls(plait_ctx *ctx, void *arg)
{
    struct pair *p = arg;
    atomic_store(&p->b_ran, 1);
    tl_raise(&p->b_started);
    if (!TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S))
        return EIO;
    atomic_store(&p->b_saw_cancel, 1);
    return ECANCELED;
}

/* a: wait until b runs, then fail. */
static int a_fails_after_b_started(plait_ctx *ctx, void *arg)
{
    struct pair *p = arg;
    atomic_store(&p->a_ran, 1);
    tl_raise(&p->a_started);
    if (!tl_wait_flag(&p->b_started, TL_WAIT_S))
        return EIO;
    return plait_fail(ctx, p->a_code, "a failed");
}

static int join_pair(plait_ctx *ctx, void *arg, plait_fn a, plait_fn b)
{
    struct pair *p = arg;
    p->join_result = plait_join(ctx, a, p, b, p);
    return p->join_result;
}

static int join_a_fails_b_polls(plait_ctx *ctx, void *arg)
{
    return join_pair(ctx, arg, a_fails_after_b_started, b_polls);
}

Test(join, a_failing_cancels_a_running_b, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2); /* a must be stolen while b runs */
    struct pair p;
    pair_init(&p, ENOTDIR, 0);
    plait_task *t = plait_submit(pool, join_a_fails_b_polls, &p);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), ENOTDIR);
    TL_ASSERT_CODE(p.join_result, ENOTDIR);
    cr_assert_eq(atomic_load(&p.b_saw_cancel), 1, "b never saw a's failure");
    cr_assert_str_eq(plait_task_message(t), "a failed");
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

static int a_counts(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct pair *p = arg;
    atomic_store(&p->a_ran, 1);
    return 0;
}

static int b_fails(plait_ctx *ctx, void *arg)
{
    struct pair *p = arg;
    atomic_store(&p->b_ran, 1);
    return plait_fail(ctx, p->b_code, "b failed with %d", p->b_code);
}

static int join_b_fails_a_counts(plait_ctx *ctx, void *arg)
{
    return join_pair(ctx, arg, a_counts, b_fails);
}

Test(join, b_failing_means_a_not_yet_started_never_runs, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1); /* nobody can steal a before b is over */
    struct pair p;
    pair_init(&p, 0, EROFS);
    plait_task *t = plait_submit(pool, join_b_fails_a_counts, &p);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), EROFS);
    TL_ASSERT_CODE(p.join_result, EROFS);
    cr_assert_eq(atomic_load(&p.a_ran), 0, "a ran after b had failed");
    char want[64];
    snprintf(want, sizeof want, "b failed with %d", EROFS);
    cr_assert_str_eq(plait_task_message(t), want);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* a: announce, then poll until cancelled. */
static int a_polls(plait_ctx *ctx, void *arg)
{
    struct pair *p = arg;
    atomic_store(&p->a_ran, 1);
    tl_raise(&p->a_started);
    if (!TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S))
        return EIO;
    atomic_store(&p->a_saw_cancel, 1);
    return ECANCELED;
}

/* b: wait until a runs (stolen), then fail. */
static int b_fails_after_a_started(plait_ctx *ctx, void *arg)
{
    struct pair *p = arg;
    atomic_store(&p->b_ran, 1);
    if (!tl_wait_flag(&p->a_started, TL_WAIT_S))
        return EIO;
    return plait_fail(ctx, p->b_code, "b failed");
}

static int join_b_fails_a_polls(plait_ctx *ctx, void *arg)
{
    return join_pair(ctx, arg, a_polls, b_fails_after_a_started);
}

Test(join, b_failing_cancels_a_running_a, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct pair p;
    pair_init(&p, 0, EISDIR);
    plait_task *t = plait_submit(pool, join_b_fails_a_polls, &p);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), EISDIR);
    cr_assert_eq(atomic_load(&p.a_saw_cancel), 1, "a never saw b's failure");
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Both run to the point where both are running, then both fail. */
static int a_meets_then_fails(plait_ctx *ctx, void *arg)
{
    struct pair *p = arg;
    tl_raise(&p->a_started);
    if (!tl_wait_flag(&p->b_started, TL_WAIT_S))
        return EIO;
    return plait_fail(ctx, p->a_code, "a");
}

static int b_meets_then_fails(plait_ctx *ctx, void *arg)
{
    struct pair *p = arg;
    tl_raise(&p->b_started);
    if (!tl_wait_flag(&p->a_started, TL_WAIT_S))
        return EIO;
    return plait_fail(ctx, p->b_code, "b");
}

static int join_both_fail(plait_ctx *ctx, void *arg)
{
    return join_pair(ctx, arg, a_meets_then_fails, b_meets_then_fails);
}

Test(join, when_both_fail_a_s_code_wins, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    for (int round = 0; round < TL_SIZE(20, 5); round++) {
        struct pair p;
        pair_init(&p, ENOLINK, ENOMSG);
        plait_task *t = plait_submit(pool, join_both_fail, &p);
        cr_assert_not_null(t);
        TL_ASSERT_CODE(plait_task_wait(t), p.a_code);
        TL_ASSERT_CODE(p.join_result, p.a_code);
        cr_assert_str_eq(plait_task_message(t), "a", "the message follows the code");
        plait_task_release(t);
    }
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

static int join_of_noops(plait_ctx *ctx, void *arg)
{
    struct pair *p = arg;
    tl_raise(&p->a_started);
    if (!TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S))
        return EIO;
    p->join_result = plait_join(ctx, tl_noop_task, NULL, tl_noop_task, NULL);
    return p->join_result;
}

Test(join, a_join_in_a_cancelled_task_returns_ecanceled, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct pair p;
    pair_init(&p, 0, 0);
    plait_task *t = plait_submit(pool, join_of_noops, &p);
    cr_assert_not_null(t);
    TL_AWAIT(tl_raised(&p.a_started));
    plait_task_cancel(t);
    TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
    TL_ASSERT_CODE(p.join_result, ECANCELED);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

static int join_bad_input(plait_ctx *ctx, void *arg)
{
    int *r = arg;
    r[0] = plait_join(NULL, tl_noop_task, NULL, tl_noop_task, NULL);
    r[1] = plait_join(ctx, NULL, NULL, tl_noop_task, NULL);
    r[2] = plait_join(ctx, tl_noop_task, NULL, NULL, NULL);
    return 0;
}

Test(join, bad_input_is_einval, .timeout = TL_TIMEOUT)
{
    /* From a foreign thread there is no context. */
    TL_ASSERT_CODE(plait_join(NULL, tl_noop_task, NULL, tl_noop_task, NULL), EINVAL);
    plait_pool *pool = tl_pool(1);
    int r[3] = {-1, -1, -1};
    plait_task *t = plait_submit(pool, join_bad_input, r);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    for (int i = 0; i < 3; i++)
        TL_ASSERT_CODE(r[i], EINVAL);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

static int a_fails_with_message(plait_ctx *ctx, void *arg)
{
    (void)arg;
    return plait_fail(ctx, 77, "from a: row %d", 5);
}

static int join_and_return(plait_ctx *ctx, void *arg)
{
    (void)arg;
    return plait_join(ctx, a_fails_with_message, NULL, tl_noop_task, NULL);
}

/* The message given to plait_fail in a join child travels up with its code
 * to the task (join.c: "The error's message travels up with its code"). */
Test(join, a_childs_failure_message_reaches_the_task_and_its_group, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    plait_task *t = plait_spawn(g, join_and_return, NULL);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_group_wait(g), 77);
    cr_assert_str_eq(plait_task_message(t), "from a: row 5");
    const plait_error *errs;
    cr_assert_eq(plait_group_errors(g, &errs), 1u);
    cr_assert_str_eq(errs[0].message, "from a: row 5");
    cr_assert_eq(errs[0].task_id, plait_task_id(t));
    plait_task_release(t);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- Rule 4 through a join: a group created in a join child belongs to the
 * task, and cancelling the task cancels it. -------------------------------- */

struct join_group {
    struct tl_gate gate;
    atomic_int inner;
};

static int child_with_group(plait_ctx *ctx, void *arg)
{
    struct join_group *j = arg;
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r != 0)
        return r;
    r = plait_go(g, tl_gate_cancellable_task, &j->gate);
    atomic_store(&j->inner, plait_group_wait(g));
    plait_group_destroy(g);
    return r != 0 ? r : atomic_load(&j->inner);
}

static int join_with_group_in_a(plait_ctx *ctx, void *arg)
{
    return plait_join(ctx, child_with_group, arg, tl_noop_task, NULL);
}

static int join_with_group_in_b(plait_ctx *ctx, void *arg)
{
    return plait_join(ctx, tl_noop_task, NULL, child_with_group, arg);
}

/* Rule 4 */
Test(join, cancelling_the_task_cancels_groups_created_in_its_join_children, .timeout = TL_TIMEOUT)
{
    plait_fn roots[2] = {join_with_group_in_a, join_with_group_in_b};
    for (int i = 0; i < 2; i++) {
        plait_pool *pool = tl_pool(2);
        struct join_group j;
        tl_gate_init(&j.gate);
        atomic_init(&j.inner, -1);
        plait_task *t = plait_submit(pool, roots[i], &j);
        cr_assert_not_null(t);
        TL_AWAIT(atomic_load(&j.gate.started) == 1);
        plait_task_cancel(t);
        TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
        TL_ASSERT_CODE(atomic_load(&j.inner), ECANCELED);
        cr_assert_eq(atomic_load(&j.gate.saw_cancel), 1);
        plait_task_release(t);
        cr_assert_eq(plait_pool_destroy(pool), 0);
    }
}

/* A join deep in a recursion on one worker (Rule 7: never deadlocks). */
static int deep_join(plait_ctx *ctx, void *arg)
{
    int *depth = arg;
    if (*depth == 0)
        return 0;
    int left = *depth - 1, right = 0;
    return plait_join(ctx, deep_join, &right, deep_join, &left);
}

/* Rule 7 */
Test(join, a_thousand_nested_joins_on_one_worker, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    int depth = TL_SIZE(1000, 300);
    plait_task *t = plait_submit(pool, deep_join, &depth);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}
