/*
 * test_trace — the trace's API and group names. The file's format is
 * checked by test/trace/trace_check.py (CTest: trace_format, trace_dropped,
 * trace_demo); here: errors, sessions, $PLAIT_TRACE, the dropped count in
 * plait_stats, names.
 */
#include "testlib.h"

static void tmp_path(char *buf, size_t size, const char *tag)
{
    snprintf(buf, size, "/tmp/plait-trace-%d-%s.json", (int)getpid(), tag);
}

static void run_tasks(plait_pool *pool, int n)
{
    plait_group *g = tl_group(pool, 0);
    atomic_int c = 0;
    for (int i = 0; i < n; i++)
        TL_ASSERT_CODE(plait_go(g, tl_count_task, &c), 0);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
}

Test(trace, errors)
{
    plait_pool *pool = tl_pool(2);
    char path[96];
    tmp_path(path, sizeof path, "errors");
    TL_EXPECT_CODE(plait_pool_trace_start(NULL, path), EINVAL);
    TL_EXPECT_CODE(plait_pool_trace_start(pool, NULL), EINVAL);
    TL_EXPECT_CODE(plait_pool_trace_stop(NULL), EINVAL);
    TL_EXPECT_CODE(plait_pool_trace_stop(pool), EINVAL); /* none on */
    TL_EXPECT_CODE(plait_pool_trace_start(pool, "/nonexistent-dir/x.json"), ENOENT);
    TL_ASSERT_CODE(plait_pool_trace_start(pool, path), 0);
    TL_EXPECT_CODE(plait_pool_trace_start(pool, path), EALREADY);
    TL_ASSERT_CODE(plait_pool_trace_stop(pool), 0);
    TL_EXPECT_CODE(plait_pool_trace_stop(pool), EINVAL);
    plait_pool_destroy(pool);
    unlink(path);
}

/* Two sessions in a row, the second stopped by destroy: each file holds
 * its own session's tasks. */
Test(trace, sessions)
{
    plait_pool *pool = tl_pool(2);
    char p1[96], p2[96];
    tmp_path(p1, sizeof p1, "s1");
    tmp_path(p2, sizeof p2, "s2");
    run_tasks(pool, 10); /* before any session: not recorded */
    TL_ASSERT_CODE(plait_pool_trace_start(pool, p1), 0);
    run_tasks(pool, 30);
    TL_ASSERT_CODE(plait_pool_trace_stop(pool), 0);
    run_tasks(pool, 10); /* between sessions */
    TL_ASSERT_CODE(plait_pool_trace_start(pool, p2), 0);
    run_tasks(pool, 50);
    plait_pool_destroy(pool);
    char *s1 = tl_slurp(p1), *s2 = tl_slurp(p2);
    cr_assert(s1 != NULL && s2 != NULL);
    cr_expect_eq(tl_count(s1, "\"cat\":\"task\""), 30, "%s", s1);
    cr_expect_eq(tl_count(s2, "\"cat\":\"task\""), 50, "%s", s2);
    cr_expect_eq(tl_count(s1, "\"dropped_events\":0"), 1);
    cr_expect_eq(tl_count(s1, "\"name\":\"thread_name\""), 3, "two workers and the foreign thread");
    free(s1);
    free(s2);
    unlink(p1);
    unlink(p2);
}

Test(trace, from_the_environment)
{
    char path[96];
    tmp_path(path, sizeof path, "env");
    unlink(path);
    setenv("PLAIT_TRACE", path, 1);
    plait_pool *pool = tl_pool(2);
    unsetenv("PLAIT_TRACE");
    plait_group *g = tl_group(pool, 0);
    plait_group_set_name(g, "from-env");
    atomic_int c = 0;
    for (int i = 0; i < 20; i++)
        TL_ASSERT_CODE(plait_go(g, tl_count_task, &c), 0);
    TL_ASSERT_CODE(plait_group_wait(g), 0);
    plait_group_destroy(g);
    plait_pool_destroy(pool);
    char *s = tl_slurp(path);
    cr_assert_not_null(s, "PLAIT_TRACE wrote no %s", path);
    cr_expect_eq(strncmp(s, "{\"displayTimeUnit\"", 18), 0);
    cr_expect_eq(tl_count(s, "{\"name\":\"from-env\",\"cat\":\"task\""), 20, "%s", s);
    cr_expect_eq(tl_count(s, "\"cat\":\"group\",\"ph\":\"b\""), 1, "%s", s);
    cr_expect_eq(tl_count(s, "\"name\":\"spawn\""), 20, "foreign spawns: %s", s);
    free(s);
    unlink(path);
}

