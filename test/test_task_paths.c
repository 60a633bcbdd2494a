/*
 * test_task_paths — a task record reused after any kind of task starts
 * clean (src/task.c: the record invariant, task_init), and the common
 * paths of plait_go and task_run do what the general ones do.
 *
 * Task records are reused from the worker's cache, newest first: on a
 * one-worker pool, a task spawned from a task right after another task's
 * record was given back gets that record. Each scenario checks that it
 * did (the same handle or context address), so that it tests what it
 * means to. The scenarios run in a root task on the worker and report
 * the first failed check's line (CHECK); the test thread asserts on it.
 */
#include "testlib.h"

struct paths {
    int bad; /* the line of the first failed check, 0: none */
    int marker;
    _Atomic(plait_ctx *) last_ctx; /* the context of the last body that ran */
    atomic_int runs;
    atomic_int saw_cancelled;
    atomic_int drops[8];
};

#define CHECK(s, cond)                                                                             \
    do {                                                                                           \
        if (!(cond) && (s)->bad == 0)                                                              \
            (s)->bad = __LINE__;                                                                   \
    } while (0)

static void paths_init(struct paths *s)
{
    memset(s, 0, sizeof *s);
    atomic_init(&s->last_ctx, NULL);
    atomic_init(&s->runs, 0);
    atomic_init(&s->saw_cancelled, 0);
    for (int i = 0; i < 8; i++)
        atomic_init(&s->drops[i], 0);
}

/* Notes the context and whether it reads cancelled; returns 0. */
static int note_body(plait_ctx *ctx, void *arg)
{
    struct paths *s = arg;
    atomic_store(&s->last_ctx, ctx);
    atomic_fetch_add(&s->runs, 1);
    if (plait_cancelled(ctx))
        atomic_fetch_add(&s->saw_cancelled, 1);
    return 0;
}

/* Leaves everything a task can leave in its record, and succeeds. */
static int dirty_body(plait_ctx *ctx, void *arg)
{
    struct paths *s = arg;
    note_body(ctx, arg);
    plait_set_result(ctx, &s->marker);
    /* A message and an item, and then success anyway: nothing of it may
     * reach the record's next task. */
    (void)plait_fail_item(ctx, 7, EIO, "stale message");
    return 0;
}

static int fail_body(plait_ctx *ctx, void *arg)
{
    note_body(ctx, arg);
    return EIO;
}

static int fail_item_body(plait_ctx *ctx, void *arg)
{
    note_body(ctx, arg);
    return plait_fail_item(ctx, 9, EIO, NULL);
}

static plait_ctx *last_ctx(struct paths *s)
{
    return atomic_load(&s->last_ctx);
}

/* ---- A handle's fields after reuse ------------------------------------- */

static int handles_root(plait_ctx *ctx, void *arg)
{
    struct paths *s = arg;
    plait_pool *pool = plait_ctx_pool(ctx);
    plait_group *g;
    int r = plait_group_create(&g, pool, PLAIT_GROUP_COLLECT_ALL);
    if (r != 0)
        return r;

    /* A task with a result, a message and an id, given back. */
    plait_task *a = plait_spawn(g, dirty_body, s);
    CHECK(s, a != NULL);
    uint64_t id_a = plait_task_id(a);
    CHECK(s, plait_task_wait(a) == 0);
    CHECK(s, plait_task_result(a) == &s->marker);
    CHECK(s, plait_task_message(a) != NULL && strcmp(plait_task_message(a), "stale message") == 0);
    plait_ctx *ctx_a = last_ctx(s);
    plait_task_release(a);

    /* Its record again: nothing of the last task's. */
    plait_task *b = plait_spawn(g, note_body, s);
    CHECK(s, b == a);
    CHECK(s, plait_task_wait(b) == 0);
    CHECK(s, last_ctx(s) == ctx_a);
    CHECK(s, plait_task_result(b) == NULL);
    CHECK(s, plait_task_message(b) == NULL);
    uint64_t id_b = plait_task_id(b);
    CHECK(s, id_b != 0 && id_b != id_a);
    CHECK(s, plait_task_status(b) == 0);
    CHECK(s, atomic_load(&s->saw_cancelled) == 0);
    plait_task_release(b);

    /* Cancelled before it starts (one worker: it waits in our deque). */
    int runs = atomic_load(&s->runs);
    plait_task *c = plait_spawn(g, note_body, s);
    CHECK(s, c == a);
    CHECK(s, plait_task_cancel(c) == 0);
    CHECK(s, plait_task_wait(c) == ECANCELED);
    CHECK(s, atomic_load(&s->runs) == runs);
    plait_task_release(c);

    /* The cancelled record runs its next task, uncancelled, with a handle
     * (and a cancel after the task is over, which must not hang it)... */
    plait_task *d = plait_spawn(g, note_body, s);
    CHECK(s, d == a);
    CHECK(s, plait_task_wait(d) == 0);
    CHECK(s, plait_task_cancel(d) == 0);
    CHECK(s, plait_task_status(d) == 0);
    CHECK(s, plait_task_result(d) == NULL);
    plait_task_release(d);
    /* ... and without one (the common path). */
    CHECK(s, plait_go(g, note_body, s) == 0);
    CHECK(s, plait_group_wait(g) == 0);
    CHECK(s, last_ctx(s) == ctx_a);
    CHECK(s, atomic_load(&s->saw_cancelled) == 0);
    CHECK(s, atomic_load(&s->runs) == runs + 2);
    plait_group_destroy(g);

    /* A lone task (plait_submit) in a group task's record, and a group
     * task in the lone task's: each waits and runs as its own kind. */
    if ((r = plait_group_create(&g, pool, 0)) != 0)
        return r;
    CHECK(s, plait_go(g, note_body, s) == 0);
    CHECK(s, plait_group_wait(g) == 0);
    plait_group_destroy(g);
    plait_task *lone = plait_submit(pool, dirty_body, s);
    CHECK(s, lone == a);
    CHECK(s, plait_task_wait(lone) == 0);
    CHECK(s, plait_task_result(lone) == &s->marker);
    plait_task_release(lone);
    if ((r = plait_group_create(&g, pool, 0)) != 0)
        return r;
    plait_task *e = plait_spawn(g, note_body, s);
    CHECK(s, e == a);
    CHECK(s, plait_task_wait(e) == 0);
    CHECK(s, plait_task_result(e) == NULL && plait_task_message(e) == NULL);
    plait_task_release(e);
    CHECK(s, plait_group_wait(g) == 0);
    plait_group_destroy(g);
    return 0;
}

