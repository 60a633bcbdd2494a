/*
 * test_spawn_with — plait_spawn_with: its options (checked, extensible),
 * handles or none, and the argument's destructor (opts.drop), called
 * exactly once on every path: the task ran, was cancelled before it ran
 * (group cancelled, group destroyed unwaited, pool destroyed with it
 * queued), or the spawn itself failed (cancelled group, group already
 * waited, bad arguments, pool shutting down, out of memory).
 */
#include "testlib.h"

#include <sched.h>

#include "alloc.h"

/* An argument that counts its drops; the test checks each is dropped
 * exactly once. */
struct item {
    atomic_int ran;
    atomic_int dropped;
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
    /* Dropped only after the body: a drop before would be seen here. */
    if (atomic_load_explicit(&it->dropped, memory_order_relaxed) != 0)
        return EIO;
    atomic_fetch_add_explicit(&it->ran, 1, memory_order_relaxed);
    return 0;
}

static const plait_spawn_options drop_opts = {.drop = drop_item};

static struct item *items_new(size_t n)
{
    struct item *v = calloc(n, sizeof *v);
    cr_assert_not_null(v);
    return v;
}

/* Spawns v[0..n) into g, each with the counting drop. */
static void spawn_items(plait_group *g, struct item *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        TL_ASSERT_CODE(plait_spawn_with(g, run_item, &v[i], &drop_opts, NULL), 0);
}

static void assert_each_dropped_once(struct item *v, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (atomic_load(&v[i].dropped) != 1)
            cr_assert_fail("%s: item %zu dropped %d times", what, i, atomic_load(&v[i].dropped));
}

