/* sum_plait.c — plait_parallel_for from the main (foreign) thread with the
 * automatic grain; each chunk adds its partial sum to one atomic total. */
#include "../common/plait_bench.h"
#include "sum.h"

#include <stdatomic.h>

static uint32_t *a;
static uint64_t n;
static unsigned threads;
static _Atomic uint64_t total;

static int chunk(plait_ctx *ctx, size_t b, size_t e, void *arg)
{
    (void)ctx;
    (void)arg;
    atomic_fetch_add_explicit(&total, sum_range(a, b, e), memory_order_relaxed);
    return 0;
}

static plait_pool *pool;
static uint64_t run(void *arg)
{
    (void)arg;
    atomic_store_explicit(&total, 0, memory_order_relaxed);
    int rc = plait_parallel_for(pool, 0, n, 0, chunk, NULL);
    if (rc)
        bench_fail("sum", "plait", threads, "plait_parallel_for: %s", plait_strerror(rc));
    /* plait_parallel_for returning orders the chunks' adds before this load */
    return atomic_load_explicit(&total, memory_order_relaxed);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    n = SUM_N(cfg.quick);
    a = sum_array(n);
    pool = pb_pool(&cfg, "sum");
    bench_time(&cfg, SUM_NAME(cfg.quick), "plait", run, NULL, sum_expected(n));
    plait_pool_destroy(pool);
    free(a);
    return 0;
}
