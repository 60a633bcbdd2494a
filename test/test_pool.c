/*
 * test_pool — pools: create and destroy, options (threads, name,
 * callbacks), $PLAIT_THREADS and the affinity mask as defaults, worker
 * indices, statistics that add up, and destroy's semantics (ESHUTDOWN for
 * foreign work once it began, EDEADLK from a worker, queued work finishes
 * and may still spawn).
 */
#include "testlib.h"

#include <sched.h>
#include <sys/prctl.h>

Test(pool, create_and_destroy_with_explicit_thread_counts, .timeout = TL_TIMEOUT)
{
    const unsigned counts[] = {1, 2, 4, 16};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        plait_pool *pool = tl_pool(counts[i]);
        cr_assert_eq(plait_pool_size(pool), counts[i]);
        cr_assert_eq(plait_pool_destroy(pool), 0);
    }
    /* Many short-lived pools (ASan checks that each frees everything). */
    for (int i = 0; i < TL_SIZE(50, 10); i++) {
        plait_pool *pool = tl_pool(2);
        atomic_int n = 0;
        plait_task *t = plait_submit(pool, tl_count_task, &n);
        cr_assert_not_null(t);
        TL_ASSERT_CODE(plait_task_wait(t), 0);
        plait_task_release(t);
        cr_assert_eq(plait_pool_destroy(pool), 0);
    }
}

static unsigned affinity_cpus(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
    return (unsigned)CPU_COUNT(&set);
}

