/*
 * test_group_for — loops inside a group (plait_group_for): every index
 * once in chunks of at most grain; the group's policy applies (fail-fast
 * stops chunks not started, collect-all gathers every failed chunk's error
 * with its message and item), and so do its limit, deadline and
 * cancellation; plait_fail_item names the item; plait_parallel_for passes
 * the first error's message on to the calling task.
 */
#include "testlib.h"

struct loop {
    size_t base;
    _Atomic uint32_t *visits;
    atomic_size_t longest;
    atomic_int calls;
    size_t fail_every;  /* 0: never; else items with i % fail_every == 3 fail */
    uint64_t sleep_ns;  /* per chunk, cancellable */
    size_t block_from;  /* 0: never; else chunks from this item on wait to be cancelled */
    atomic_int gave_up; /* a chunk waited TL_WAIT_S in vain: the others wait no more */
};

static void loop_init(struct loop *l, size_t begin, size_t end)
{
    memset(l, 0, sizeof *l);
    l->base = begin;
    l->visits = calloc(end - begin + 1, sizeof *l->visits);
    cr_assert_not_null(l->visits);
}

static int loop_chunk(plait_ctx *ctx, size_t b, size_t e, void *arg)
{
    struct loop *l = arg;
    atomic_fetch_add(&l->calls, 1);
    size_t n = e - b, m = atomic_load(&l->longest);
    while (n > m && !atomic_compare_exchange_weak(&l->longest, &m, n))
        ;
    if (l->sleep_ns != 0) {
        int r = plait_sleep(ctx, l->sleep_ns);
        if (r != 0)
            return r;
    }
    if (l->block_from != 0 && b >= l->block_from) {
        if (TL_SPIN_UNTIL(plait_cancelled(ctx) || tl_raised(&l->gave_up), TL_WAIT_S) &&
            plait_cancelled(ctx))
            return ECANCELED;
        tl_raise(&l->gave_up);
        return ETIME;
    }
    for (size_t i = b; i < e; i++) {
        atomic_fetch_add(&l->visits[i - l->base], 1);
        if (l->fail_every != 0 && i % l->fail_every == 3)
            return plait_fail_item(ctx, i, EIO, "item %zu is bad", i);
    }
    return 0;
}

Test(group_for, visits_every_index_once_in_chunks_of_at_most_grain, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    size_t begin = 5, end = TL_SIZE(100005, 10005);
    size_t grains[] = {0, 1, 7, 1000, 1u << 30};
    for (size_t k = 0; k < sizeof grains / sizeof grains[0]; k++) {
        struct loop l;
        loop_init(&l, begin, end);
        plait_group *g = tl_group(pool, 0);
        TL_ASSERT_CODE(plait_group_for(g, begin, end, grains[k], loop_chunk, &l), 0);
        TL_ASSERT_CODE(plait_group_wait(g), 0);
        for (size_t i = begin; i < end; i++)
            if (atomic_load(&l.visits[i - begin]) != 1)
                cr_assert_fail("grain %zu: index %zu visited %u times", grains[k], i,
                               atomic_load(&l.visits[i - begin]));
        if (grains[k] != 0)
            cr_assert(atomic_load(&l.longest) <= grains[k]);
        plait_group_info info;
        TL_ASSERT_CODE(plait_group_get_info(g, &info), 0);
        cr_assert_eq(info.items_total, end - begin);
        cr_assert_eq(info.items_done, end - begin);
        cr_assert_eq(info.failed, 0);
        cr_assert_eq(info.spawned, info.succeeded);
        cr_assert_eq((int)info.spawned, atomic_load(&l.calls), "one task per chunk");
        plait_group_destroy(g);
        free(l.visits);
    }
    plait_pool_destroy(pool);
}

