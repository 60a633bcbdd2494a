/*
 * test_task_names — plait_spawn_options.name: the trace names a task's
 * event after it, the dump shows it on the running task's line, and a
 * named task that fails without a message gets "<name>: <meaning>" as
 * its error's message. Names are interned by content.
 */
#include "testlib.h"

static int spawn_named(plait_group *g, plait_fn fn, void *arg, const char *name,
                       plait_task **handle)
{
    plait_spawn_options o = {.name = name};
    return plait_spawn_with(g, fn, arg, &o, handle);
}

/* Named tasks' events carry their names; an unnamed task's event keeps
 * its group's name, which named events still show in args. */
Test(task_names, in_the_trace, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    char path[96];
    snprintf(path, sizeof path, "/tmp/plait-task-names-%d.json", (int)getpid());
    TL_ASSERT_CODE(plait_pool_trace_start(pool, path), 0);
    plait_group *g = tl_group(pool, 0);
    TL_ASSERT_CODE(plait_group_set_name(g, "batch"), 0);
    atomic_int c = 0;
    for (int i = 0; i < 5; i++)
        TL_ASSERT_CODE(spawn_named(g, tl_count_task, &c, "hash \"md5\"", NULL), 0);
    for (int i = 0; i < 3; i++)
        TL_ASSERT_CODE(spawn_named(g, tl_count_task, &c, "compress", NULL), 0);
    for (int i = 0; i < 2; i++)
        TL_ASSERT_CODE(plait_go(g, tl_count_task, &c), 0);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
    TL_ASSERT_CODE(plait_pool_trace_stop(pool), 0);
    plait_pool_destroy(pool);
    cr_assert_eq(atomic_load(&c), 10);

    char *s = tl_slurp(path);
    cr_assert_not_null(s);
    /* The name is escaped as JSON. */
    cr_expect_eq(tl_count(s, "{\"name\":\"hash \\\"md5\\\"\",\"cat\":\"task\""), 5, "%s", s);
    cr_expect_eq(tl_count(s, "{\"name\":\"compress\",\"cat\":\"task\""), 3, "%s", s);
    cr_expect_eq(tl_count(s, "{\"name\":\"batch\",\"cat\":\"task\""), 2, "%s", s);
    cr_expect_eq(tl_count(s, "\"group\":\"batch\""), 10, "%s", s);
    free(s);
    unlink(path);
}

Test(task_names, in_the_dump, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, 0);
    struct tl_gate gate;
    tl_gate_init(&gate);
    TL_ASSERT_CODE(spawn_named(g, tl_gate_task, &gate, "fetch", NULL), 0);
    TL_ASSERT_CODE(plait_go(g, tl_gate_task, &gate), 0);
    cr_assert(TL_SPIN_UNTIL(atomic_load(&gate.started) == 2, TL_WAIT_S));
    char *text = tl_dump_str(pool, 0);
    char *json = tl_dump_str(pool, PLAIT_DUMP_JSON);
    tl_raise(&gate.open);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
    plait_pool_destroy(pool);

    /* Where the dump sees running tasks (membarrier), one of the two is
     * named and the other is not. */
    if (strstr(text, "running on worker") != NULL) {
        cr_expect_eq(tl_count(text, "running on worker"), 2, "%s", text);
        cr_expect_eq(tl_count(text, "\"fetch\": running on worker"), 1, "%s", text);
        cr_expect_eq(tl_count(json, "\"name\":\"fetch\""), 1, "%s", json);
    } else {
        cr_log_warn("the dump shows no running tasks here (no membarrier): %s", text);
    }
    free(text);
    free(json);
}

static int fail_plain(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return EACCES;
}

static int fail_with_message(plait_ctx *ctx, void *arg)
{
    (void)arg;
    return plait_fail(ctx, EIO, "read %s", "/x");
}

