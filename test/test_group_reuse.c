/*
 * test_group_reuse — a group record reused from its worker's cache starts
 * clean. plait_group_create re-initialises a cached record only in the
 * fields every use changes; the rest a finished group leaves at their
 * initial values, or plait_group_destroy puts back (src/group.c,
 * init_clean), and create clears the per-use counts and feature fields in
 * one block. Each test makes a first group use one feature (errors beyond
 * the inline four, a deadline, a limit, holds, an asynchronous cancel, a
 * name, the info counts, a cancel reason), destroys it, and checks that a
 * second group made right after it on the same worker, the same record,
 * shows none of it and can use the feature again.
 *
 * Everything runs inside one task of a one-worker pool, so the destroy and
 * the next create meet the same cache; the test thread asserts on what
 * the task recorded.
 */
#include "testlib.h"

/* What the second group looked like: made after the first was destroyed,
 * given one task that succeeds, waited, inspected, destroyed. */
struct second {
    plait_group *g;
    const char *name; /* right after its creation */
    int wait_r;
    plait_group_info info;
    size_t nerrors;
};

static int second_use(plait_ctx *ctx, unsigned flags, struct second *s)
{
    plait_group *g;
    int e = plait_group_create(&g, plait_ctx_pool(ctx), flags);
    if (e != 0)
        return e;
    s->g = g;
    s->name = plait_group_name(g);
    if ((e = plait_go(g, tl_noop_task, NULL)) != 0)
        return e;
    s->wait_r = plait_group_wait(g);
    plait_group_get_info(g, &s->info);
    const plait_error *errs;
    s->nerrors = plait_group_errors(g, &errs);
    plait_group_destroy(g);
    return 0;
}

static void expect_clean(const struct second *s, const plait_group *first)
{
    /* The premise: the second group is the first one's record. */
    cr_assert_eq(s->g, first, "the record was not reused from the cache (%p, %p)", (void *)s->g,
                 (const void *)first);
    cr_expect_null(s->name);
    cr_expect_eq(s->wait_r, 0);
    cr_expect_eq(s->info.spawned, 1);
    cr_expect_eq(s->info.succeeded, 1);
    cr_expect_eq(s->info.pending, 0);
    cr_expect_eq(s->info.failed, 0);
    cr_expect_eq(s->info.cancelled, 0);
    cr_expect_eq(s->info.never_run, 0);
    cr_expect_eq(s->info.items_total, 0);
    cr_expect_eq(s->info.items_done, 0);
    cr_expect_eq(s->info.errors_lost, 0);
    cr_expect_eq(s->info.holds, 0);
    cr_expect_eq(s->info.cancel_reason, PLAIT_CANCEL_NONE);
    cr_expect(!s->info.is_cancelled);
    cr_expect(!s->info.timed_out);
    cr_expect(s->info.waited);
    cr_expect_eq(s->nerrors, 0);
}

/* Runs fn in a task of a fresh one-worker pool and returns its code. */
static int in_task(plait_fn fn, void *arg)
{
    plait_pool *pool = tl_pool(1);
    plait_task *t = plait_submit(pool, fn, arg);
    cr_assert_not_null(t);
    int r = plait_task_wait(t);
    plait_task_release(t);
    TL_ASSERT_CODE(plait_pool_destroy(pool), 0);
    return r;
}

/* ---- Errors beyond the inline four ------------------------------------ */

#define N_ERRORS 6

static int fail_task(plait_ctx *ctx, void *arg)
{
    int i = (int)(intptr_t)arg;
    return plait_fail(ctx, 100 + i, "error %d", i);
}

struct errors_run {
    plait_group *first;
    int first_r;
    size_t first_n;
    struct second s;
    /* A third group, given as many errors again: the array and its
     * capacity start over from the inline four. */
    plait_group *third;
    size_t third_n;
    int third_codes[N_ERRORS];
    char third_msgs[N_ERRORS][32];
};

