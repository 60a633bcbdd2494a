/* sum_seq.c — one loop. */
#include "../common/bench.h"
#include "sum.h"

static uint32_t *a;
static uint64_t n;
static uint64_t run(void *arg)
{
    (void)arg;
    return sum_range(a, 0, n);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    cfg.threads = 1;
    n = SUM_N(cfg.quick);
    a = sum_array(n);
    bench_time(&cfg, SUM_NAME(cfg.quick), "seq", run, NULL, sum_expected(n));
    free(a);
    return 0;
}
