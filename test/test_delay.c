/*
 * test_delay — delayed spawns (plait_spawn_options.delay_ns): the task is
 * in its group from the spawn (pending, spawned, the wait, a limit's slot,
 * its handle) but runs only once its delay has passed, on the pool's
 * timer, holding no worker meanwhile; any cancellation that reaches it
 * (its group's, by every cause, its own plait_task_cancel, an enclosing
 * task's through nesting, the pool's destroy) finishes it at once as
 * cancelled, never run, its drop called exactly once, without waiting out
 * the delay.
 *
 * Delays that must not pass during a test are a minute long; the test
 * asserts its wait returned well before that (a generous bound), which
 * fails if the wait waits out the delay.
 */
#include "testlib.h"

#define MINUTE_NS (60ull * 1000000000u)
#define MS_NS 1000000ull
/* How long a wait that must not wait out a minute's delay may take. */
#define PROMPT_S 20.0

struct item {
    uint64_t spawned_ns; /* written before the spawn */
    uint64_t delay_ns;
    _Atomic uint64_t ran_ns;
    atomic_int ran;
    atomic_int dropped;
    atomic_int *hold; /* if set, the task waits for this flag before it ends */
};

static void drop_item(void *p)
{
    struct item *it = p;
    atomic_fetch_add_explicit(&it->dropped, 1, memory_order_relaxed);
}

static int run_item(plait_ctx *ctx, void *p)
{
    (void)ctx;
    struct item *it = p;
    atomic_store_explicit(&it->ran_ns, tl_now_ns(), memory_order_relaxed);
    atomic_fetch_add_explicit(&it->ran, 1, memory_order_relaxed);
    if (it->hold != NULL && !tl_wait_flag(it->hold, TL_WAIT_S))
        return ETIME;
    return 0;
}

/* Spawns it with its delay (and drop), recording the spawn's time first. */
static int spawn_item(plait_group *g, struct item *it, uint64_t delay_ns, plait_task **handle)
{
    it->delay_ns = delay_ns;
    it->spawned_ns = tl_now_ns();
    plait_spawn_options o = {.drop = drop_item, .delay_ns = delay_ns};
    return plait_spawn_with(g, run_item, it, &o, handle);
}

static void assert_ran_after_delay(struct item *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(atomic_load(&v[i].ran), 1, "item %zu ran %d times", i, atomic_load(&v[i].ran));
        cr_assert_eq(atomic_load(&v[i].dropped), 1, "item %zu dropped %d times", i,
                     atomic_load(&v[i].dropped));
        uint64_t at = atomic_load(&v[i].ran_ns);
        cr_assert_geq(at, v[i].spawned_ns + v[i].delay_ns,
                      "item %zu ran %.3f ms after its spawn, delay %.3f ms", i,
                      (double)(at - v[i].spawned_ns) / 1e6, (double)v[i].delay_ns / 1e6);
    }
}

static void assert_never_ran(struct item *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(atomic_load(&v[i].ran), 0, "item %zu ran", i);
        cr_assert_eq(atomic_load(&v[i].dropped), 1, "item %zu dropped %d times", i,
                     atomic_load(&v[i].dropped));
    }
}

