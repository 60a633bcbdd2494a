/*
 * test_errors — errors are gathered, none lost (rule 3), the wait's return
 * value, plait_strerror, bad input that must return an error code and not
 * crash, and out-of-memory paths (through the allocation fault hook).
 */
#include "testlib.h"

#include "alloc.h"

/* A task that fails with its code and a message once its gate opens. */
struct ordered {
    struct tl_gate gate;
    int code;
};

static int fail_when_opened(plait_ctx *ctx, void *arg)
{
    struct ordered *o = arg;
    int r = tl_gate_task(ctx, &o->gate);
    if (r != 0)
        return r;
    return plait_fail(ctx, o->code, "task with code %d", o->code);
}

/* ---- Rule 3: Errors are gathered, none lost -------------------------------- */

/* Rule 3 */
Test(gather, errors_in_completion_order_with_message_and_task_id, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    plait_group *g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    enum { N = 3 };
    struct ordered o[N];
    plait_task *t[N];
    for (int i = 0; i < N; i++) {
        tl_gate_init(&o[i].gate);
        o[i].code = 200 + i;
        t[i] = plait_spawn(g, fail_when_opened, &o[i]);
        cr_assert_not_null(t[i]);
    }
    for (int i = 0; i < N; i++)
        TL_AWAIT(atomic_load(&o[i].gate.started) == 1);
    /* Finish them in the order 2, 0, 1. */
    const int order[N] = {2, 0, 1};
    for (int k = 0; k < N; k++) {
        tl_raise(&o[order[k]].gate.open);
        TL_ASSERT_CODE(plait_task_wait(t[order[k]]), 200 + order[k]);
    }
    TL_ASSERT_CODE(plait_group_wait(g), 202); /* the first error's code */
    const plait_error *errs = NULL;
    cr_assert_eq(plait_group_errors(g, &errs), (size_t)N);
    cr_assert_not_null(errs);
    for (int k = 0; k < N; k++) {
        int i = order[k];
        char want[64];
        snprintf(want, sizeof want, "task with code %d", 200 + i);
        TL_ASSERT_CODE(errs[k].code, 200 + i);
        cr_assert_str_eq(errs[k].message, want);
        cr_assert_eq(errs[k].task_id, plait_task_id(t[i]), "error %d names the wrong task", k);
        cr_assert_str_eq(plait_task_message(t[i]), want);
    }
    /* errors may be NULL to count. */
    cr_assert_eq(plait_group_errors(g, NULL), (size_t)N);
    for (int i = 0; i < N; i++)
        plait_task_release(t[i]); /* the group's copies stay valid */
    cr_assert_str_eq(errs[0].message, "task with code 202");
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 3 */
Test(gather, every_failed_task_adds_exactly_one_error, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    plait_group *g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    const int n = TL_SIZE(500, 100);
    plait_task **t = calloc((size_t)n, sizeof *t);
    cr_assert_not_null(t);
    for (int i = 0; i < n; i++) {
        /* Every third succeeds, one in five returns ECANCELED. */
        int code = i % 3 == 0 ? 0 : i % 5 == 0 ? ECANCELED : 10000 + i;
        t[i] = plait_spawn(g, tl_return_task, TL_CODE(code));
        cr_assert_not_null(t[i]);
    }
    int r = plait_group_wait(g);
    cr_assert(r >= 10000, "wait returned %d", r);
    const plait_error *errs;
    size_t ne = plait_group_errors(g, &errs);
    int want = 0;
    for (int i = 0; i < n; i++)
        if (i % 3 != 0 && i % 5 != 0)
            want++;
    cr_assert_eq(ne, (size_t)want, "%zu errors gathered for %d failed tasks", ne, want);
    cr_assert_eq(r, errs[0].code);
    char *seen = calloc((size_t)n, 1);
    for (size_t k = 0; k < ne; k++) {
        int i = errs[k].code - 10000;
        cr_assert(i >= 0 && i < n && i % 3 != 0 && i % 5 != 0, "unexpected code %d", errs[k].code);
        cr_assert_eq(seen[i], 0, "task %d's error gathered twice", i);
        seen[i] = 1;
        cr_assert_eq(errs[k].task_id, plait_task_id(t[i]));
        cr_assert_null(errs[k].message);
    }
    free(seen);
    for (int i = 0; i < n; i++)
        plait_task_release(t[i]);
    free(t);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

static int real_error_on_cancel(plait_ctx *ctx, void *arg)
{
    struct tl_gate *gate = arg;
    atomic_fetch_add(&gate->started, 1);
    if (!TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S))
        return EIO;
    /* Cleaning up after the cancel failed: a real error, not ECANCELED. */
    return plait_fail(ctx, ENOSPC, "cleanup failed");
}

/* Rule 3 */
Test(gather, an_error_returned_while_the_group_is_cancelled_is_still_gathered,
     .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    /* Cancelled by a sibling's failure. */
    plait_group *g = tl_group(pool, 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_task *c = plait_spawn(g, real_error_on_cancel, &gate);
    cr_assert_not_null(c);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    plait_task *f = plait_spawn(g, tl_return_task, TL_CODE(EACCES));
    cr_assert_not_null(f);
    TL_ASSERT_CODE(plait_group_wait(g), EACCES);
    const plait_error *errs;
    cr_assert_eq(plait_group_errors(g, &errs), 2u, "the error during cancellation was swallowed");
    TL_ASSERT_CODE(errs[0].code, EACCES);
    cr_assert_eq(errs[0].task_id, plait_task_id(f));
    TL_ASSERT_CODE(errs[1].code, ENOSPC);
    cr_assert_str_eq(errs[1].message, "cleanup failed");
    cr_assert_eq(errs[1].task_id, plait_task_id(c));
    plait_task_release(c);
    plait_task_release(f);
    plait_group_destroy(g);

    /* Cancelled by a call: the error still decides the wait's result. */
    g = tl_group(pool, 0);
    tl_gate_init(&gate);
    cr_assert_eq(plait_go(g, real_error_on_cancel, &gate), 0);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    plait_group_cancel(g);
    TL_ASSERT_CODE(plait_group_wait(g), ENOSPC);
    cr_assert_eq(plait_group_errors(g, &errs), 1u);
    TL_ASSERT_CODE(errs[0].code, ENOSPC);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 3 */
Test(gather, a_task_returning_ecanceled_adds_no_error_and_cancels_nothing, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    cr_assert_eq(plait_go(g, tl_gate_cancellable_task, &gate), 0);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    plait_task *t = plait_spawn(g, tl_return_task, TL_CODE(ECANCELED));
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), ECANCELED);
    atomic_int ran = 0;
    plait_task *later = plait_spawn(g, tl_count_task, &ran);
    cr_assert_not_null(later);
    TL_ASSERT_CODE(plait_task_wait(later), 0); /* the group is not cancelled */
    cr_assert_eq(atomic_load(&gate.saw_cancel), 0);
    tl_raise(&gate.open);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    cr_assert_eq(plait_group_errors(g, NULL), 0u);
    cr_assert_eq(atomic_load(&ran), 1);
    plait_task_release(t);
    plait_task_release(later);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(gather, errors_are_empty_before_the_wait_returns, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    plait_task *t = plait_spawn(g, tl_return_task, TL_CODE(EIO));
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), EIO);
    const plait_error *errs = (const plait_error *)1;
    cr_assert_eq(plait_group_errors(g, &errs), 0u);
    cr_assert_null(errs);
    TL_ASSERT_CODE(plait_group_wait(g), EIO);
    cr_assert_eq(plait_group_errors(g, &errs), 1u);
    cr_assert_not_null(errs);
    plait_task_release(t);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- Rule 3: the wait's return value, by precedence ------------------------ */

static int error_after_cancel(plait_ctx *ctx, void *arg)
{
    struct tl_gate *gate = arg;
    atomic_fetch_add(&gate->started, 1);
    if (!TL_SPIN_UNTIL(plait_cancelled(ctx), TL_WAIT_S))
        return EIO;
    return EMLINK;
}

/* Rule 3 */
Test(wait_result, first_error_beats_a_fired_deadline, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    cr_assert_eq(plait_go(g, error_after_cancel, &gate), 0);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    TL_ASSERT_CODE(plait_group_set_timeout(g, 1000000u), 0);
    TL_ASSERT_CODE(plait_group_wait(g), EMLINK);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 3 */
Test(wait_result, a_fired_deadline_beats_cancellation, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    cr_assert_eq(plait_go(g, tl_gate_cancellable_task, &gate), 0);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    TL_ASSERT_CODE(plait_group_set_timeout(g, 1000000u), 0);
    TL_ASSERT_CODE(plait_group_wait(g), ETIMEDOUT);
    cr_assert_eq(atomic_load(&gate.saw_cancel), 1);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 3 */
Test(wait_result, cancelled_without_errors_is_ecanceled_and_clean_is_zero, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    cr_assert_eq(plait_go(g, tl_noop_task, NULL), 0);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);

    g = tl_group(pool, 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    cr_assert_eq(plait_go(g, tl_gate_cancellable_task, &gate), 0);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    plait_group_cancel(g);
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* Rule 3 */
Test(wait_result, the_first_error_wins_over_later_ones_and_a_later_cancel, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    plait_task *a = plait_spawn(g, tl_return_task, TL_CODE(ENOEXEC));
    cr_assert_not_null(a);
    TL_ASSERT_CODE(plait_task_wait(a), ENOEXEC);
    plait_task *b = plait_spawn(g, tl_return_task, TL_CODE(E2BIG));
    cr_assert_not_null(b);
    TL_ASSERT_CODE(plait_task_wait(b), E2BIG);
    plait_group_cancel(g);
    TL_ASSERT_CODE(plait_group_wait(g), ENOEXEC);
    cr_assert_eq(plait_group_errors(g, NULL), 2u);
    plait_task_release(a);
    plait_task_release(b);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- plait_strerror ---------------------------------------------------------- */

Test(strerror, every_plait_code_has_its_own_name)
{
    const int codes[] = {0, EINVAL, ENOMEM, ECANCELED, ETIMEDOUT, ESHUTDOWN, EDEADLK, EAGAIN};
    const size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *s = plait_strerror(codes[i]);
        cr_assert_not_null(s, "no name for %d", codes[i]);
        cr_assert_gt(strlen(s), 0u, "empty name for %d", codes[i]);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(s, plait_strerror(codes[j]), "%d and %d share a name", codes[i],
                              codes[j]);
    }
    /* Unknown codes (a task's own) still get a string. */
    cr_assert_not_null(plait_strerror(12345));
    cr_assert_not_null(plait_strerror(-1));
    cr_assert_gt(strlen(plait_strerror(12345)), 0u);
}

/* ---- Bad input: an error code, never a crash ----------------------------------- */

Test(bad_input, null_handles_and_functions, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0);

    TL_ASSERT_CODE(plait_pool_create(NULL, NULL), EINVAL);
    TL_ASSERT_CODE(plait_pool_destroy(NULL), EINVAL);
    cr_assert_eq(plait_pool_size(NULL), 0u);
    plait_stats st;
    TL_ASSERT_CODE(plait_pool_stats(NULL, &st), EINVAL);
    TL_ASSERT_CODE(plait_pool_stats(pool, NULL), EINVAL);

    plait_group *gg = NULL;
    TL_ASSERT_CODE(plait_group_create(NULL, pool, 0), EINVAL);
    TL_ASSERT_CODE(plait_group_create(&gg, NULL, 0), EINVAL);
    TL_ASSERT_CODE(plait_group_create(&gg, pool, 0x80), EINVAL);
    cr_assert_null(gg);

    errno = 0;
    cr_assert_null(plait_spawn(NULL, tl_noop_task, NULL));
    TL_ASSERT_CODE(errno, EINVAL);
    errno = 0;
    cr_assert_null(plait_spawn(g, NULL, NULL));
    TL_ASSERT_CODE(errno, EINVAL);
    TL_ASSERT_CODE(plait_go(NULL, tl_noop_task, NULL), EINVAL);
    TL_ASSERT_CODE(plait_go(g, NULL, NULL), EINVAL);
    TL_ASSERT_CODE(plait_group_wait(NULL), EINVAL);
    TL_ASSERT_CODE(plait_group_cancel(NULL), EINVAL);
    TL_ASSERT_CODE(plait_group_set_timeout(NULL, 1), EINVAL);
    cr_assert_eq(plait_group_pending(NULL), 0u);
    const plait_error *errs = (const plait_error *)1;
    cr_assert_eq(plait_group_errors(NULL, &errs), 0u);
    cr_assert_null(errs);
    plait_group_destroy(NULL);

    errno = 0;
    cr_assert_null(plait_submit(NULL, tl_noop_task, NULL));
    TL_ASSERT_CODE(errno, EINVAL);
    errno = 0;
    cr_assert_null(plait_submit(pool, NULL, NULL));
    TL_ASSERT_CODE(errno, EINVAL);
    cr_assert_not(plait_task_done(NULL));
    TL_ASSERT_CODE(plait_task_cancel(NULL), EINVAL);
    TL_ASSERT_CODE(plait_task_wait(NULL), EINVAL);
    TL_ASSERT_CODE(plait_task_status(NULL), EINVAL);
    cr_assert_null(plait_task_result(NULL));
    cr_assert_null(plait_task_message(NULL));
    cr_assert_eq(plait_task_id(NULL), 0u);
    plait_task_release(NULL);

    cr_assert_not(plait_cancelled(NULL));
    cr_assert_eq(plait_fail(NULL, 77, "x %d", 1), 77);
    plait_set_result(NULL, &st);
    TL_ASSERT_CODE(plait_sleep(NULL, 1), EINVAL);
    cr_assert_null(plait_ctx_pool(NULL));
    cr_assert_null(plait_current());
    TL_ASSERT_CODE(plait_join(NULL, tl_noop_task, NULL, tl_noop_task, NULL), EINVAL);

    /* The pool and group still work. */
    atomic_int n = 0;
    cr_assert_eq(plait_go(g, tl_count_task, &n), 0);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    cr_assert_eq(atomic_load(&n), 1);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- Out of memory (fault injection) ------------------------------------------- */

Test(out_of_memory, group_create_and_foreign_spawn_report_enomem, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = NULL;
    pl_fault_set(1);
    TL_ASSERT_CODE(plait_group_create(&g, pool, 0), ENOMEM);
    pl_fault_set(0);
    cr_assert_null(g);

    g = tl_group(pool, 0);
    /* The first foreign spawn of this thread has no record cached. */
    pl_fault_set(1);
    errno = 0;
    plait_task *t = plait_spawn(g, tl_noop_task, NULL);
    int e = errno;
    pl_fault_set(0);
    if (t == NULL) {
        TL_ASSERT_CODE(e, ENOMEM);
    } else {
        cr_log_warn("spawn took a cached record: no allocation to fail");
        plait_task_release(t);
    }
    /* After a failed allocation everything works again. */
    atomic_int n = 0;
    cr_assert_eq(plait_go(g, tl_count_task, &n), 0);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    cr_assert_eq(atomic_load(&n), 1);
    cr_assert_eq(plait_group_pending(g), 0u);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(out_of_memory, pool_create_fails_cleanly_at_every_allocation, .timeout = TL_TIMEOUT)
{
    /* Count the allocations of one create, then fail each in turn. */
    pl_fault_set(UINT64_MAX);
    plait_pool *pool = NULL;
    plait_pool_options o = {.threads = 2};
    TL_ASSERT_CODE(plait_pool_create(&pool, &o), 0);
    uint64_t n = pl_fault_count();
    pl_fault_set(0);
    cr_assert_eq(plait_pool_destroy(pool), 0);
    cr_assert_gt(n, 0u);
    for (uint64_t i = 1; i <= n; i++) {
        pool = NULL;
        pl_fault_set(i);
        int r = plait_pool_create(&pool, &o);
        pl_fault_set(0);
        TL_ASSERT_CODE(r, ENOMEM);
        cr_assert_null(pool);
    }
    /* Thread creation failing: EAGAIN, the started workers are stopped. */
    for (uint64_t i = 1; i <= 2; i++) {
        pool = NULL;
        pl_fault_thread_set(i);
        int r = plait_pool_create(&pool, &o);
        pl_fault_thread_set(0);
        TL_ASSERT_CODE(r, EAGAIN);
        cr_assert_null(pool);
    }
}