Test(pool, default_thread_count_is_the_affinity_mask, .timeout = TL_TIMEOUT)
{
    unsetenv("PLAIT_THREADS");
    plait_pool *pool = NULL;
    TL_ASSERT_CODE(plait_pool_create(&pool, NULL), 0);
    cr_assert_eq(plait_pool_size(pool), affinity_cpus());
    cr_assert_eq(plait_pool_destroy(pool), 0);

    plait_pool_options o = {.threads = 0};
    TL_ASSERT_CODE(plait_pool_create(&pool, &o), 0);
    cr_assert_eq(plait_pool_size(pool), affinity_cpus());
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(pool, default_thread_count_follows_a_narrowed_affinity_mask, .timeout = TL_TIMEOUT)
{
    unsetenv("PLAIT_THREADS");
    cpu_set_t all, one;
    CPU_ZERO(&all);
    cr_assert_eq(sched_getaffinity(0, sizeof all, &all), 0);
    int first = -1;
    for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
        if (CPU_ISSET(c, &all))
            first = c;
    cr_assert_geq(first, 0);
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
    plait_pool *pool = NULL;
    int r = plait_pool_create(&pool, NULL);
    sched_setaffinity(0, sizeof all, &all);
    TL_ASSERT_CODE(r, 0);
    cr_assert_eq(plait_pool_size(pool), 1u, "one CPU allowed, %u workers", plait_pool_size(pool));
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(pool, plait_threads_sets_the_default, .timeout = TL_TIMEOUT)
{
    cr_assert_eq(setenv("PLAIT_THREADS", "3", 1), 0);
    plait_pool *pool = NULL;
    TL_ASSERT_CODE(plait_pool_create(&pool, NULL), 0);
    cr_assert_eq(plait_pool_size(pool), 3u);
    cr_assert_eq(plait_pool_destroy(pool), 0);
    /* An explicit count wins over the variable. */
    plait_pool_options o = {.threads = 2};
    TL_ASSERT_CODE(plait_pool_create(&pool, &o), 0);
    cr_assert_eq(plait_pool_size(pool), 2u);
    cr_assert_eq(plait_pool_destroy(pool), 0);
    unsetenv("PLAIT_THREADS");
}

Test(pool, unparsable_plait_threads_is_einval, .timeout = TL_TIMEOUT)
{
    const char *bad[] = {"", "abc", "3x", "x3", "2.5", "-2", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(setenv("PLAIT_THREADS", bad[i], 1), 0);
        plait_pool *pool = NULL;
        int r = plait_pool_create(&pool, NULL);
        if (r == 0)
            plait_pool_destroy(pool);
        cr_assert_eq(r, EINVAL, "PLAIT_THREADS=\"%s\": got %d (%s), want EINVAL", bad[i], r,
                     strerror(r));
        cr_assert_null(pool);
    }
    /* Explicit threads never read the variable. */
    cr_assert_eq(setenv("PLAIT_THREADS", "abc", 1), 0);
    plait_pool *pool = NULL;
    plait_pool_options o = {.threads = 1};
    TL_ASSERT_CODE(plait_pool_create(&pool, &o), 0);
    cr_assert_eq(plait_pool_destroy(pool), 0);
    unsetenv("PLAIT_THREADS");
}

/* ---- Names and callbacks ---------------------------------------------------- */

enum { MAXW = 8 };

struct callbacks {
    atomic_int started[MAXW];
    atomic_int stopped[MAXW];
    atomic_int index_ok[MAXW];
    atomic_int out_of_range;
    char names[MAXW][32];
    void *userdata_seen[MAXW];
};

static void on_start(unsigned worker, void *userdata)
{
    struct callbacks *c = userdata;
    if (worker >= MAXW) {
        atomic_store(&c->out_of_range, 1);
        return;
    }
    pthread_getname_np(pthread_self(), c->names[worker], sizeof c->names[worker]);
    c->userdata_seen[worker] = userdata;
    atomic_store(&c->index_ok[worker], plait_worker_index() == (int)worker);
    atomic_fetch_add(&c->started[worker], 1);
}

static void on_stop(unsigned worker, void *userdata)
{
    struct callbacks *c = userdata;
    if (worker >= MAXW) {
        atomic_store(&c->out_of_range, 1);
        return;
    }
    atomic_fetch_add(&c->stopped[worker], 1);
}

static void callbacks_init(struct callbacks *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < MAXW; i++) {
        atomic_init(&c->started[i], 0);
        atomic_init(&c->stopped[i], 0);
        atomic_init(&c->index_ok[i], 0);
    }
    atomic_init(&c->out_of_range, 0);
}

Test(pool, callbacks_run_once_per_worker_on_that_worker, .timeout = TL_TIMEOUT)
{
    struct callbacks c;
    callbacks_init(&c);
    plait_pool_options o = {.threads = 4,
                            .name = "tst",
                            .on_thread_start = on_start,
                            .on_thread_stop = on_stop,
                            .userdata = &c};
    plait_pool *pool = NULL;
    TL_ASSERT_CODE(plait_pool_create(&pool, &o), 0);
    for (int i = 0; i < 4; i++)
        TL_AWAIT(atomic_load(&c.started[i]) == 1);
    cr_assert_eq(plait_pool_destroy(pool), 0);
    cr_assert_eq(atomic_load(&c.out_of_range), 0, "a callback got a worker index >= 4");
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(atomic_load(&c.started[i]), 1, "on_thread_start(%d) ran %d times", i,
                     atomic_load(&c.started[i]));
        cr_assert_eq(atomic_load(&c.stopped[i]), 1,
                     "on_thread_stop(%d) ran %d times by the end of destroy", i,
                     atomic_load(&c.stopped[i]));
        cr_assert_eq(c.userdata_seen[i], &c);
        cr_assert(atomic_load(&c.index_ok[i]),
                  "plait_worker_index() differs in on_thread_start(%d)", i);
        char want[32];
        snprintf(want, sizeof want, "tst-%d", i);
        cr_assert_str_eq(c.names[i], want);
    }
}

Test(pool, workers_are_named_plait_by_default_and_long_names_are_cut, .timeout = TL_TIMEOUT)
{
    struct callbacks c;
    callbacks_init(&c);
    plait_pool_options o = {.threads = 2, .on_thread_start = on_start, .userdata = &c};
    plait_pool *pool = NULL;
    TL_ASSERT_CODE(plait_pool_create(&pool, &o), 0);
    for (int i = 0; i < 2; i++)
        TL_AWAIT(atomic_load(&c.started[i]) == 1);
    cr_assert_eq(plait_pool_destroy(pool), 0);
    cr_assert_str_eq(c.names[0], "plait-0");
    cr_assert_str_eq(c.names[1], "plait-1");

    callbacks_init(&c);
    o.name = "averyveryverylongpoolname";
    TL_ASSERT_CODE(plait_pool_create(&pool, &o), 0);
    for (int i = 0; i < 2; i++)
        TL_AWAIT(atomic_load(&c.started[i]) == 1);
    cr_assert_eq(plait_pool_destroy(pool), 0);
    for (int i = 0; i < 2; i++) {
        cr_assert_leq(strlen(c.names[i]), 15u);
        cr_assert_eq(strncmp(c.names[i], "averyv", 6), 0, "name \"%s\" lost the prefix",
                     c.names[i]);
    }
    cr_assert_str_neq(c.names[0], c.names[1], "the workers' names must differ");
}