Test(delay, not_before_its_delay_and_the_wait_waits, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    enum { N = 8 };
    struct item v[N];
    memset(v, 0, sizeof v);
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(spawn_item(g, &v[i], (i + 1) * 25 * MS_NS, NULL), 0);
    cr_assert_eq(plait_group_wait(g), 0);
    assert_ran_after_delay(v, N);
    plait_group_info info;
    cr_assert_eq(plait_group_get_info(g, &info), 0);
    cr_assert_eq(info.spawned, N);
    cr_assert_eq(info.succeeded, N);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(delay, counted_from_the_spawn_and_task_cancel_finishes_it, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct item late, soon;
    memset(&late, 0, sizeof late);
    memset(&soon, 0, sizeof soon);
    plait_task *t = NULL;
    cr_assert_eq(spawn_item(g, &late, MINUTE_NS, &t), 0);
    cr_assert_not_null(t);
    /* In the group at once, not run, not done. */
    cr_assert_eq(plait_group_pending(g), 1);
    plait_group_info info;
    cr_assert_eq(plait_group_get_info(g, &info), 0);
    cr_assert_eq(info.spawned, 1);
    cr_assert_eq(info.pending, 1);
    cr_assert(!plait_task_done(t));
    cr_assert_eq(plait_task_status(t), EAGAIN);
    cr_assert_eq(plait_task_wait_for(t, 0), EAGAIN);
    /* A sibling with a short delay runs; the cancelled one never does. */
    cr_assert_eq(spawn_item(g, &soon, 10 * MS_NS, NULL), 0);
    uint64_t t0 = tl_now_ns();
    cr_assert_eq(plait_task_cancel(t), 0);
    cr_assert_eq(plait_task_wait(t), ECANCELED);
    cr_assert_eq(plait_group_wait(g), 0); /* a task's own cancel is not the group's */
    cr_assert_lt(tl_since_s(t0), PROMPT_S, "the wait waited out the delay");
    assert_never_ran(&late, 1);
    assert_ran_after_delay(&soon, 1);
    cr_assert_eq(plait_group_get_info(g, &info), 0);
    cr_assert_eq(info.never_run, 1);
    cr_assert_eq(info.cancelled, 1);
    cr_assert_eq(info.succeeded, 1);
    plait_task_release(t);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(delay, group_cancel_before_due_finishes_them_at_once, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    enum { N = 16 };
    struct item v[N];
    memset(v, 0, sizeof v);
    plait_task *h[N / 2];
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(spawn_item(g, &v[i], MINUTE_NS + i, i % 2 ? &h[i / 2] : NULL), 0);
    cr_assert_eq(plait_group_pending(g), N);
    uint64_t t0 = tl_now_ns();
    cr_assert_eq(plait_group_cancel(g), 0);
    cr_assert_eq(plait_group_wait(g), ECANCELED);
    cr_assert_lt(tl_since_s(t0), PROMPT_S, "the wait waited out the delay");
    assert_never_ran(v, N);
    for (size_t i = 0; i < N / 2; i++) {
        cr_assert_eq(plait_task_status(h[i]), ECANCELED);
        plait_task_release(h[i]);
    }
    plait_group_info info;
    cr_assert_eq(plait_group_get_info(g, &info), 0);
    cr_assert_eq(info.never_run, N);
    cr_assert_eq(info.cancelled, N);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

/* A failing sibling cancels them (fail-fast), and so does destroying the
 * group unwaited. */
static int fail_task(plait_ctx *ctx, void *arg)
{
    (void)arg;
    return plait_fail(ctx, EIO, "transient");
}

Test(delay, failing_sibling_and_group_destroy_cancel_them, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct item a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    plait_group *g = tl_group(pool, 0);
    cr_assert_eq(spawn_item(g, &a, MINUTE_NS, NULL), 0);
    uint64_t t0 = tl_now_ns();
    cr_assert_eq(plait_go(g, fail_task, NULL), 0);
    cr_assert_eq(plait_group_wait(g), EIO);
    plait_group_destroy(g);
    g = tl_group(pool, 0);
    cr_assert_eq(spawn_item(g, &b, MINUTE_NS, NULL), 0);
    plait_group_destroy(g); /* unwaited: cancelled, then waited */
    cr_assert_lt(tl_since_s(t0), PROMPT_S, "a wait waited out the delay");
    assert_never_ran(&a, 1);
    assert_never_ran(&b, 1);
    plait_pool_destroy(pool);
}

Test(delay, deadline_before_the_delay, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct item it;
    memset(&it, 0, sizeof it);
    cr_assert_eq(spawn_item(g, &it, MINUTE_NS, NULL), 0);
    uint64_t t0 = tl_now_ns();
    cr_assert_eq(plait_group_set_timeout(g, 20 * MS_NS), 0);
    cr_assert_eq(plait_group_wait(g), ETIMEDOUT);
    cr_assert_lt(tl_since_s(t0), PROMPT_S, "the wait waited out the delay");
    assert_never_ran(&it, 1);
    plait_group_info info;
    cr_assert_eq(plait_group_get_info(g, &info), 0);
    cr_assert_eq(info.never_run, 1);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

/* Rule 4: a task makes a group with a delayed task in it and waits; the
 * cancellation of the outer group reaches the inner one, and its delayed
 * task finishes at once. */
struct nest {
    plait_pool *pool;
    struct item it;
    atomic_int armed;
    atomic_int inner_result;
};

static int nesting_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct nest *n = arg;
    plait_group *inner;
    int r = plait_group_create(&inner, n->pool, 0);
    if (r != 0)
        return r;
    r = spawn_item(inner, &n->it, MINUTE_NS, NULL);
    tl_raise(&n->armed);
    int w = plait_group_wait(inner);
    atomic_store(&n->inner_result, w);
    plait_group_destroy(inner);
    return r;
}

Test(delay, enclosing_cancellation_reaches_it, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *outer = tl_group(pool, 0);
    struct nest n;
    memset(&n, 0, sizeof n);
    n.pool = pool;
    atomic_init(&n.inner_result, -1);
    cr_assert_eq(plait_go(outer, nesting_task, &n), 0);
    TL_AWAIT(tl_raised(&n.armed));
    uint64_t t0 = tl_now_ns();
    cr_assert_eq(plait_group_cancel(outer), 0);
    cr_assert_eq(plait_group_wait(outer), ECANCELED);
    cr_assert_lt(tl_since_s(t0), PROMPT_S, "the wait waited out the delay");
    cr_assert_eq(atomic_load(&n.inner_result), ECANCELED);
    assert_never_ran(&n.it, 1);
    plait_group_destroy(outer);
    plait_pool_destroy(pool);
}

Test(delay, pool_destroy_finishes_them_as_cancelled, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    enum { N = 64 };
    struct item v[N];
    memset(v, 0, sizeof v);
    plait_task *h = NULL;
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(spawn_item(g, &v[i], MINUTE_NS + i * MS_NS, i == 0 ? &h : NULL), 0);
    uint64_t t0 = tl_now_ns();
    cr_assert_eq(plait_pool_destroy(pool), 0);
    cr_assert_lt(tl_since_s(t0), PROMPT_S, "destroy waited out the delay");
    assert_never_ran(v, N);
    cr_assert_eq(plait_task_status(h), ECANCELED);
    plait_task_release(h);
    /* The group's wait returns: its tasks are over (not a cancellation of
     * the group itself). */
    cr_assert_eq(plait_group_wait(g), 0);
    plait_group_info info;
    cr_assert_eq(plait_group_get_info(g, &info), 0);
    cr_assert_eq(info.never_run, N);
    plait_group_destroy(g);
}

/* Many delayed tasks with small random delays, half spawned from a task on
 * a worker: each runs exactly once, none before its time. */
struct many {
    plait_group *g;
    struct item *v;
    size_t begin, end;
    uint64_t seed;
    atomic_int failed;
};

static void spawn_range(struct many *m)
{
    uint64_t s = m->seed;
    for (size_t i = m->begin; i < m->end; i++)
        if (spawn_item(m->g, &m->v[i], 1 + tl_xorshift(&s) % (20 * MS_NS), NULL) != 0)
            atomic_fetch_add(&m->failed, 1);
}

static int spawner_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    spawn_range(arg);
    return 0;
}

Test(delay, many_run_exactly_once, .timeout = 60)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    size_t n = TL_SIZE(10000, 2000);
    struct item *v = calloc(n, sizeof *v);
    cr_assert_not_null(v);
    struct many inside = {.g = g, .v = v, .begin = 0, .end = n / 2, .seed = 0x1234567};
    struct many outside = {.g = g, .v = v, .begin = n / 2, .end = n, .seed = 0x7654321};
    cr_assert_eq(plait_go(g, spawner_task, &inside), 0);
    spawn_range(&outside);
    cr_assert_eq(plait_group_wait(g), 0);
    cr_assert_eq(atomic_load(&inside.failed) + atomic_load(&outside.failed), 0);
    assert_ran_after_delay(v, n);
    plait_group_info info;
    cr_assert_eq(plait_group_get_info(g, &info), 0);
    cr_assert_eq(info.succeeded, n + 1);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
    free(v);
}

/* Retry with backoff on one worker: the task that failed transiently
 * re-spawns itself with a delay and returns; while it waits, the worker
 * runs other work (no worker is held). */
struct retry {
    plait_group *g;
    atomic_int attempts;
    atomic_int retry_armed;
    atomic_int other_ran;
    atomic_int other_before_retry; /* seen by the second attempt */
    uint64_t armed_ns[3];
    uint64_t ran_ns[3];
    _Atomic uint64_t backoff_ns[3];
};

static int retry_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct retry *r = arg;
    int a = atomic_fetch_add(&r->attempts, 1);
    r->ran_ns[a] = tl_now_ns();
    if (a == 1)
        atomic_store(&r->other_before_retry, atomic_load(&r->other_ran));
    if (a == 2)
        return 0; /* the third attempt succeeds */
    plait_spawn_options o = {.delay_ns = atomic_load(&r->backoff_ns[a])};
    r->armed_ns[a] = tl_now_ns();
    int rc = plait_spawn_with(r->g, retry_task, r, &o, NULL);
    if (a == 0)
        tl_raise(&r->retry_armed);
    return rc;
}

