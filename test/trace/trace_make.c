/*
 * trace_make — writes plait traces for test/trace_check.py and the viewer
 * test (test/trace/view.sh).
 *
 *   trace_make nested FILE    two workers, named groups nested three deep,
 *                             spawns from a foreign thread: task events
 *                             nested inside waits, group lifetimes
 *   trace_make dropped FILE   one worker, 64-event buffers, 1000 tasks and
 *                             one group traced from inside a root task:
 *                             exactly 64 events kept and 937 dropped
 *                             (also checked against plait_stats)
 */
#define _GNU_SOURCE
#include <plait.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *what, int rc)
{
    fprintf(stderr, "trace_make: %s: %s\n", what, plait_strerror(rc));
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void busy_us(unsigned us)
{
    uint64_t end = now_ns() + us * 1000u;
    while (now_ns() < end) {
    }
}

static plait_pool *pool;
static const char *level_names[] = {"level-0", "level-1", "level-2", "leaf"};

/* A tree: depth 0..2 make a named group of 4 children and wait for it. */
static int node(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    intptr_t depth = (intptr_t)arg;
    busy_us(20);
    if (depth >= 3)
        return 0;
    plait_group *g;
    int rc = plait_group_create(&g, pool, 0);
    if (rc)
        return rc;
    plait_group_set_name(g, level_names[depth + 1]);
    for (int i = 0; i < 4 && rc == 0; i++)
        rc = plait_go(g, node, (void *)(depth + 1));
    int rw = plait_group_wait(g);
    plait_group_destroy(g);
    return rc ? rc : rw;
}

static int nested(const char *path)
{
    plait_pool_options o = {.threads = 2, .name = "tt"};
    int rc = plait_pool_create(&pool, &o);
    if (rc)
        die("plait_pool_create", rc);
    if ((rc = plait_pool_trace_start(pool, path)))
        die("plait_pool_trace_start", rc);
    plait_group *g;
    if ((rc = plait_group_create(&g, pool, 0)))
        die("plait_group_create", rc);
    plait_group_set_name(g, "root");
    for (int i = 0; i < 4; i++) /* spawns from this (foreign) thread */
        if ((rc = plait_go(g, node, (void *)0)))
            die("plait_go", rc);
    if ((rc = plait_group_wait(g)))
        die("plait_group_wait", rc);
    plait_group_destroy(g);
    if ((rc = plait_pool_trace_stop(pool)))
        die("plait_pool_trace_stop", rc);
    plait_pool_destroy(pool);
    return 0;
}

#define DROP_TASKS 1000
#define DROP_BUFFER 64

static const char *drop_path;

static int noop(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

/* Everything traced happens on this worker, inside this task: 1000 task
 * events and one group lifetime, nothing else (no steals with one worker,
 * no parks while its own deque holds work). */
static int dropped_root(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    int rc = plait_pool_trace_start(pool, drop_path);
    if (rc)
        return rc;
    plait_group *g;
    if ((rc = plait_group_create(&g, pool, 0)))
        return rc;
    for (int i = 0; i < DROP_TASKS && rc == 0; i++)
        rc = plait_go(g, noop, NULL);
    int rw = plait_group_wait(g);
    plait_group_destroy(g);
    int rs = plait_pool_trace_stop(pool);
    return rc ? rc : rw ? rw : rs;
}

static int dropped(const char *path)
{
    char n[16];
    snprintf(n, sizeof n, "%d", DROP_BUFFER);
    setenv("PLAIT_TRACE_EVENTS", n, 1);
    drop_path = path;
    plait_pool_options o = {.threads = 1, .name = "drop"};
    int rc = plait_pool_create(&pool, &o);
    if (rc)
        die("plait_pool_create", rc);
    plait_task *t = plait_submit(pool, dropped_root, NULL);
    if (t == NULL)
        die("plait_submit", errno);
    if ((rc = plait_task_wait(t)))
        die("the traced root task", rc);
    plait_task_release(t);
    plait_stats s;
    plait_pool_stats(pool, &s);
    uint64_t want = DROP_TASKS + 1 - DROP_BUFFER;
    if (s.trace_dropped != want) {
        fprintf(stderr, "trace_make: plait_stats.trace_dropped %llu, want %llu\n",
                (unsigned long long)s.trace_dropped, (unsigned long long)want);
        return 1;
    }
    plait_pool_destroy(pool);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "nested") == 0)
        return nested(argv[2]);
    if (argc == 3 && strcmp(argv[1], "dropped") == 0)
        return dropped(argv[2]);
    fprintf(stderr, "usage: trace_make nested|dropped FILE\n");
    return 2;
}
