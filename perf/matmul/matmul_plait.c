/* matmul_plait.c — plait_parallel_for over rows, automatic grain. */
#include "../common/plait_bench.h"
#include "matmul.h"

static mm m;
static plait_pool *pool;
static unsigned threads;

static int rows(plait_ctx *ctx, size_t b, size_t e, void *arg)
{
    (void)ctx;
    (void)arg;
    mm_rows(&m, (int)b, (int)e);
    return 0;
}

static uint64_t run(void *arg)
{
    (void)arg;
    int rc = plait_parallel_for(pool, 0, (size_t)m.n, 0, rows, NULL);
    if (rc)
        bench_fail("matmul", "plait", threads, "plait_parallel_for: %s", plait_strerror(rc));
    return mm_checksum(&m);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    mm_init(&m, MM_N(cfg.quick));
    pool = pb_pool(&cfg, "matmul");
    bench_time(&cfg, MM_NAME(cfg.quick), "plait", run, NULL, mm_expected(&m));
    plait_pool_destroy(pool);
    return 0;
}