static int errors_use(plait_ctx *ctx, plait_group **gp, size_t *n, int *codes, char (*msgs)[32])
{
    plait_group *g;
    int e = plait_group_create(&g, plait_ctx_pool(ctx), PLAIT_GROUP_COLLECT_ALL);
    if (e != 0)
        return -e;
    *gp = g;
    for (int i = 0; i < N_ERRORS; i++)
        if ((e = plait_go(g, fail_task, (void *)(intptr_t)i)) != 0)
            return -e;
    int r = plait_group_wait(g);
    const plait_error *errs;
    *n = plait_group_errors(g, &errs);
    for (size_t i = 0; codes != NULL && i < *n && i < N_ERRORS; i++) {
        codes[i] = errs[i].code;
        snprintf(msgs[i], sizeof msgs[i], "%s", errs[i].message ? errs[i].message : "");
    }
    plait_group_destroy(g);
    return r;
}

static int errors_body(plait_ctx *ctx, void *arg)
{
    struct errors_run *r = arg;
    r->first_r = errors_use(ctx, &r->first, &r->first_n, NULL, NULL);
    int e = second_use(ctx, 0, &r->s);
    if (e != 0)
        return e;
    int third_r = errors_use(ctx, &r->third, &r->third_n, r->third_codes, r->third_msgs);
    return third_r > 0 ? 0 : -third_r;
}

Test(group_reuse, after_errors_beyond_the_inline_four, .timeout = TL_TIMEOUT)
{
    struct errors_run r;
    memset(&r, 0, sizeof r);
    TL_ASSERT_CODE(in_task(errors_body, &r), 0);
    cr_assert_geq(r.first_r, 100);
    cr_assert_eq(r.first_n, N_ERRORS);
    expect_clean(&r.s, r.first);
    cr_assert_eq(r.third, r.first, "the record was not reused from the cache");
    cr_assert_eq(r.third_n, N_ERRORS);
    /* One task per error, in some order: each code once, with its message. */
    bool seen[N_ERRORS] = {false};
    for (int i = 0; i < N_ERRORS; i++) {
        int k = r.third_codes[i] - 100;
        cr_assert(k >= 0 && k < N_ERRORS && !seen[k], "code %d", r.third_codes[i]);
        seen[k] = true;
        char want[32];
        snprintf(want, sizeof want, "error %d", k);
        cr_expect_str_eq(r.third_msgs[i], want);
    }
}

/* ---- A deadline, fired or removed ------------------------------------- */

static int until_cancelled(plait_ctx *ctx, void *arg)
{
    (void)arg;
    return TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S) ? ECANCELED : EIO;
}

struct deadline_run {
    plait_group *first, *removed;
    int first_r, removed_r, third_r;
    plait_group *third;
    plait_group_info third_info;
    struct second s, s2;
};

/* A group whose deadline of ns fires (or not) while its task waits for the
 * cancel: ns 1 ms fires; a minute does not, and the task is let go by a
 * plain cancel. */

/* The end of a use: the wait's result, the group's counts when asked
 * for (info), and the destroy that returns its record to the cache. */
static int wait_and_destroy(plait_group *g, plait_group_info *info)
{
    int r = plait_group_wait(g);
    if (info != NULL)
        plait_group_get_info(g, info);
    plait_group_destroy(g);
    return r;
}

static int deadline_use(plait_ctx *ctx, uint64_t ns, plait_group **gp, plait_group_info *info)
{
    plait_group *g;
    int e = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (e != 0)
        return e;
    *gp = g;
    /* The task first: a deadline set first may fire before the spawn
     * (1 ms on a loaded machine), which then says ECANCELED (rule 6). */
    if ((e = plait_go(g, until_cancelled, NULL)) != 0)
        return e;
    if ((e = plait_group_set_timeout(g, ns)) != 0)
        return e;
    if (ns > TL_MINUTE_NS / 2)
        plait_group_cancel(g);
    return wait_and_destroy(g, info);
}

static int deadline_body(plait_ctx *ctx, void *arg)
{
    struct deadline_run *r = arg;
    r->first_r = deadline_use(ctx, 1000000, &r->first, NULL);
    int e = second_use(ctx, 0, &r->s);
    if (e != 0)
        return e;
    r->removed_r = deadline_use(ctx, TL_MINUTE_NS, &r->removed, NULL);
    if ((e = second_use(ctx, 0, &r->s2)) != 0)
        return e;
    r->third_r = deadline_use(ctx, 1000000, &r->third, &r->third_info);
    return 0;
}

