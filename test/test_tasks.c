/*
 * test_tasks — lone tasks and task handles: plait_submit, wait, status,
 * done, cancel, result, message, ids, release; and what a running task can
 * ask of its context (plait_current, plait_ctx_pool, plait_sleep,
 * plait_worker_index).
 */
#include "testlib.h"

Test(tasks, submitted_task_runs_and_wait_returns_zero, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    atomic_int n = 0;
    plait_task *t = plait_submit(pool, tl_count_task, &n);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    cr_assert(plait_task_done(t));
    TL_ASSERT_CODE(plait_task_status(t), 0);
    cr_assert_eq(atomic_load(&n), 1);
    cr_assert_null(plait_task_message(t));
    cr_assert_null(plait_task_result(t));
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(tasks, wait_and_status_return_the_tasks_error_code, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_task *t = plait_submit(pool, tl_return_task, TL_CODE(42));
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 42);
    TL_ASSERT_CODE(plait_task_status(t), 42);
    TL_ASSERT_CODE(plait_task_wait(t), 42); /* waiting again is fine */
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct result_arg {
    struct tl_gate gate;
    int value;
};

static int set_result_then_gate(plait_ctx *ctx, void *arg)
{
    struct result_arg *a = arg;
    plait_set_result(ctx, &a->value);
    return tl_gate_task(ctx, &a->gate);
}

Test(tasks, status_is_eagain_and_result_null_while_running, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct result_arg a = {.value = 7};
    tl_gate_init(&a.gate);
    plait_task *t = plait_submit(pool, set_result_then_gate, &a);
    cr_assert_not_null(t);
    TL_AWAIT(atomic_load(&a.gate.started) == 1);
    cr_assert_not(plait_task_done(t));
    TL_ASSERT_CODE(plait_task_status(t), EAGAIN);
    cr_assert_null(plait_task_result(t), "no result while the task runs");
    cr_assert_null(plait_task_message(t));
    tl_raise(&a.gate.open);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    cr_assert(plait_task_done(t));
    cr_assert_eq(plait_task_result(t), &a.value);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

static int fail_with_message(plait_ctx *ctx, void *arg)
{
    int row = (int)(intptr_t)arg;
    return plait_fail(ctx, EINVAL, "bad row %d of %s", row, "input.csv");
}

Test(tasks, plait_fail_sets_the_code_and_the_message, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_task *t = plait_submit(pool, fail_with_message, TL_CODE(17));
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), EINVAL);
    cr_assert_str_eq(plait_task_message(t), "bad row 17 of input.csv");
    plait_task_release(t);
    cr_assert_eq(plait_fail(NULL, 99, "nothing recorded"), 99);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

static int long_message(plait_ctx *ctx, void *arg)
{
    (void)arg;
    char big[10001];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    return plait_fail(ctx, EIO, "%s|end", big);
}

Test(tasks, long_failure_messages_are_kept_whole, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_task *t = plait_submit(pool, long_message, NULL);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), EIO);
    const char *m = plait_task_message(t);
    cr_assert_not_null(m);
    cr_assert_eq(strlen(m), 10000u + 4u);
    cr_assert_str_eq(m + 10000, "|end");
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct id_thread {
    plait_pool *pool;
    uint64_t *ids;
    int n;
};

static void *ids_from_thread(void *arg)
{
    struct id_thread *a = arg;
    for (int i = 0; i < a->n; i++) {
        plait_task *t = plait_submit(a->pool, tl_noop_task, NULL);
        if (t == NULL)
            return (void *)1;
        a->ids[i] = plait_task_id(t);
        plait_task_release(t);
    }
    return NULL;
}