Test(group_for, collect_all_gathers_every_failed_chunk_with_message_and_item, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    struct loop l;
    size_t n = 1000;
    loop_init(&l, 0, n);
    l.fail_every = 10;
    plait_group *g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    TL_ASSERT_CODE(plait_group_for(g, 0, n, 1, loop_chunk, &l), 0);
    TL_ASSERT_CODE(plait_group_wait(g), EIO);
    const plait_error *errs;
    size_t ne = plait_group_errors(g, &errs);
    cr_assert_eq(ne, n / 10);
    bool seen[100] = {0};
    for (size_t i = 0; i < ne; i++) {
        cr_assert_eq(errs[i].code, EIO);
        cr_assert_eq(errs[i].item % 10, 3, "item %zu", errs[i].item);
        cr_assert_not(seen[errs[i].item / 10], "item %zu twice", errs[i].item);
        seen[errs[i].item / 10] = true;
        char want[64];
        snprintf(want, sizeof want, "item %zu is bad", errs[i].item);
        cr_assert_str_eq(errs[i].message, want);
    }
    plait_group_info info;
    TL_ASSERT_CODE(plait_group_get_info(g, &info), 0);
    cr_assert_eq(info.failed, n / 10);
    cr_assert_eq(info.items_done, n - n / 10);
    cr_assert_not(info.is_cancelled);
    plait_group_destroy(g);
    free(l.visits);
    plait_pool_destroy(pool);
}

Test(group_for, fail_fast_stops_the_chunks_not_started, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct loop l;
    size_t n = TL_SIZE(100000, 10000);
    loop_init(&l, 0, n);
    l.fail_every = 1000000000; /* only item 3 fails */
    /* The upper half waits for the cancellation: on a machine where the
     * failing worker is descheduled while the other runs every other chunk,
     * a count of chunks started would not show the stop. Item 3 is run
     * first by whichever worker splits the left end (the newest of its
     * deque), so a worker blocked here cannot hold it. */
    l.block_from = n / 2;
    plait_group *g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_for(g, 0, n, 1, loop_chunk, &l), 0);
    TL_ASSERT_CODE(plait_group_wait(g), EIO);
    cr_assert_eq(plait_group_errors(g, NULL), 1);
    plait_group_info info;
    TL_ASSERT_CODE(plait_group_get_info(g, &info), 0);
    cr_assert(info.is_cancelled);
    cr_assert_eq(info.cancel_reason, PLAIT_CANCEL_FAILURE);
    /* At most one chunk of the upper half per worker starts before the
     * cancel (they wait for it); none after it. */
    cr_assert(atomic_load(&l.calls) <= (int)(n / 2) + 2, "%d of %zu chunks started",
              atomic_load(&l.calls), n);
    cr_assert(info.items_done < n);
    plait_group_destroy(g);
    free(l.visits);
    plait_pool_destroy(pool);
}

Test(group_for, the_groups_deadline_and_cancellation_apply, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    for (int how = 0; how < 2; how++) {
        struct loop l;
        loop_init(&l, 0, 64);
        l.sleep_ns = 60ull * 1000000000u; /* only a cancellation ends them */
        plait_group *g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
        TL_ASSERT_CODE(plait_group_for(g, 0, 64, 1, loop_chunk, &l), 0);
        if (how == 0)
            TL_ASSERT_CODE(plait_group_set_timeout(g, 20000000), 0);
        else {
            TL_AWAIT(atomic_load(&l.calls) >= 1);
            TL_ASSERT_CODE(plait_group_cancel(g), 0);
        }
        TL_ASSERT_CODE(plait_group_wait(g), how == 0 ? ETIMEDOUT : ECANCELED);
        plait_group_info info;
        TL_ASSERT_CODE(plait_group_get_info(g, &info), 0);
        cr_assert_eq(info.timed_out, how == 0);
        cr_assert_eq(info.cancel_reason, how == 0 ? PLAIT_CANCEL_DEADLINE : PLAIT_CANCEL_CALL);
        cr_assert_eq(info.failed, 0, "a cancellation is not a failure");
        plait_group_destroy(g);
        free(l.visits);
    }
    plait_pool_destroy(pool);
}

Test(group_for, a_limited_group_runs_the_loop_to_the_end, .timeout = TL_TIMEOUT)
{
    for (unsigned threads = 1; threads <= 3; threads += 2) {
        plait_pool *pool = tl_pool(threads);
        struct loop l;
        size_t n = 5000;
        loop_init(&l, 0, n);
        plait_group *g = tl_group(pool, 0);
        TL_ASSERT_CODE(plait_group_set_limit(g, 1), 0);
        TL_ASSERT_CODE(plait_group_for(g, 0, n, 3, loop_chunk, &l), 0);
        TL_ASSERT_CODE(plait_group_wait(g), 0);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(atomic_load(&l.visits[i]), 1);
        plait_group_destroy(g);
        free(l.visits);
        plait_pool_destroy(pool);
    }
}

