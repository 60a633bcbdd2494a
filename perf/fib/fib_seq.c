/* fib_seq.c — the sequential baseline: the same recursion, no runtime. */
#include "../common/bench.h"
#include "fib.h"

#include <stdio.h>

static uint64_t fib(int n)
{
    if (n < 2)
        return (uint64_t)n;
    return fib(n - 1) + fib(n - 2);
}

static int n;
static uint64_t run(void *arg)
{
    (void)arg;
    return fib(n);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    char name[32];
    bench_parse(&cfg, argc, argv);
    cfg.threads = 1;
    n = FIB_N(cfg.quick);
    snprintf(name, sizeof name, "fib%d", n);
    bench_time(&cfg, name, "seq", run, NULL, fib_expected(n));
    return 0;
}