Test(tasks, task_ids_are_unique_and_never_zero, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    enum { THREADS = 3 };
    const int per = TL_SIZE(2000, 300);
    uint64_t *ids = calloc((size_t)THREADS * per, sizeof *ids);
    cr_assert_not_null(ids);
    struct id_thread a[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        a[i] = (struct id_thread){pool, ids + (size_t)i * per, per};
        th[i] = tl_thread(ids_from_thread, &a[i]);
    }
    for (int i = 0; i < THREADS; i++)
        cr_assert_null(tl_join_thread(th[i]));
    qsort(ids, (size_t)THREADS * per, sizeof *ids, cmp_u64);
    cr_assert_neq(ids[0], 0u, "an id is 0");
    for (size_t i = 1; i < (size_t)THREADS * per; i++)
        if (ids[i] == ids[i - 1])
            cr_assert_fail("id %" PRIu64 " given twice", ids[i]);
    free(ids);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(tasks, task_id_is_stable, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_task *t = plait_submit(pool, tl_noop_task, NULL);
    cr_assert_not_null(t);
    uint64_t before = plait_task_id(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    cr_assert_eq(plait_task_id(t), before);
    cr_assert_neq(before, 0u);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct where {
    plait_ctx *ctx;
    plait_ctx *current;
    plait_pool *pool;
    int worker;
};

static int where_task(plait_ctx *ctx, void *arg)
{
    struct where *w = arg;
    w->ctx = ctx;
    w->current = plait_current();
    w->pool = plait_ctx_pool(ctx);
    w->worker = plait_worker_index();
    return 0;
}

Test(tasks, a_task_sees_its_context_pool_and_worker_index, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    cr_assert_null(plait_current(), "no task runs on the test thread");
    cr_assert_eq(plait_worker_index(), -1);
    for (int i = 0; i < 20; i++) {
        struct where w = {0};
        plait_task *t = plait_submit(pool, where_task, &w);
        cr_assert_not_null(t);
        TL_ASSERT_CODE(plait_task_wait(t), 0);
        plait_task_release(t);
        cr_assert_not_null(w.ctx);
        cr_assert_eq(w.current, w.ctx, "plait_current() is the running task's context");
        cr_assert_eq(w.pool, pool);
        cr_assert(w.worker >= 0 && w.worker < 4, "worker index %d", w.worker);
    }
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(tasks, cancelling_a_queued_task_means_it_never_runs, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_task *blocker = plait_submit(pool, tl_gate_task, &gate);
    cr_assert_not_null(blocker);
    TL_AWAIT(atomic_load(&gate.started) == 1); /* the only worker is busy */
    atomic_int n = 0;
    plait_task *t = plait_submit(pool, tl_count_task, &n);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_cancel(t), 0);
    tl_raise(&gate.open);
    TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
    TL_ASSERT_CODE(plait_task_wait(blocker), 0);
    cr_assert_eq(atomic_load(&n), 0, "a task cancelled before it started ran");
    plait_task_release(t);
    plait_task_release(blocker);
    plait_stats s;
    cr_assert_eq(plait_pool_stats(pool, &s), 0);
    cr_assert_eq(s.tasks_cancelled, 1u);
    cr_assert_eq(s.tasks_succeeded, 1u);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(tasks, cancelling_a_running_task_makes_its_context_read_cancelled, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_task *t = plait_submit(pool, tl_gate_cancellable_task, &gate);
    cr_assert_not_null(t);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    TL_ASSERT_CODE(plait_task_cancel(t), 0);
    TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
    cr_assert_eq(atomic_load(&gate.saw_cancel), 1);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(tasks, cancelling_a_finished_task_changes_nothing, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_task *t = plait_submit(pool, tl_return_task, TL_CODE(5));
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 5);
    TL_ASSERT_CODE(plait_task_cancel(t), 0);
    TL_ASSERT_CODE(plait_task_status(t), 5);
    TL_ASSERT_CODE(plait_task_wait(t), 5);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(tasks, a_task_returning_ecanceled_finishes_as_cancelled, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_task *t = plait_submit(pool, tl_return_task, TL_CODE(ECANCELED));
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
    cr_assert_null(plait_task_message(t));
    plait_task_release(t);
    plait_stats s;
    cr_assert_eq(plait_pool_stats(pool, &s), 0);
    cr_assert_eq(s.tasks_cancelled, 1u);
    cr_assert_eq(s.tasks_failed, 0u);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(tasks, plait_sleep_returns_zero_after_the_time, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct tl_sleeper a;
    tl_sleeper_init(&a, 20000000u);
    plait_task *t = plait_submit(pool, tl_sleep_task, &a);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    cr_assert_eq(a.r, 0);
    cr_assert_geq(a.took, a.ns, "slept %" PRIu64 " ns of %" PRIu64, a.took, a.ns);
    plait_task_release(t);
    /* Zero is a no-op sleep. */
    tl_sleeper_init(&a, 0);
    t = plait_submit(pool, tl_sleep_task, &a);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    TL_ASSERT_CODE(plait_sleep(NULL, 1), EINVAL);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(tasks, cancel_cuts_a_long_plait_sleep_short, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct tl_sleeper a;
    tl_sleeper_init(&a, TL_MINUTE_NS);
    plait_task *t = plait_submit(pool, tl_sleep_task, &a);
    cr_assert_not_null(t);
    TL_AWAIT(tl_raised(&a.started));
    plait_task_cancel(t);
    TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
    cr_assert_eq(a.r, ECANCELED);
    cr_assert_lt(a.took, 10ull * 1000000000u);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(tasks, releasing_the_handle_lets_the_task_run_on, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_task *t = plait_submit(pool, tl_gate_task, &gate);
    cr_assert_not_null(t);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    plait_task_release(t); /* before it finishes */
    tl_raise(&gate.open);
    TL_AWAIT(atomic_load(&gate.finished) == 1);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

static int submit_from_task(plait_ctx *ctx, void *arg)
{
    atomic_int *n = arg;
    plait_task *child = plait_submit(plait_ctx_pool(ctx), tl_count_task, n);
    if (child == NULL)
        return errno;
    int r = plait_task_wait(child);
    plait_task_release(child);
    return r;
}

Test(tasks, tasks_can_submit_and_wait_for_lone_tasks, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1); /* the wait must run the child itself */
    atomic_int n = 0;
    plait_task *t[10];
    for (int i = 0; i < 10; i++) {
        t[i] = plait_submit(pool, submit_from_task, &n);
        cr_assert_not_null(t[i]);
    }
    for (int i = 0; i < 10; i++) {
        TL_ASSERT_CODE(plait_task_wait(t[i]), 0);
        plait_task_release(t[i]);
    }
    cr_assert_eq(atomic_load(&n), 10);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct self_wait {
    _Atomic(plait_task *) self;
    atomic_int r;
};

static int wait_on_self(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct self_wait *a = arg;
    if (!TL_SPIN_UNTIL(atomic_load(&a->self) != NULL, TL_WAIT_S))
        return EIO;
    atomic_store(&a->r, plait_task_wait(atomic_load(&a->self)));
    return 0;
}

/* Rule 7: a task that waits on itself could never finish. */
Test(tasks, a_task_waiting_on_itself_gets_edeadlk, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct self_wait a;
    atomic_init(&a.self, NULL);
    atomic_init(&a.r, -1);
    plait_task *t = plait_submit(pool, wait_on_self, &a);
    cr_assert_not_null(t);
    atomic_store(&a.self, t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    TL_ASSERT_CODE(atomic_load(&a.r), EDEADLK);
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct multi_wait {
    plait_task *t;
    atomic_int r;
};

static void *wait_task_thread(void *arg)
{
    struct multi_wait *m = arg;
    atomic_store(&m->r, plait_task_wait(m->t));
    return NULL;
}

Test(tasks, several_threads_may_wait_on_one_task, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_task *t = plait_submit(pool, tl_gate_task, &gate);
    cr_assert_not_null(t);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    enum { N = 4 };
    struct multi_wait m[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        m[i].t = t;
        atomic_init(&m[i].r, -1);
        th[i] = tl_thread(wait_task_thread, &m[i]);
    }
    tl_raise(&gate.open);
    for (int i = 0; i < N; i++) {
        tl_join_thread(th[i]);
        TL_ASSERT_CODE(atomic_load(&m[i].r), 0);
    }
    plait_task_release(t);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}