Test(delay, retry_with_backoff_holds_no_worker, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    struct retry r;
    memset(&r, 0, sizeof r);
    r.g = g;
    /* Long enough for other work to run first even under a sanitizer. */
    atomic_init(&r.backoff_ns[0], 1000 * MS_NS);
    atomic_init(&r.backoff_ns[1], 200 * MS_NS);
    cr_assert_eq(plait_go(g, retry_task, &r), 0);
    TL_AWAIT(tl_raised(&r.retry_armed));
    for (int i = 0; i < 10; i++)
        cr_assert_eq(plait_go(g, tl_count_task, &r.other_ran), 0);
    /* Queued from outside before the retry was due, the others come first
     * through the injection queue (FIFO), however late the worker gets to
     * them; queued after it (this thread descheduled for a second), they
     * may rightly come after it. */
    uint64_t others_queued = tl_now_ns();
    cr_assert_eq(plait_group_wait(g), 0);
    cr_assert_eq(atomic_load(&r.attempts), 3);
    cr_assert_eq(atomic_load(&r.other_ran), 10);
    /* The other tasks ran while the retry was delayed: the one worker was
     * not held by it. */
    if (others_queued < r.armed_ns[0] + atomic_load(&r.backoff_ns[0]))
        cr_assert_eq(atomic_load(&r.other_before_retry), 10);
    else
        cr_log_warn("machine too loaded: the others were queued %.1f ms after the retry",
                    (double)(others_queued - r.armed_ns[0]) / 1e6);
    for (int a = 1; a < 3; a++)
        cr_assert_geq(r.ran_ns[a], r.armed_ns[a - 1] + atomic_load(&r.backoff_ns[a - 1]));
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

/* Waits on a worker (a one-worker pool, so the waiting worker is the only
 * one that can run it) for a delayed task's handle and for a group of
 * delayed tasks: the released task comes through the injection queue. */
struct on_worker {
    plait_pool *pool;
    struct item a, b;
    atomic_int task_wait, group_wait;
};

static int waiting_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct on_worker *o = arg;
    plait_group *inner;
    int r = plait_group_create(&inner, o->pool, 0);
    if (r != 0)
        return r;
    plait_task *t = NULL;
    if ((r = spawn_item(inner, &o->a, 30 * MS_NS, &t)) != 0)
        return r;
    atomic_store(&o->task_wait, plait_task_wait(t));
    plait_task_release(t);
    if ((r = spawn_item(inner, &o->b, 30 * MS_NS, NULL)) != 0)
        return r;
    atomic_store(&o->group_wait, plait_group_wait(inner));
    plait_group_destroy(inner);
    return 0;
}

