/* fib_lace.c — Lace: SPAWN fib(n-1), CALL fib(n-2), SYNC (the same
 * shape as plait_join: one stealable child, one inline). */
#include "../common/lace_bench.h"
#include "fib.h"

#include <stdio.h>

TASK_1(uint64_t, pfib, int, n)
{
    if (n < 2)
        return (uint64_t)n;
    SPAWN(pfib, n - 1);
    uint64_t b = CALL(pfib, n - 2);
    uint64_t a = SYNC(pfib);
    return a + b;
}

static int n;

static uint64_t run(void *arg)
{
    (void)arg;
    return RUN(pfib, n);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    char name[32];
    bench_parse(&cfg, argc, argv);
    n = FIB_N(cfg.quick);
    snprintf(name, sizeof name, "fib%d", n);
    lb_start(&cfg);
    bench_time(&cfg, name, "lace", run, NULL, fib_expected(n));
    lace_stop();
    return 0;
}
