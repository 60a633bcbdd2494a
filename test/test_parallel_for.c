/*
 * test_parallel_for — plait_parallel_for: exact sums, every index once,
 * the grain respected, empty and bad ranges, failure stopping the chunks
 * not yet started, and calls from tasks and from several threads.
 */
#include "testlib.h"

/* Everything a chunk records. */
struct pf {
    size_t base;              /* the range's begin, for visits[] */
    _Atomic uint32_t *visits; /* per index */
    atomic_ullong sum;        /* of the indices */
    atomic_size_t calls;
    atomic_size_t longest; /* the longest chunk */
    atomic_size_t shortest;
    atomic_int bad; /* a chunk with begin >= end */
};

static void pf_init(struct pf *p, size_t begin, size_t end)
{
    memset(p, 0, sizeof *p);
    p->base = begin;
    p->visits = end > begin ? calloc(end - begin, sizeof *p->visits) : NULL;
    atomic_init(&p->sum, 0);
    atomic_init(&p->calls, 0);
    atomic_init(&p->longest, 0);
    atomic_init(&p->shortest, SIZE_MAX);
    atomic_init(&p->bad, 0);
}

static void pf_fini(struct pf *p)
{
    free(p->visits);
}

static int record_chunk(plait_ctx *ctx, size_t begin, size_t end, void *arg)
{
    (void)ctx;
    struct pf *p = arg;
    atomic_fetch_add(&p->calls, 1);
    if (begin >= end) {
        atomic_store(&p->bad, 1);
        return 0;
    }
    size_t len = end - begin;
    size_t cur = atomic_load(&p->longest);
    while (len > cur && !atomic_compare_exchange_weak(&p->longest, &cur, len)) {
    }
    cur = atomic_load(&p->shortest);
    while (len < cur && !atomic_compare_exchange_weak(&p->shortest, &cur, len)) {
    }
    unsigned long long s = 0;
    for (size_t i = begin; i < end; i++) {
        s += i;
        if (p->visits != NULL)
            atomic_fetch_add_explicit(&p->visits[i - p->base], 1, memory_order_relaxed);
    }
    atomic_fetch_add(&p->sum, s);
    return 0;
}

static void check_every_index_once(struct pf *p, size_t begin, size_t end)
{
    unsigned long long want = 0;
    for (size_t i = begin; i < end; i++) {
        want += i;
        uint32_t v = atomic_load(&p->visits[i - begin]);
        if (v != 1)
            cr_assert_fail("index %zu visited %u times", i, v);
    }
    cr_assert_eq(atomic_load(&p->sum), want);
    cr_assert_eq(atomic_load(&p->bad), 0, "a chunk was empty");
}

Test(parallel_for, sums_exactly_and_visits_every_index_once, .timeout = TL_TIMEOUT)
{
    const size_t n = TL_SIZE(100000, 10000);
    const size_t grains[] = {1, 7, 1000, 0};
    for (unsigned threads = 1; threads <= 4; threads *= 2) {
        plait_pool *pool = tl_pool(threads);
        for (size_t k = 0; k < sizeof grains / sizeof grains[0]; k++) {
            size_t grain = grains[k];
            if (grain == 1 && TL_SANITIZED)
                grain = 3;
            size_t begin = 1000, end = begin + n;
            struct pf p;
            pf_init(&p, begin, end);
            TL_ASSERT_CODE(plait_parallel_for(pool, begin, end, grain, record_chunk, &p), 0);
            check_every_index_once(&p, begin, end);
            if (grain != 0)
                cr_assert_leq(atomic_load(&p.longest), grain, "a chunk of %zu > grain %zu",
                              atomic_load(&p.longest), grain);
            pf_fini(&p);
        }
        cr_assert_eq(plait_pool_destroy(pool), 0);
    }
}