Test(spawn_with, null_options_are_plait_go_and_plait_spawn, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    /* Collect-all: the failing task must not cancel the counting one. */
    plait_group *g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    atomic_int n = 0;
    TL_ASSERT_CODE(plait_spawn_with(g, tl_count_task, &n, NULL, NULL), 0);
    plait_task *t = (plait_task *)1;
    TL_ASSERT_CODE(plait_spawn_with(g, tl_return_task, TL_CODE(7), NULL, &t), 0);
    cr_assert(t != NULL && t != (plait_task *)1);
    TL_ASSERT_CODE(plait_task_wait(t), 7);
    plait_task_release(t);
    TL_ASSERT_CODE(plait_group_wait(g), 7);
    cr_assert_eq(atomic_load(&n), 1);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(spawn_with, drop_runs_once_after_the_body_before_the_wait_returns, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    size_t n = TL_SIZE(2000, 300);
    struct item *v = items_new(n);
    plait_group *g = tl_group(pool, 0);
    for (size_t i = 0; i < n; i++) {
        if (i % 3 == 0) {
            plait_task *t;
            TL_ASSERT_CODE(plait_spawn_with(g, run_item, &v[i], &drop_opts, &t), 0);
            plait_task_release(t);
        } else {
            TL_ASSERT_CODE(plait_spawn_with(g, run_item, &v[i], &drop_opts, NULL), 0);
        }
    }
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(atomic_load(&v[i].ran), 1, "item %zu", i);
    assert_each_dropped_once(v, n, "ran");
    plait_group_destroy(g);
    plait_pool_destroy(pool);
    free(v);
}

Test(spawn_with, a_handles_wait_returns_after_the_drop, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    for (int i = 0; i < TL_SIZE(200, 50); i++) {
        struct item it = {0};
        plait_task *t;
        TL_ASSERT_CODE(plait_spawn_with(g, run_item, &it, &drop_opts, &t), 0);
        TL_ASSERT_CODE(plait_task_wait(t), 0);
        cr_assert_eq(atomic_load(&it.dropped), 1);
        plait_task_release(t);
    }
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

Test(spawn_with, queued_tasks_of_a_cancelled_group_are_dropped_without_running,
     .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct tl_gate gate;
    plait_group *busy = tl_busy_group(pool, &gate);
    size_t n = TL_SIZE(1000, 200);
    struct item *v = items_new(n);
    plait_group *g = tl_group(pool, 0);
    spawn_items(g, v, n);
    TL_ASSERT_CODE(plait_group_cancel(g), 0);
    tl_raise(&gate.open);
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(atomic_load(&v[i].ran), 0, "item %zu ran", i);
    assert_each_dropped_once(v, n, "cancelled");
    plait_group_destroy(g);
    TL_ASSERT_CODE(plait_group_wait(busy), 0);
    plait_group_destroy(busy);
    plait_pool_destroy(pool);
    free(v);
}

Test(spawn_with, an_unwaited_group_destroyed_drops_its_queued_tasks, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct tl_gate gate;
    plait_group *busy = tl_busy_group(pool, &gate);
    size_t n = TL_SIZE(500, 100);
    struct item *v = items_new(n);
    plait_group *g = tl_group(pool, 0);
    spawn_items(g, v, n);
    tl_raise(&gate.open);
    plait_group_destroy(g); /* cancels, waits */
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(atomic_load(&v[i].dropped), 1, "item %zu", i);
    TL_ASSERT_CODE(plait_group_wait(busy), 0);
    plait_group_destroy(busy);
    plait_pool_destroy(pool);
    free(v);
}

Test(spawn_with, pool_destroy_runs_and_drops_what_is_queued, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_task *busy = plait_submit(pool, tl_gate_task, &gate);
    cr_assert_not_null(busy);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    size_t n = TL_SIZE(500, 100);
    struct item *v = items_new(n);
    plait_group *g = tl_group(pool, 0);
    spawn_items(g, v, n);
    tl_raise(&gate.open);
    plait_task_release(busy);
    /* Destroy runs the queue to completion (and so the drops). */
    TL_ASSERT_CODE(plait_pool_destroy(pool), 0);
    assert_each_dropped_once(v, n, "pool destroyed");
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(atomic_load(&v[i].ran), 1);
    /* The group outlives its pool only to be waited (all done) and freed. */
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
    free(v);
}

Test(spawn_with, a_failed_spawn_drops_before_it_returns, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct item it[8] = {0};
    plait_group *g = tl_group(pool, 0);
    /* Bad arguments. */
    TL_ASSERT_CODE(plait_spawn_with(NULL, run_item, &it[0], &drop_opts, NULL), EINVAL);
    cr_assert_eq(atomic_load(&it[0].dropped), 1);
    TL_ASSERT_CODE(plait_spawn_with(g, NULL, &it[1], &drop_opts, NULL), EINVAL);
    cr_assert_eq(atomic_load(&it[1].dropped), 1);
    plait_spawn_options bad = {.flags = 1u << 7, .drop = drop_item};
    TL_ASSERT_CODE(plait_spawn_with(g, run_item, &it[2], &bad, NULL), EINVAL);
    cr_assert_eq(atomic_load(&it[2].dropped), 1);
    plait_spawn_options later = {.drop = drop_item};
    /* the last reserved word: a field this version does not know */
    later.reserved[sizeof later.reserved / sizeof later.reserved[0] - 1] = &later;
    plait_task *t = (plait_task *)1;
    TL_ASSERT_CODE(plait_spawn_with(g, run_item, &it[3], &later, &t), EINVAL);
    cr_assert_eq(atomic_load(&it[3].dropped), 1);
    cr_assert_null(t, "a failed spawn leaves *handle NULL");
    /* A cancelled group: no handle asked, ECANCELED; a handle asked, a
     * task already over. Either way the argument is dropped at once. */
    plait_group *c = tl_group(pool, 0);
    plait_group_cancel(c);
    TL_ASSERT_CODE(plait_spawn_with(c, run_item, &it[4], &drop_opts, NULL), ECANCELED);
    cr_assert_eq(atomic_load(&it[4].dropped), 1);
    TL_ASSERT_CODE(plait_spawn_with(c, run_item, &it[5], &drop_opts, &t), 0);
    cr_assert_eq(atomic_load(&it[5].dropped), 1);
    cr_assert(plait_task_done(t));
    TL_ASSERT_CODE(plait_task_status(t), ECANCELED);
    plait_task_release(t);
    TL_ASSERT_CODE(plait_group_wait(c), ECANCELED);
    plait_group_destroy(c);
    /* A group already waited. */
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    TL_ASSERT_CODE(plait_spawn_with(g, run_item, &it[6], &drop_opts, NULL), EINVAL);
    cr_assert_eq(atomic_load(&it[6].dropped), 1);
    plait_group_destroy(g);
    for (int i = 0; i < 7; i++)
        cr_assert_eq(atomic_load(&it[i].ran), 0);
    plait_pool_destroy(pool);
}

struct oom_spawn {
    plait_group *g;
    struct item it;
    int r;
};

static void *spawn_out_of_memory(void *p)
{
    struct oom_spawn *o = p;
    /* A fresh thread of a fresh pool has no cached record: the spawn's
     * first allocation is the record. */
    pl_fault_set(1);
    o->r = plait_spawn_with(o->g, run_item, &o->it, &drop_opts, NULL);
    pl_fault_set(0);
    return NULL;
}

Test(spawn_with, out_of_memory_drops, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct oom_spawn o = {0};
    o.g = tl_group(pool, 0);
    tl_join_thread(tl_thread(spawn_out_of_memory, &o));
    TL_ASSERT_CODE(o.r, ENOMEM);
    cr_assert_eq(atomic_load(&o.it.dropped), 1);
    cr_assert_eq(atomic_load(&o.it.ran), 0);
    TL_ASSERT_CODE(plait_group_wait(o.g), 0);
    plait_group_destroy(o.g);
    plait_pool_destroy(pool);
}

Test(spawn_with, a_spawn_refused_by_a_pool_shutting_down_drops, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_group *g = tl_group(pool, 0);
    cr_assert_eq(plait_go(g, tl_gate_task, &gate), 0);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    struct tl_destroyer d;
    tl_destroy_in_thread(&d, pool);
    /* Until destroy begins, spawns succeed (and run, and drop, later). */
    /* Enough room that the destroyer starts before the array runs out even
     * on a loaded machine (yielding now and then lets it run). */
    enum { MAX = 1 << 20 };
    struct item *v = items_new(MAX);
    size_t i = 0;
    int r = 0;
    uint64_t t0 = tl_now_ns();
    while (i < MAX && (r = plait_spawn_with(g, run_item, &v[i], &drop_opts, NULL)) == 0) {
        i++;
        if (i % 4096 == 0)
            sched_yield();
        if (tl_since_s(t0) > TL_WAIT_S)
            break;
    }
    TL_ASSERT_CODE(r, ESHUTDOWN);
    cr_assert_eq(atomic_load(&v[i].dropped), 1, "the refused spawn's arg is dropped");
    cr_assert_eq(atomic_load(&v[i].ran), 0);
    tl_raise(&gate.open);
    (void)tl_destroyer_join(&d);
    for (size_t k = 0; k < i; k++)
        cr_assert_eq(atomic_load(&v[k].dropped), 1, "item %zu", k);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
    free(v);
}

/* The batch that is cancelled whole: its arguments are heap records that
 * only drop frees. ASan (detect_leaks) fails the test if one is lost. */
static void free_arg(void *p)
{
    free(p);
}

static int never_reached(plait_ctx *ctx, void *p)
{
    (void)ctx;
    (void)p;
    return EIO;
}

Test(spawn_with, a_cancelled_batch_leaks_nothing, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_group *g = tl_group(pool, 0);
    /* Every worker busy: the batch stays queued until cancelled. */
    for (int i = 0; i < 2; i++)
        cr_assert_eq(plait_go(g, tl_gate_cancellable_task, &gate), 0);
    TL_AWAIT(atomic_load(&gate.started) == 2);
    size_t n = TL_SIZE(100000, 20000);
    plait_spawn_options o = {.drop = free_arg};
    for (size_t i = 0; i < n; i++) {
        void *arg = malloc(48);
        cr_assert_not_null(arg);
        TL_ASSERT_CODE(plait_spawn_with(g, never_reached, arg, &o, NULL), 0);
    }
    plait_group_cancel(g);
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}