Test(group_reuse, after_a_deadline, .timeout = TL_TIMEOUT)
{
    struct deadline_run r;
    memset(&r, 0, sizeof r);
    TL_ASSERT_CODE(in_task(deadline_body, &r), 0);
    TL_ASSERT_CODE(r.first_r, ETIMEDOUT);
    expect_clean(&r.s, r.first);
    cr_assert_eq(r.removed, r.first);
    TL_ASSERT_CODE(r.removed_r, ECANCELED);
    expect_clean(&r.s2, r.first);
    /* The entry works again: the third use's deadline fires. */
    cr_assert_eq(r.third, r.first);
    TL_ASSERT_CODE(r.third_r, ETIMEDOUT);
    cr_expect(r.third_info.timed_out);
    cr_expect_eq(r.third_info.cancel_reason, PLAIT_CANCEL_DEADLINE);
}

/* ---- A limit and holds ------------------------------------------------ */

struct ran_flag {
    atomic_int ran;
};

static int mark_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    atomic_store(&((struct ran_flag *)arg)->ran, 1);
    return 0;
}

struct limit_run {
    plait_group *first, *third;
    int first_r, third_r;
    struct second s;
    int inline_runs; /* third use: tasks that ran inside their plait_go */
    plait_group_info third_info;
};

/* A group with a limit of `limit`, given n tasks from its one worker: a
 * full group runs the spawn in its caller (caller runs). Returns how many
 * ran inside their plait_go. A hold is taken and released on the way. */
static int limit_use(plait_ctx *ctx, size_t limit, int n, plait_group **gp, int *inline_runs,
                     plait_group_info *info)
{
    plait_group *g;
    int e = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (e != 0)
        return e;
    *gp = g;
    if ((e = plait_group_set_limit(g, limit)) != 0 || (e = plait_group_hold(g)) != 0)
        return e;
    struct ran_flag flags[8];
    *inline_runs = 0;
    for (int i = 0; i < n; i++) {
        atomic_init(&flags[i].ran, 0);
        if ((e = plait_go(g, mark_task, &flags[i])) != 0)
            return e;
        *inline_runs += atomic_load(&flags[i].ran);
    }
    if ((e = plait_group_release(g)) != 0)
        return e;
    return wait_and_destroy(g, info);
}

static int limit_body(plait_ctx *ctx, void *arg)
{
    struct limit_run *r = arg;
    int inl;
    r->first_r = limit_use(ctx, 1, 4, &r->first, &inl, NULL);
    int e = second_use(ctx, 0, &r->s);
    if (e != 0)
        return e;
    r->third_r = limit_use(ctx, 2, 4, &r->third, &r->inline_runs, &r->third_info);
    return 0;
}

Test(group_reuse, after_a_limit_and_holds, .timeout = TL_TIMEOUT)
{
    struct limit_run r;
    memset(&r, 0, sizeof r);
    TL_ASSERT_CODE(in_task(limit_body, &r), 0);
    TL_ASSERT_CODE(r.first_r, 0);
    expect_clean(&r.s, r.first);
    cr_assert_eq(r.third, r.first);
    TL_ASSERT_CODE(r.third_r, 0);
    /* Limit 2, one worker busy with us: the first two spawns queue, the
     * next two find the group full and run in their caller. */
    cr_expect_eq(r.inline_runs, 2);
    cr_expect_eq(r.third_info.succeeded, 4);
    cr_expect_eq(r.third_info.holds, 0);
}

/* ---- An asynchronous cancel ------------------------------------------- */

struct async_run {
    plait_group *first, *third;
    int first_r, third_r;
    plait_group_info first_info;
    struct second s;
};

static int async_use(plait_ctx *ctx, plait_group **gp, plait_group_info *info)
{
    plait_group *g;
    int e = plait_group_create(&g, plait_ctx_pool(ctx), PLAIT_GROUP_CANCEL_ASYNC);
    if (e != 0)
        return e;
    *gp = g;
    if ((e = plait_go(g, until_cancelled, NULL)) != 0)
        return e;
    if ((e = plait_group_cancel_async(g)) != 0)
        return e;
    return wait_and_destroy(g, info);
}