Test(delay, waits_on_a_worker_get_them, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    struct on_worker o;
    memset(&o, 0, sizeof o);
    o.pool = pool;
    atomic_init(&o.task_wait, -1);
    atomic_init(&o.group_wait, -1);
    cr_assert_eq(plait_go(g, waiting_task, &o), 0);
    cr_assert_eq(plait_group_wait(g), 0);
    cr_assert_eq(atomic_load(&o.task_wait), 0);
    cr_assert_eq(atomic_load(&o.group_wait), 0);
    assert_ran_after_delay(&o.a, 1);
    assert_ran_after_delay(&o.b, 1);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

/* From a worker into a full group: the slot is taken over the limit (as
 * caller-runs does), but the task is not run by its spawner: it waits for
 * its delay like any other. */
struct limited {
    plait_group *g;
    struct item it;
    atomic_int spawned;
    atomic_int pending_after; /* plait_group_pending right after the spawn */
};

static int limited_spawner(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct limited *l = arg;
    int r = spawn_item(l->g, &l->it, 50 * MS_NS, NULL);
    atomic_store(&l->pending_after, (int)plait_group_pending(l->g));
    tl_raise(&l->spawned);
    return r;
}

Test(delay, full_group_from_a_worker_takes_the_slot_not_the_thread, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    cr_assert_eq(plait_group_set_limit(g, 1), 0);
    struct limited l;
    memset(&l, 0, sizeof l);
    l.g = g;
    /* The delayed task may not end before the spawner has counted it
     * (its 50 ms may pass first on a slow machine). Were it run inline by
     * the spawner, it would wait for the spawn to return in vain. */
    l.it.hold = &l.spawned;
    cr_assert_eq(plait_go(g, limited_spawner, &l), 0);
    cr_assert_eq(plait_group_wait(g), 0);
    cr_assert(tl_raised(&l.spawned));
    /* The spawner and the delayed task, both unfinished. */
    cr_assert_eq(atomic_load(&l.pending_after), 2);
    assert_ran_after_delay(&l.it, 1);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(delay, options_checked_and_sized, .timeout = TL_TIMEOUT)
{
    cr_assert_eq(sizeof(plait_spawn_options), 8 * sizeof(void *));
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    struct item it;
    memset(&it, 0, sizeof it);
    /* A reserved word still refused, the drop called. */
    plait_spawn_options bad = {.drop = drop_item, .delay_ns = MS_NS};
    bad.reserved[0] = &bad;
    cr_assert_eq(plait_spawn_with(g, run_item, &it, &bad, NULL), EINVAL);
    cr_assert_eq(atomic_load(&it.dropped), 1);
    /* A name is not refused here. */
    struct item named;
    memset(&named, 0, sizeof named);
    plait_spawn_options o = {.drop = drop_item, .delay_ns = MS_NS, .name = "named"};
    named.delay_ns = MS_NS;
    named.spawned_ns = tl_now_ns();
    cr_assert_eq(plait_spawn_with(g, run_item, &named, &o, NULL), 0);
    cr_assert_eq(plait_group_wait(g), 0);
    assert_ran_after_delay(&named, 1);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(delay, huge_delay_saturates_and_cancels, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    struct item it;
    memset(&it, 0, sizeof it);
    cr_assert_eq(spawn_item(g, &it, UINT64_MAX, NULL), 0);
    cr_assert_eq(plait_group_pending(g), 1);
    cr_assert_eq(plait_group_cancel(g), 0);
    cr_assert_eq(plait_group_wait(g), ECANCELED);
    assert_never_ran(&it, 1);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(delay, into_a_cancelled_group_as_any_spawn, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);
    cr_assert_eq(plait_group_cancel(g), 0);
    struct item a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    cr_assert_eq(spawn_item(g, &a, MINUTE_NS, NULL), ECANCELED);
    plait_task *t = NULL;
    cr_assert_eq(spawn_item(g, &b, MINUTE_NS, &t), 0);
    cr_assert_eq(plait_task_status(t), ECANCELED);
    plait_task_release(t);
    cr_assert_eq(plait_group_wait(g), ECANCELED);
    assert_never_ran(&a, 1);
    assert_never_ran(&b, 1);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

/* plait_stats.injected counts what was spawned from outside the pool:
 * delayed spawns from outside too, not the timer's hand-overs of delayed
 * spawns from a worker. */
struct two {
    plait_group *g;
    struct item v[2];
};

static int spawn_two_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct two *w = arg;
    for (int i = 0; i < 2; i++) {
        int r = spawn_item(w->g, &w->v[i], MS_NS, NULL);
        if (r != 0)
            return r;
    }
    return 0;
}

Test(delay, injected_counts_spawns_from_outside, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct item v[3];
    memset(v, 0, sizeof v);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(spawn_item(g, &v[i], MS_NS, NULL), 0);
    struct two w;
    memset(&w, 0, sizeof w);
    w.g = g;
    cr_assert_eq(plait_go(g, spawn_two_task, &w), 0);
    cr_assert_eq(plait_group_wait(g), 0);
    assert_ran_after_delay(v, 3);
    assert_ran_after_delay(w.v, 2);
    plait_stats st;
    cr_assert_eq(plait_pool_stats(pool, &st), 0);
    cr_assert_eq(st.injected, 4); /* three delayed, one plain */
    cr_assert_eq(st.tasks_succeeded, 6);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}