Test(parallel_for, a_range_no_longer_than_grain_is_one_call, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    for (size_t len = 1; len <= 64; len *= 4) {
        struct pf p;
        pf_init(&p, 10, 10 + len);
        TL_ASSERT_CODE(plait_parallel_for(pool, 10, 10 + len, 64, record_chunk, &p), 0);
        cr_assert_eq(atomic_load(&p.calls), 1u, "a range of %zu with grain 64 was split", len);
        cr_assert_eq(atomic_load(&p.longest), len);
        check_every_index_once(&p, 10, 10 + len);
        pf_fini(&p);
    }
    /* grain exactly the length */
    struct pf p;
    pf_init(&p, 0, 1000);
    TL_ASSERT_CODE(plait_parallel_for(pool, 0, 1000, 1000, record_chunk, &p), 0);
    cr_assert_eq(atomic_load(&p.calls), 1u);
    pf_fini(&p);
    /* grain one less: split */
    pf_init(&p, 0, 1000);
    TL_ASSERT_CODE(plait_parallel_for(pool, 0, 1000, 999, record_chunk, &p), 0);
    cr_assert_geq(atomic_load(&p.calls), 2u);
    cr_assert_leq(atomic_load(&p.longest), 999u);
    check_every_index_once(&p, 0, 1000);
    pf_fini(&p);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(parallel_for, grain_zero_picks_a_grain_and_covers_the_range, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    const size_t sizes[] = {1, 2, 3, 31, 1000, 65537};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        struct pf p;
        pf_init(&p, 0, sizes[k]);
        TL_ASSERT_CODE(plait_parallel_for(pool, 0, sizes[k], 0, record_chunk, &p), 0);
        check_every_index_once(&p, 0, sizes[k]);
        cr_assert_geq(atomic_load(&p.calls), 1u);
        pf_fini(&p);
    }
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(parallel_for, an_empty_range_returns_zero_without_calling_fn, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct pf p;
    pf_init(&p, 5, 5);
    TL_ASSERT_CODE(plait_parallel_for(pool, 5, 5, 1, record_chunk, &p), 0);
    TL_ASSERT_CODE(plait_parallel_for(pool, 0, 0, 0, record_chunk, &p), 0);
    cr_assert_eq(atomic_load(&p.calls), 0u);
    pf_fini(&p);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(parallel_for, bad_arguments_are_einval, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct pf p;
    pf_init(&p, 0, 0);
    TL_ASSERT_CODE(plait_parallel_for(pool, 10, 9, 1, record_chunk, &p), EINVAL);
    TL_ASSERT_CODE(plait_parallel_for(pool, 0, 10, 1, NULL, &p), EINVAL);
    TL_ASSERT_CODE(plait_parallel_for(NULL, 0, 10, 1, record_chunk, &p), EINVAL);
    cr_assert_eq(atomic_load(&p.calls), 0u);
    pf_fini(&p);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(parallel_for, ranges_at_the_top_of_size_t_do_not_overflow, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    size_t end = SIZE_MAX, begin = SIZE_MAX - 1000;
    struct pf p;
    pf_init(&p, begin, end);
    TL_ASSERT_CODE(plait_parallel_for(pool, begin, end, 3, record_chunk, &p), 0);
    for (size_t i = begin; i < end; i++)
        if (atomic_load(&p.visits[i - begin]) != 1)
            cr_assert_fail("index SIZE_MAX-%zu visited %u times", SIZE_MAX - i,
                           atomic_load(&p.visits[i - begin]));
    pf_fini(&p);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- Failure ---------------------------------------------------------------- */

struct failing {
    atomic_size_t calls;
    atomic_int first_done;
    int code;
};

static int first_call_fails(plait_ctx *ctx, size_t begin, size_t end, void *arg)
{
    (void)ctx;
    (void)begin;
    (void)end;
    struct failing *f = arg;
    if (atomic_fetch_add(&f->calls, 1) == 0)
        return f->code; /* whichever chunk runs first */
    return 0;
}

Test(parallel_for, a_failure_stops_the_chunks_not_started, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1); /* chunks run one at a time */
    struct failing f = {.code = EDOM};
    atomic_init(&f.calls, 0);
    TL_ASSERT_CODE(plait_parallel_for(pool, 0, 1000, 1, first_call_fails, &f), EDOM);
    cr_assert_eq(atomic_load(&f.calls), 1u, "%zu chunks ran after the first one failed",
                 atomic_load(&f.calls) - 1);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

static int every_chunk_fails(plait_ctx *ctx, size_t begin, size_t end, void *arg)
{
    (void)ctx;
    (void)end;
    struct failing *f = arg;
    size_t k = atomic_fetch_add(&f->calls, 1);
    return k == 0 ? f->code : 1000 + (int)(begin % 1000);
}

Test(parallel_for, returns_the_first_error_code, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct failing f = {.code = ERANGE};
    atomic_init(&f.calls, 0);
    TL_ASSERT_CODE(plait_parallel_for(pool, 0, 64, 1, every_chunk_fails, &f), ERANGE);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct cancel_watch {
    atomic_size_t calls;
    atomic_int failed;
};

static int fail_one_then_see_cancel(plait_ctx *ctx, size_t begin, size_t end, void *arg)
{
    (void)end;
    struct cancel_watch *w = arg;
    atomic_fetch_add(&w->calls, 1);
    if (begin == 500) {
        atomic_store(&w->failed, 1);
        return ENOTTY;
    }
    /* Chunks running alongside: spin a little, reading the checkpoint. */
    for (int i = 0; i < 1000 && !plait_cancelled(ctx); i++)
        sched_yield();
    return 0;
}

Test(parallel_for, a_failure_on_many_workers_returns_its_code, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    struct cancel_watch w;
    atomic_init(&w.calls, 0);
    atomic_init(&w.failed, 0);
    TL_ASSERT_CODE(plait_parallel_for(pool, 0, 1000, 10, fail_one_then_see_cancel, &w), ENOTTY);
    cr_assert(atomic_load(&w.failed));
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- From tasks and from threads --------------------------------------------- */

struct nested_pf {
    struct pf p;
    size_t begin, end;
    int r;
};

static int pf_in_task(plait_ctx *ctx, void *arg)
{
    struct nested_pf *n = arg;
    n->r = plait_parallel_for(plait_ctx_pool(ctx), n->begin, n->end, 16, record_chunk, &n->p);
    return n->r;
}

Test(parallel_for, callable_from_inside_a_task, .timeout = TL_TIMEOUT)
{
    for (unsigned threads = 1; threads <= 2; threads++) {
        plait_pool *pool = tl_pool(threads);
        struct nested_pf n = {.begin = 0, .end = 5000, .r = -1};
        pf_init(&n.p, n.begin, n.end);
        plait_task *t = plait_submit(pool, pf_in_task, &n);
        cr_assert_not_null(t);
        TL_ASSERT_CODE(plait_task_wait(t), 0);
        TL_ASSERT_CODE(n.r, 0);
        check_every_index_once(&n.p, n.begin, n.end);
        plait_task_release(t);
        pf_fini(&n.p);
        cr_assert_eq(plait_pool_destroy(pool), 0);
    }
}

/* 2-D: a parallel_for over rows whose chunks run a parallel_for over columns. */
enum { ROWS = 64, COLS = 256 };

static _Atomic uint32_t grid[ROWS][COLS];

static int cols_chunk(plait_ctx *ctx, size_t begin, size_t end, void *arg)
{
    (void)ctx;
    size_t row = (size_t)(uintptr_t)arg;
    for (size_t c = begin; c < end; c++)
        atomic_fetch_add(&grid[row][c], 1);
    return 0;
}

static int rows_chunk(plait_ctx *ctx, size_t begin, size_t end, void *arg)
{
    (void)arg;
    for (size_t r = begin; r < end; r++) {
        int e =
            plait_parallel_for(plait_ctx_pool(ctx), 0, COLS, 8, cols_chunk, (void *)(uintptr_t)r);
        if (e != 0)
            return e;
    }
    return 0;
}

Test(parallel_for, nested_parallel_for_in_a_chunk, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    memset(grid, 0, sizeof grid);
    TL_ASSERT_CODE(plait_parallel_for(pool, 0, ROWS, 2, rows_chunk, NULL), 0);
    for (size_t r = 0; r < ROWS; r++)
        for (size_t c = 0; c < COLS; c++)
            if (atomic_load(&grid[r][c]) != 1)
                cr_assert_fail("cell (%zu,%zu) visited %u times", r, c, atomic_load(&grid[r][c]));
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct pf_thread {
    plait_pool *pool;
    struct pf p;
    size_t begin, end;
    int r;
};

static void *pf_from_thread(void *arg)
{
    struct pf_thread *t = arg;
    for (int round = 0; round < 5 && t->r == 0; round++) {
        memset(t->p.visits, 0, (t->end - t->begin) * sizeof *t->p.visits);
        atomic_store(&t->p.sum, 0);
        t->r = plait_parallel_for(t->pool, t->begin, t->end, 32, record_chunk, &t->p);
    }
    return NULL;
}

Test(parallel_for, callable_from_several_foreign_threads_at_once, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    enum { THREADS = 3 };
    struct pf_thread t[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        t[i].pool = pool;
        t[i].begin = (size_t)i * 100000;
        t[i].end = t[i].begin + TL_SIZE(20000, 3000);
        t[i].r = 0;
        pf_init(&t[i].p, t[i].begin, t[i].end);
        th[i] = tl_thread(pf_from_thread, &t[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        tl_join_thread(th[i]);
        TL_ASSERT_CODE(t[i].r, 0);
        check_every_index_once(&t[i].p, t[i].begin, t[i].end);
        pf_fini(&t[i].p);
    }
    cr_assert_eq(plait_pool_destroy(pool), 0);
}