static int async_body(plait_ctx *ctx, void *arg)
{
    struct async_run *r = arg;
    r->first_r = async_use(ctx, &r->first, &r->first_info);
    int e = second_use(ctx, PLAIT_GROUP_CANCEL_ASYNC, &r->s);
    if (e != 0)
        return e;
    r->third_r = async_use(ctx, &r->third, NULL);
    return 0;
}

Test(group_reuse, after_an_async_cancel, .timeout = TL_TIMEOUT)
{
    struct async_run r;
    memset(&r, 0, sizeof r);
    TL_ASSERT_CODE(in_task(async_body, &r), 0);
    TL_ASSERT_CODE(r.first_r, ECANCELED);
    cr_expect_eq(r.first_info.cancel_reason, PLAIT_CANCEL_CALL);
    expect_clean(&r.s, r.first);
    /* The watcher cancels the reused record again. */
    cr_assert_eq(r.third, r.first);
    TL_ASSERT_CODE(r.third_r, ECANCELED);
}

/* ---- A name, the counts and the cancel reason ------------------------- */

static int items_chunk(plait_ctx *ctx, size_t begin, size_t end, void *arg)
{
    (void)ctx;
    (void)begin;
    (void)end;
    (void)arg;
    return 0;
}

struct counts_run {
    plait_group *first, *third;
    int first_r, third_r;
    plait_group_info first_info, third_info;
    const char *first_name;
    struct second s;
};

static int counts_body(plait_ctx *ctx, void *arg)
{
    struct counts_run *r = arg;
    plait_pool *pool = plait_ctx_pool(ctx);
    /* First: named, some items, then queued tasks cancelled by a call
     * before they run (we are the only worker), and one hold released. */
    plait_group *g;
    int e = plait_group_create(&g, pool, 0);
    if (e != 0)
        return e;
    r->first = g;
    if ((e = plait_group_set_name(g, "reuse-first")) != 0)
        return e;
    r->first_name = plait_group_name(g);
    if ((e = plait_group_for(g, 0, 64, 8, items_chunk, NULL)) != 0)
        return e;
    for (int i = 0; i < 3; i++)
        if ((e = plait_go(g, tl_noop_task, NULL)) != 0)
            return e;
    if ((e = plait_group_hold(g)) != 0)
        return e;
    plait_group_cancel(g);
    if ((e = plait_group_release(g)) != 0)
        return e;
    r->first_r = plait_group_wait(g);
    plait_group_get_info(g, &r->first_info);
    plait_group_destroy(g);

    if ((e = second_use(ctx, 0, &r->s)) != 0)
        return e;

    /* Third: cancelled by a failure, which must be its reason. */
    if ((e = plait_group_create(&g, pool, 0)) != 0)
        return e;
    r->third = g;
    if ((e = plait_go(g, tl_return_task, TL_CODE(EIO))) != 0)
        return e;
    r->third_r = plait_group_wait(g);
    plait_group_get_info(g, &r->third_info);
    plait_group_destroy(g);
    return 0;
}

Test(group_reuse, after_a_name_counts_and_a_cancel_reason, .timeout = TL_TIMEOUT)
{
    struct counts_run r;
    memset(&r, 0, sizeof r);
    TL_ASSERT_CODE(in_task(counts_body, &r), 0);
    TL_ASSERT_CODE(r.first_r, ECANCELED);
    cr_assert_str_eq(r.first_name, "reuse-first");
    /* The premise: the first use did change the counts. */
    cr_assert_eq(r.first_info.items_total, 64);
    cr_assert_gt(r.first_info.never_run, 0);
    cr_assert_gt(r.first_info.cancelled, 0);
    cr_assert_eq(r.first_info.cancel_reason, PLAIT_CANCEL_CALL);
    expect_clean(&r.s, r.first);
    cr_assert_eq(r.third, r.first);
    TL_ASSERT_CODE(r.third_r, EIO);
    cr_expect_eq(r.third_info.failed, 1);
    cr_expect_eq(r.third_info.cancel_reason, PLAIT_CANCEL_FAILURE);
}