Test(task_names, in_errors, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(2);
    plait_group *g = tl_group(pool, PLAIT_GROUP_COLLECT_ALL);
    plait_task *h = NULL;
    TL_ASSERT_CODE(spawn_named(g, fail_plain, NULL, "open", &h), 0);
    TL_ASSERT_CODE(spawn_named(g, fail_with_message, NULL, "read", NULL), 0);
    TL_ASSERT_CODE(plait_go(g, fail_plain, NULL), 0);
    plait_group_wait(g);
    const plait_error *errs = NULL;
    size_t n = plait_group_errors(g, &errs);
    cr_assert_eq(n, 3);
    int named = 0, given = 0, none = 0;
    char want[128];
    snprintf(want, sizeof want, "open: %s", plait_strerror(EACCES));
    for (size_t i = 0; i < n; i++) {
        if (errs[i].message == NULL)
            none++;
        else if (strcmp(errs[i].message, want) == 0)
            named++;
        else if (strcmp(errs[i].message, "read /x") == 0)
            given++; /* plait_fail's message is the user's, untouched */
        else
            cr_expect_fail("unexpected message: %s", errs[i].message);
    }
    cr_expect_eq(named, 1);
    cr_expect_eq(given, 1);
    cr_expect_eq(none, 1); /* an unnamed task's error keeps no message */
    /* The handle's own message is the task's: it gave none. */
    cr_expect_null(plait_task_message(h));
    plait_task_release(h);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}

/* The name is copied at the spawn (a buffer rewritten between spawns
 * names each task as it read then), truncated to PLAIT_NAME_MAX bytes;
 * "" is no name; unknown reserved words are still refused. */
Test(task_names, copied_truncated_and_checked, .timeout = TL_TIMEOUT)
{
    plait_pool *pool = tl_pool(1);
    char path[96];
    snprintf(path, sizeof path, "/tmp/plait-task-names-copy-%d.json", (int)getpid());
    TL_ASSERT_CODE(plait_pool_trace_start(pool, path), 0);
    plait_group *g = tl_group(pool, 0);
    char buf[16];
    for (int i = 0; i < 6; i++) {
        snprintf(buf, sizeof buf, "item-%d", i); /* more kinds than the per-thread cache */
        TL_ASSERT_CODE(spawn_named(g, tl_noop_task, NULL, buf, NULL), 0);
    }
    snprintf(buf, sizeof buf, "item-0");
    TL_ASSERT_CODE(spawn_named(g, tl_noop_task, NULL, buf, NULL), 0);
    char longname[PLAIT_NAME_MAX + 20];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    TL_ASSERT_CODE(spawn_named(g, tl_noop_task, NULL, longname, NULL), 0);
    TL_ASSERT_CODE(spawn_named(g, tl_noop_task, NULL, "", NULL), 0);

    plait_spawn_options bad = {.name = "x"};
    bad.reserved[0] = &bad;
    TL_EXPECT_CODE(plait_spawn_with(g, tl_noop_task, NULL, &bad, NULL), EINVAL);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
    TL_ASSERT_CODE(plait_pool_trace_stop(pool), 0);
    plait_pool_destroy(pool);

    char *s = tl_slurp(path);
    cr_assert_not_null(s);
    cr_expect_eq(tl_count(s, "{\"name\":\"item-0\",\"cat\":\"task\""), 2, "%s", s);
    for (int i = 1; i < 6; i++) {
        char want[64];
        snprintf(want, sizeof want, "{\"name\":\"item-%d\",\"cat\":\"task\"", i);
        cr_expect_eq(tl_count(s, want), 1, "%s: %s", want, s);
    }
    char want[PLAIT_NAME_MAX + 32];
    snprintf(want, sizeof want, "{\"name\":\"%.*s\",\"cat\":\"task\"", PLAIT_NAME_MAX, longname);
    cr_expect_eq(tl_count(s, want), 1, "%s", s);
    /* the unnamed one (""), in a group without a name: the function's
     * name or "task" */
    cr_expect_eq(tl_count(s, "\"cat\":\"task\""), 9, "%s", s);
    free(s);
    unlink(path);
}
