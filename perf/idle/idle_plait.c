/* idle_plait.c — an idle plait pool. */
#include "../common/plait_bench.h"
#include "idle.h"

static int spin(plait_ctx *ctx, size_t b, size_t e, void *arg)
{
    (void)ctx;
    (void)arg;
    volatile uint64_t x = 0;
    for (size_t i = b; i < e; i++)
        x += i;
    return 0;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    plait_pool *pool = pb_pool(&cfg, "idle");
    /* wake every worker once */
    int rc = plait_parallel_for(pool, 0, 1u << 20, 1u << 12, spin, NULL);
    if (rc)
        bench_fail("idle", "plait", cfg.threads, "plait_parallel_for: %s", plait_strerror(rc));
    IDLE_MEASURE(&cfg, "plait");
    plait_pool_destroy(pool);
    return 0;
}