/* A buffer of 16 events per worker, 200 task events on one worker: the
 * stats count exactly the 185 lost (200 tasks and the group, less 16). */
struct drop_arg {
    plait_pool *pool;
    const char *path;
};

static int traced_root(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    struct drop_arg *d = arg;
    int rc = plait_pool_trace_start(d->pool, d->path);
    if (rc)
        return rc;
    plait_group *g;
    if ((rc = plait_group_create(&g, d->pool, 0)))
        return rc;
    atomic_int c = 0;
    for (int i = 0; i < 200 && rc == 0; i++)
        rc = plait_go(g, tl_count_task, &c);
    int rw = plait_group_wait(g);
    plait_group_destroy(g);
    int rs = plait_pool_trace_stop(d->pool);
    return rc ? rc : rw ? rw : rs;
}

Test(trace, dropped_counted_exactly)
{
    char path[96];
    tmp_path(path, sizeof path, "drop");
    setenv("PLAIT_TRACE_EVENTS", "16", 1);
    plait_pool *pool = tl_pool(1);
    plait_stats st;
    plait_pool_stats(pool, &st);
    cr_expect_eq(st.trace_dropped, 0);
    struct drop_arg d = {pool, path};
    plait_task *t = plait_submit(pool, traced_root, &d);
    cr_assert_not_null(t);
    TL_ASSERT_CODE(plait_task_wait(t), 0);
    plait_task_release(t);
    plait_pool_stats(pool, &st);
    cr_expect_eq(st.trace_dropped, 185, "dropped %llu", (unsigned long long)st.trace_dropped);
    plait_pool_destroy(pool);
    unsetenv("PLAIT_TRACE_EVENTS");
    char *s = tl_slurp(path);
    cr_assert_not_null(s);
    cr_expect_eq(tl_count(s, "\"dropped_events\":185,"), 1, "%s", s);
    cr_expect_eq(tl_count(s, "\"cat\":\"task\""), 16, "%s", s);
    free(s);
    unlink(path);
}

Test(names, set_get_copy_truncate)
{
    plait_pool *pool = tl_pool(1);
    plait_group *g = tl_group(pool, 0), *h = tl_group(pool, 0);
    cr_expect_null(plait_group_name(g));
    cr_expect_null(plait_group_name(NULL));
    TL_EXPECT_CODE(plait_group_set_name(NULL, "x"), EINVAL);
    char buf[16] = "parse";
    TL_ASSERT_CODE(plait_group_set_name(g, buf), 0);
    strcpy(buf, "changed");
    cr_expect_str_eq(plait_group_name(g), "parse", "the name is a copy");
    TL_ASSERT_CODE(plait_group_set_name(h, "parse"), 0);
    cr_expect_eq(plait_group_name(g), plait_group_name(h), "equal names are interned once");
    char longname[200];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    TL_ASSERT_CODE(plait_group_set_name(g, longname), 0);
    cr_expect_eq(strlen(plait_group_name(g)), PLAIT_NAME_MAX);
    TL_ASSERT_CODE(plait_group_set_name(g, NULL), 0);
    cr_expect_null(plait_group_name(g));
    TL_ASSERT_CODE(plait_group_set_name(h, ""), 0);
    cr_expect_null(plait_group_name(h));
    plait_group_destroy(g);
    plait_group_destroy(h);
    /* A recycled group record starts without a name. */
    g = tl_group(pool, 0);
    cr_expect_null(plait_group_name(g));
    plait_group_destroy(g);
    plait_pool_destroy(pool);
}
