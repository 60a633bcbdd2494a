/* trace_plait.c — 1 us tasks, untraced then traced (trace.h). */
#include "../common/plait_bench.h"
#include "trace.h"

#include <unistd.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

static plait_pool *pool;
static uint64_t ntasks;
static unsigned threads;
static _Atomic uint64_t done;
static volatile uint64_t sink;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* About 1 us of work that does not depend on the clock: a chain of
 * dependent multiply-adds (3-4 cycles each), so that CPU time measures the
 * tracing's cost even on a loaded machine. */
static int busy(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    uint64_t x = (uint64_t)(uintptr_t)&x;
    for (unsigned i = 0; i < TRACE_TASK_ITERS; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    sink = x;
    atomic_fetch_add_explicit(&done, 1, memory_order_relaxed);
    return 0;
}

static int root(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    plait_group *g;
    int rc = plait_group_create(&g, pool, 0);
    if (rc)
        return rc;
    plait_group_set_name(g, "busy 1us");
    for (uint64_t i = 0; i < ntasks && rc == 0; i++)
        rc = plait_go(g, busy, NULL);
    int rw = plait_group_wait(g);
    plait_group_destroy(g);
    return rc ? rc : rw;
}

static uint64_t run(void *arg)
{
    (void)arg;
    atomic_store(&done, 0);
    pb_root(pool, root, NULL, "trace1us", "plait", threads);
    return atomic_load(&done);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    ntasks = TRACE_TASKS(&cfg);
    /* Every task of every repetition, and a steal or a park per task, fit
     * in one worker's buffer: nothing is dropped. */
    char events[32];
    snprintf(events, sizeof events, "%" PRIu64, (2 * ntasks + 1024) * (uint64_t)(cfg.reps + 1));
    setenv("PLAIT_TRACE_EVENTS", events, 1);
    pool = pb_pool(&cfg, "trace");
    double *t = malloc(sizeof *t * (size_t)cfg.reps);
    if (t == NULL)
        bench_fail("trace1us", "plait", threads, "out of memory");
    double c0 = cpu_now();
    double off = bench_repeat(&cfg, "trace1us", "plait", run, NULL, ntasks, t);
    double cpu_off = cpu_now() - c0;
    double off_min = t[0]; /* sorted */
    bench_emit("trace1us", "plait", threads,
               "value=%.6g unit=ns/task median_s=%.6g min_s=%.6g ok=1", off * 1e9 / (double)ntasks,
               off, off_min);
    char path[64];
    snprintf(path, sizeof path, "/tmp/plait-trace-bench-%d.json", (int)getpid());
    int rc = plait_pool_trace_start(pool, path);
    if (rc)
        bench_fail("trace1us", "plait_traced", threads, "plait_pool_trace_start: %s",
                   plait_strerror(rc));
    c0 = cpu_now();
    double on = bench_repeat(&cfg, "trace1us", "plait_traced", run, NULL, ntasks, t);
    double cpu_on = cpu_now() - c0;
    rc = plait_pool_trace_stop(pool);
    plait_stats st;
    plait_pool_stats(pool, &st);
    remove(path);
    if (rc)
        bench_fail("trace1us", "plait_traced", threads, "plait_pool_trace_stop: %s",
                   plait_strerror(rc));
    if (st.trace_dropped)
        bench_fail("trace1us", "plait_traced", threads, "%" PRIu64 " events dropped",
                   st.trace_dropped);
    /* The overhead by medians, by minima, and by the CPU time of all the
     * repetitions (workers spinning idle included; the least noisy figure
     * on a loaded machine with one thread). */
    bench_emit("trace1us", "plait_traced", threads,
               "value=%.6g unit=ns/task median_s=%.6g min_s=%.6g overhead_pct=%.2f "
               "overhead_min_pct=%.2f cpu_overhead_pct=%.2f ok=1",
               on * 1e9 / (double)ntasks, on, t[0], 100.0 * (on - off) / off,
               100.0 * (t[0] - off_min) / off_min, 100.0 * (cpu_on - cpu_off) / cpu_off);
    free(t);
    plait_pool_destroy(pool);
    return 0;
}