static int plain_failure(plait_ctx *ctx, void *arg)
{
    (void)arg;
    return plait_fail(ctx, EPERM, "no item");
}

Test(group_for, errors_without_an_item_say_plait_no_item, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    cr_assert_eq(plait_go(g, plain_failure, NULL), 0);
    cr_assert_eq(plait_go(g, tl_return_task, TL_CODE(EBADF)), 0);
    int r = plait_group_wait(g);
    cr_assert(r == EPERM || r == EBADF, "got %d", r);
    const plait_error *errs;
    cr_assert_eq(plait_group_errors(g, &errs), 2);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(errs[i].item, PLAIT_NO_ITEM);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(group_for, bad_calls, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct loop l;
    loop_init(&l, 0, 10);
    plait_group *g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_for(NULL, 0, 10, 1, loop_chunk, &l), EINVAL);
    TL_ASSERT_CODE(plait_group_for(g, 0, 10, 1, NULL, &l), EINVAL);
    TL_ASSERT_CODE(plait_group_for(g, 10, 0, 1, loop_chunk, &l), EINVAL);
    TL_ASSERT_CODE(plait_group_for(g, 4, 4, 1, loop_chunk, &l), 0);
    plait_group *c = tl_group(pool, 0);
    plait_group_cancel(c);
    TL_ASSERT_CODE(plait_group_for(c, 0, 10, 1, loop_chunk, &l), ECANCELED);
    TL_ASSERT_CODE(plait_group_wait(c), ECANCELED);
    plait_group_destroy(c);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    TL_ASSERT_CODE(plait_group_for(g, 0, 10, 1, loop_chunk, &l), EINVAL);
    cr_assert_eq(atomic_load(&l.calls), 0);
    cr_assert_eq(plait_fail_item(NULL, 1, EIO, "x"), EIO);
    plait_group_destroy(g);
    free(l.visits);
    plait_pool_destroy(pool);
}

/* A task running a parallel_for whose chunk fails: the task's error
 * carries the chunk's message and item. */
static int pf_fail_chunk(plait_ctx *ctx, size_t b, size_t e, void *arg)
{
    (void)arg;
    for (size_t i = b; i < e; i++)
        if (i == 77)
            return plait_fail_item(ctx, i, ERANGE, "chunk item %zu", i);
    return 0;
}

static int run_pf(plait_ctx *ctx, void *arg)
{
    (void)arg;
    return plait_parallel_for(plait_ctx_pool(ctx), 0, 1000, 10, pf_fail_chunk, NULL);
}

Test(group_for, parallel_for_passes_the_first_error_on_to_the_calling_task, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    cr_assert_eq(plait_go(g, run_pf, NULL), 0);
    TL_ASSERT_CODE(plait_group_wait(g), ERANGE);
    const plait_error *errs;
    cr_assert_eq(plait_group_errors(g, &errs), 1);
    cr_assert_str_eq(errs[0].message, "chunk item 77");
    cr_assert_eq(errs[0].item, 77);
    plait_group_destroy(g);
    /* From a foreign thread: the code. */
    TL_ASSERT_CODE(plait_parallel_for(pool, 0, 1000, 10, pf_fail_chunk, NULL), ERANGE);
    plait_pool_destroy(pool);
}

/* A loop spawned from inside a task, into that task's own group. */
struct inner {
    plait_group *g;
    struct loop *l;
};

static int spawn_loop(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct inner *in = arg;
    return plait_group_for(in->g, 0, 10000, 16, loop_chunk, in->l);
}

Test(group_for, callable_from_a_task_of_the_group, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(3);
    struct loop l;
    loop_init(&l, 0, 10000);
    struct inner in = {tl_group(pool, 0), &l};
    cr_assert_eq(plait_go(in.g, spawn_loop, &in), 0);
    TL_ASSERT_CODE(plait_group_wait(in.g), 0);
    for (size_t i = 0; i < 10000; i++)
        cr_assert_eq(atomic_load(&l.visits[i]), 1);
    plait_group_destroy(in.g);
    free(l.visits);
    plait_pool_destroy(pool);
}
