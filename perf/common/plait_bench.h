/* plait_bench.h — small helpers shared by the plait variants. */
#ifndef PLAIT_PERF_PLAIT_BENCH_H
#define PLAIT_PERF_PLAIT_BENCH_H

#include "bench.h"

#include <plait.h>

#include <stdio.h>
#include <stdlib.h>

/* A pool of cfg->threads workers; exits with a FAIL line if it cannot start. */
static inline plait_pool *pb_pool(const bench_cfg *cfg, const char *bench)
{
    plait_pool_options o = {0};
    plait_pool *pool = NULL;
    o.threads = cfg->threads;
    o.name = "bench";
    int rc = plait_pool_create(&pool, &o);
    if (rc)
        bench_fail(bench, "plait", cfg->threads, "plait_pool_create: %s", plait_strerror(rc));
    return pool;
}

/* Runs fn(ctx, arg) as a root task submitted from this (foreign) thread and
 * waits for it; a non-zero status is a FAIL. */
static inline void pb_root(plait_pool *pool, plait_fn fn, void *arg, const char *bench,
                           const char *runtime, unsigned threads)
{
    plait_task *t = plait_submit(pool, fn, arg);
    if (!t)
        bench_fail(bench, runtime, threads, "plait_submit failed (errno)");
    int rc = plait_task_wait(t);
    plait_task_release(t);
    if (rc)
        bench_fail(bench, runtime, threads, "root task returned %d (%s)", rc, plait_strerror(rc));
}

#endif