static int worker_index_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    _Atomic uint32_t *seen = arg;
    int w = plait_worker_index();
    if (w < 0 || w >= 32)
        return EDOM;
    atomic_fetch_or(seen, 1u << w);
    /* Hold the worker a moment so that others take the next tasks. */
    for (int i = 0; i < 100; i++)
        sched_yield();
    return 0;
}

Test(pool, worker_indices_are_in_range, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    cr_assert_eq(plait_worker_index(), -1);
    _Atomic uint32_t seen = 0;
    plait_group *g = tl_group(pool, 0);
    for (int i = 0; i < 400; i++)
        cr_assert_eq(plait_go(g, worker_index_task, &seen), 0);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
    cr_assert_eq(atomic_load(&seen) & ~0xfu, 0u);
    cr_assert_neq(atomic_load(&seen), 0u);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- Statistics ---------------------------------------------------------------- */

static int spawn_two_then_succeed(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    plait_group *g = arg;
    int r = plait_go(g, tl_noop_task, NULL);
    if (r == 0)
        r = plait_go(g, tl_return_task, TL_CODE(EIO));
    return r;
}

Test(pool, stats_add_up_to_the_tasks_spawned, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_stats s0;
    cr_assert_eq(plait_pool_stats(pool, &s0), 0);
    cr_assert_eq(s0.tasks_succeeded + s0.tasks_failed + s0.tasks_cancelled, 0u);

    uint64_t ok = 0, failed = 0, cancelled = 0;
    /* Lone tasks: 10 ok, 5 failed, 3 returning ECANCELED. */
    for (int i = 0; i < 18; i++) {
        int code = i < 10 ? 0 : i < 15 ? EIO : ECANCELED;
        plait_task *t = plait_submit(pool, tl_return_task, TL_CODE(code));
        cr_assert_not_null(t);
        TL_ASSERT_CODE(plait_task_wait(t), code);
        plait_task_release(t);
    }
    ok += 10, failed += 5, cancelled += 3;

    /* A COLLECT_ALL group whose tasks spawn more: 20 parents (ok), each
     * spawning one ok and one failing child. */
    plait_group *g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(plait_go(g, spawn_two_then_succeed, g), 0);
    TL_ASSERT_CODE(plait_group_wait(g), EIO);
    plait_group_destroy(g);
    ok += 40, failed += 20;

    /* A cancelled group: a spawn into it is a cancelled task. */
    g = tl_group(pool, 0);
    plait_group_cancel(g);
    plait_task *t = plait_spawn(g, tl_noop_task, NULL);
    cr_assert_not_null(t);
    plait_task_release(t);
    TL_ASSERT_CODE(plait_group_wait(g), ECANCELED);
    plait_group_destroy(g);
    cancelled += 1;

    plait_stats s;
    cr_assert_eq(plait_pool_stats(pool, &s), 0);
    cr_assert_eq(s.tasks_succeeded, ok, "succeeded %" PRIu64 ", want %" PRIu64, s.tasks_succeeded,
                 ok);
    cr_assert_eq(s.tasks_failed, failed, "failed %" PRIu64 ", want %" PRIu64, s.tasks_failed,
                 failed);
    cr_assert_eq(s.tasks_cancelled, cancelled, "cancelled %" PRIu64 ", want %" PRIu64,
                 s.tasks_cancelled, cancelled);
    cr_assert_geq(s.injected, 18u + 20u, "foreign submissions are injected");
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- Destroy ------------------------------------------------------------------- */

Test(pool, foreign_submit_after_destroy_began_is_eshutdown, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_task *busy = plait_submit(pool, tl_gate_task, &gate);
    cr_assert_not_null(busy);
    plait_task_release(busy);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    struct tl_destroyer d;
    tl_destroy_in_thread(&d, pool);
    TL_AWAIT(tl_submit_refused(pool));
    plait_group *g = NULL;
    TL_ASSERT_CODE(plait_group_create(&g, pool, 0), ESHUTDOWN);
    cr_assert_not(tl_raised(&d.done), "destroy returned while a task was running");
    tl_raise(&gate.open);
    TL_ASSERT_CODE(tl_destroyer_join(&d), 0);
}

static int destroy_own_pool(plait_ctx *ctx, void *arg)
{
    atomic_int *r = arg;
    atomic_store(r, plait_pool_destroy(plait_ctx_pool(ctx)));
    return 0;
}

Test(pool, destroy_from_a_worker_is_edeadlk, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    atomic_int r = -1;
    plait_task *t = plait_submit(pool, destroy_own_pool, &r);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    TL_ASSERT_CODE(atomic_load(&r), EDEADLK);
    /* The pool is intact. */
    atomic_int n = 0;
    t = plait_submit(pool, tl_count_task, &n);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    cr_assert_eq(atomic_load(&n), 1);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

struct spawner {
    atomic_int parents;
    atomic_int children;
    atomic_int grandchildren;
    atomic_int errors;
};

static int child_spawning_in_a_group(plait_ctx *ctx, void *arg)
{
    struct spawner *s = arg;
    atomic_fetch_add(&s->children, 1);
    /* During destroy, a task may still create groups and spawn. */
    plait_group *g;
    int r = plait_group_create(&g, plait_ctx_pool(ctx), 0);
    if (r == 0) {
        for (int i = 0; i < 3 && r == 0; i++)
            r = plait_go(g, tl_count_task, &s->grandchildren);
        int w = plait_group_wait(g);
        plait_group_destroy(g);
        if (r == 0)
            r = w;
    }
    if (r != 0)
        atomic_fetch_add(&s->errors, 1);
    return r;
}

static int parent_submitting(plait_ctx *ctx, void *arg)
{
    struct spawner *s = arg;
    atomic_fetch_add(&s->parents, 1);
    plait_task *t = plait_submit(plait_ctx_pool(ctx), child_spawning_in_a_group, s);
    if (t == NULL) {
        atomic_fetch_add(&s->errors, 1);
        return errno;
    }
    plait_task_release(t); /* not waited: it runs on after we return */
    return 0;
}

Test(pool, destroy_runs_queued_work_to_completion_and_it_may_still_spawn, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct tl_gate gate;
    tl_gate_init(&gate);
    plait_task *busy = plait_submit(pool, tl_gate_task, &gate);
    cr_assert_not_null(busy);
    plait_task_release(busy);
    TL_AWAIT(atomic_load(&gate.started) == 1);
    /* Queued behind the busy worker. */
    struct spawner s;
    atomic_init(&s.parents, 0);
    atomic_init(&s.children, 0);
    atomic_init(&s.grandchildren, 0);
    atomic_init(&s.errors, 0);
    enum { PARENTS = 10 };
    for (int i = 0; i < PARENTS; i++) {
        plait_task *t = plait_submit(pool, parent_submitting, &s);
        cr_assert_not_null(t);
        plait_task_release(t);
    }
    struct tl_destroyer d;
    tl_destroy_in_thread(&d, pool);
    TL_AWAIT(tl_submit_refused(pool));
    cr_assert_eq(atomic_load(&s.parents), 0, "queued tasks ran while the worker was busy");
    tl_raise(&gate.open);
    TL_ASSERT_CODE(tl_destroyer_join(&d), 0);
    cr_assert_eq(atomic_load(&s.parents), PARENTS);
    cr_assert_eq(atomic_load(&s.children), PARENTS, "tasks spawned during destroy did not run");
    cr_assert_eq(atomic_load(&s.grandchildren), 3 * PARENTS);
    cr_assert_eq(atomic_load(&s.errors), 0);
}

Test(pool, destroy_of_an_idle_pool_is_prompt, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(4);
    tl_sleep_ms(20); /* let the workers park */
    uint64_t t0 = tl_now_ns();
    cr_assert_eq(plait_pool_destroy(pool), 0);
    cr_assert_lt(tl_since_s(t0), 2.0);
}