/* Runs root on a one-worker pool, whose checks land in a struct paths:
 * none may have failed. */
static void run_root(plait_fn root_fn)
{
    plait_pool *pool = tl_pool(1);
    struct paths s;
    paths_init(&s);
    plait_task *root = plait_submit(pool, root_fn, &s);
    cr_assert_not_null(root);
    TL_ASSERT_CODE(plait_task_wait(root), 0);
    plait_task_release(root);
    cr_assert_eq(s.bad, 0, "check at line %d failed", s.bad);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

Test(task_paths, a_handle_on_a_reused_record_starts_clean, .timeout = TL_TIMEOUT)
{
    run_root(handles_root);
}

/* Records that come from the foreign thread's cache (a spawn and a
 * release outside the pool), not the worker's: the same. The handle's
 * release frees the record only when the worker has dropped its own
 * reference already (else the worker's cache gets it): try until it did. */
Test(task_paths, a_record_from_the_foreign_cache_starts_clean, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct paths s;
    paths_init(&s);
    plait_group *g = tl_group(pool, 0);
    int reused = 0;
    uint64_t start = tl_now_ns();
    while (reused < 10 && tl_since_s(start) < TL_WAIT_S) {
        plait_task *a = plait_spawn(g, dirty_body, &s);
        cr_assert_not_null(a);
        uint64_t id_a = plait_task_id(a);
        TL_ASSERT_CODE(plait_task_wait(a), 0);
        cr_assert_eq(plait_task_result(a), &s.marker);
        plait_task_release(a);
        plait_task *b = plait_spawn(g, note_body, &s);
        cr_assert_not_null(b);
        reused += b == a;
        TL_ASSERT_CODE(plait_task_wait(b), 0);
        cr_assert_null(plait_task_result(b));
        cr_assert_null(plait_task_message(b));
        cr_assert_neq(plait_task_id(b), id_a);
        plait_task_release(b);
    }
    cr_assert_eq(reused, 10, "records were not reused: the test tests nothing");
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- Errors after reuse: no stale name, message or item --------------- */

static int errors_root(plait_ctx *ctx, void *arg)
{
    struct paths *s = arg;
    plait_pool *pool = plait_ctx_pool(ctx);
    const plait_error *errs;
    plait_group *g;
    int r;

    /* A named task that fails without a message: "<name>: ...". */
    if ((r = plait_group_create(&g, pool, PLAIT_GROUP_COLLECT_ALL)) != 0)
        return r;
    plait_spawn_options o = {.name = "stale-name"};
    CHECK(s, plait_spawn_with(g, fail_body, s, &o, NULL) == 0);
    CHECK(s, plait_group_wait(g) == EIO);
    CHECK(s, plait_group_errors(g, &errs) == 1);
    CHECK(s, errs[0].message != NULL && strstr(errs[0].message, "stale-name") != NULL);
    uint64_t id_named = errs[0].task_id;
    plait_ctx *ctx_named = last_ctx(s);
    plait_group_destroy(g);

    /* Its record, unnamed: no message. */
    if ((r = plait_group_create(&g, pool, PLAIT_GROUP_COLLECT_ALL)) != 0)
        return r;
    CHECK(s, plait_go(g, fail_body, s) == 0);
    CHECK(s, plait_group_wait(g) == EIO);
    CHECK(s, last_ctx(s) == ctx_named);
    CHECK(s, plait_group_errors(g, &errs) == 1);
    CHECK(s, errs[0].message == NULL);
    CHECK(s, errs[0].item == PLAIT_NO_ITEM);
    CHECK(s, errs[0].task_id != 0 && errs[0].task_id != id_named);
    plait_group_destroy(g);

    /* A task that left a message and an item, then succeeded; then a
     * task on its record that fails bare, and one that names its item. */
    if ((r = plait_group_create(&g, pool, PLAIT_GROUP_COLLECT_ALL)) != 0)
        return r;
    CHECK(s, plait_go(g, dirty_body, s) == 0);
    CHECK(s, plait_group_wait(g) == 0);
    CHECK(s, plait_group_errors(g, &errs) == 0);
    plait_ctx *ctx_dirty = last_ctx(s);
    plait_group_destroy(g);
    if ((r = plait_group_create(&g, pool, PLAIT_GROUP_COLLECT_ALL)) != 0)
        return r;
    CHECK(s, plait_go(g, fail_body, s) == 0);
    CHECK(s, plait_group_wait(g) == EIO);
    CHECK(s, last_ctx(s) == ctx_dirty);
    CHECK(s, plait_group_errors(g, &errs) == 1);
    CHECK(s, errs[0].message == NULL);
    CHECK(s, errs[0].item == PLAIT_NO_ITEM);
    plait_group_destroy(g);
    if ((r = plait_group_create(&g, pool, PLAIT_GROUP_COLLECT_ALL)) != 0)
        return r;
    CHECK(s, plait_go(g, fail_item_body, s) == 0);
    CHECK(s, plait_group_wait(g) == EIO);
    CHECK(s, plait_group_errors(g, &errs) == 1);
    CHECK(s, errs[0].item == 9 && errs[0].message == NULL);
    plait_group_destroy(g);
    return 0;
}

Test(task_paths, a_reused_record_has_no_stale_name_message_or_item, .timeout = TL_TIMEOUT)
{
    run_root(errors_root);
}

/* ---- Drops: once on every path, never for the record's next task ------ */

struct drop_arg {
    struct paths *s;
    int slot;
};

static void drop_fn(void *arg)
{
    struct drop_arg *d = arg;
    atomic_fetch_add(&d->s->drops[d->slot], 1);
}

static int drop_ok_body(plait_ctx *ctx, void *arg)
{
    struct drop_arg *d = arg;
    note_body(ctx, d->s);
    return 0;
}

static int drop_fail_body(plait_ctx *ctx, void *arg)
{
    struct drop_arg *d = arg;
    note_body(ctx, d->s);
    return EIO;
}

static int drops_root(plait_ctx *ctx, void *arg)
{
    struct paths *s = arg;
    plait_pool *pool = plait_ctx_pool(ctx);
    struct drop_arg d[8];
    for (int i = 0; i < 8; i++)
        d[i] = (struct drop_arg){s, i};
    plait_spawn_options o = {.drop = drop_fn};
    plait_group *g;
    plait_task *h;
    int r;

    /* 0: runs and succeeds; 1: runs and fails (the drop comes before the
     * wait returns: before the task counts as finished). */
    if ((r = plait_group_create(&g, pool, PLAIT_GROUP_COLLECT_ALL)) != 0)
        return r;
    CHECK(s, plait_spawn_with(g, drop_ok_body, &d[0], &o, NULL) == 0);
    CHECK(s, plait_spawn_with(g, drop_fail_body, &d[1], &o, NULL) == 0);
    CHECK(s, plait_group_wait(g) == EIO);
    CHECK(s, atomic_load(&s->drops[0]) == 1 && atomic_load(&s->drops[1]) == 1);
    plait_group_destroy(g);

    /* 2: with a handle, runs. 3: cancelled while queued (one worker: it
     * waits in our deque), never runs. */
    if ((r = plait_group_create(&g, pool, 0)) != 0)
        return r;
    h = NULL;
    CHECK(s, plait_spawn_with(g, drop_ok_body, &d[2], &o, &h) == 0 && h != NULL);
    CHECK(s, plait_task_wait(h) == 0);
    CHECK(s, atomic_load(&s->drops[2]) == 1);
    plait_task_release(h);
    int runs = atomic_load(&s->runs);
    CHECK(s, plait_spawn_with(g, drop_ok_body, &d[3], &o, NULL) == 0);
    CHECK(s, plait_group_cancel(g) == 0);
    CHECK(s, plait_group_wait(g) == ECANCELED);
    CHECK(s, atomic_load(&s->runs) == runs);
    CHECK(s, atomic_load(&s->drops[3]) == 1);

    /* 4: into the cancelled group, no handle: refused, dropped. 5: with a
     * handle: a task already over, dropped. (The group is waited: make
     * a fresh cancelled one.) */
    plait_group_destroy(g);
    if ((r = plait_group_create(&g, pool, 0)) != 0)
        return r;
    CHECK(s, plait_group_cancel(g) == 0);
    CHECK(s, plait_spawn_with(g, drop_ok_body, &d[4], &o, NULL) == ECANCELED);
    CHECK(s, atomic_load(&s->drops[4]) == 1);
    h = NULL;
    CHECK(s, plait_spawn_with(g, drop_ok_body, &d[5], &o, &h) == 0 && h != NULL);
    CHECK(s, plait_task_wait(h) == ECANCELED);
    CHECK(s, atomic_load(&s->drops[5]) == 1);
    plait_task_release(h);
    CHECK(s, plait_group_wait(g) == ECANCELED);
    plait_group_destroy(g);

    /* The records of all those, reused by tasks without a drop (the last
     * freed first): none calls a drop again. Eight, to go past the ones
     * the tasks above gave back. */
    if ((r = plait_group_create(&g, pool, 0)) != 0)
        return r;
    runs = atomic_load(&s->runs);
    for (int i = 0; i < 8; i++)
        CHECK(s, plait_go(g, note_body, s) == 0);
    CHECK(s, plait_group_wait(g) == 0);
    CHECK(s, atomic_load(&s->runs) == runs + 8);
    plait_group_destroy(g);
    for (int i = 0; i < 6; i++)
        CHECK(s, atomic_load(&s->drops[i]) == 1);
    return 0;
}

Test(task_paths, drops_once_on_every_path_and_never_after_reuse, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct paths s;
    paths_init(&s);
    plait_task *root = plait_submit(pool, drops_root, &s);
    cr_assert_not_null(root);
    TL_ASSERT_CODE(plait_task_wait(root), 0);
    plait_task_release(root);
    cr_assert_eq(s.bad, 0, "check at line %d failed", s.bad);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(atomic_load(&s.drops[i]), 1, "drop %d called %d times", i,
                     atomic_load(&s.drops[i]));
    cr_assert_eq(plait_pool_destroy(pool), 0);
}

/* ---- Counts: the common path's are the general path's ------------------ */

static int counts_root(plait_ctx *ctx, void *arg)
{
    struct paths *s = arg;
    plait_pool *pool = plait_ctx_pool(ctx);
    plait_group *g;
    int r;
    if ((r = plait_group_create(&g, pool, PLAIT_GROUP_COLLECT_ALL)) != 0)
        return r;
    for (int i = 0; i < 5; i++)
        CHECK(s, plait_go(g, note_body, s) == 0);
    for (int i = 0; i < 3; i++)
        CHECK(s, plait_go(g, fail_body, s) == 0);
    CHECK(s, plait_group_wait(g) == EIO);
    plait_group_info info;
    CHECK(s, plait_group_get_info(g, &info) == 0);
    CHECK(s, info.spawned == 8 && info.succeeded == 5 && info.failed == 3 && info.pending == 0);
    plait_group_destroy(g);
    /* Cancelled while queued. */
    if ((r = plait_group_create(&g, pool, 0)) != 0)
        return r;
    for (int i = 0; i < 4; i++)
        CHECK(s, plait_go(g, note_body, s) == 0);
    CHECK(s, plait_group_cancel(g) == 0);
    CHECK(s, plait_group_wait(g) == ECANCELED);
    CHECK(s, plait_group_get_info(g, &info) == 0);
    CHECK(s,
          info.spawned == 4 && info.cancelled == 4 && info.never_run == 4 && info.succeeded == 0);
    plait_group_destroy(g);
    return 0;
}

Test(task_paths, the_common_path_counts_as_the_general_one, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    struct paths s;
    paths_init(&s);
    plait_task *root = plait_submit(pool, counts_root, &s);
    cr_assert_not_null(root);
    TL_ASSERT_CODE(plait_task_wait(root), 0);
    plait_task_release(root);
    cr_assert_eq(s.bad, 0, "check at line %d failed", s.bad);
    plait_stats st;
    cr_assert_eq(plait_pool_stats(pool, &st), 0);
    /* The root and 5; 3 failed; 4 cancelled. */
    cr_assert_eq(st.tasks_succeeded, 6);
    cr_assert_eq(st.tasks_failed, 3);
    cr_assert_eq(st.tasks_cancelled, 4);
    cr_assert_eq(plait_pool_destroy(pool), 0);
}
