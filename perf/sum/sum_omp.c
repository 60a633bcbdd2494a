/* sum_omp.c — parallel for reduction(+), static schedule (one block per thread). */
#include "../common/bench.h"
#include "sum.h"

#include <omp.h>

#ifdef __clang__
#define RUNTIME "omp_clang"
#else
#define RUNTIME "omp_gcc"
#endif

static uint32_t *a;
static uint64_t n;
static unsigned threads;
static uint64_t run(void *arg)
{
    (void)arg;
    uint64_t s = 0;
    /* One iteration per thread = schedule(static)'s own blocks; the loop
     * body is the shared gcc-built kernel. */
#pragma omp parallel for reduction(+ : s) schedule(static) num_threads(threads)
    for (unsigned t = 0; t < threads; t++)
        s += sum_range(a, n * t / threads, n * (t + 1) / threads);
    return s;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    n = SUM_N(cfg.quick);
    a = sum_array(n);
    bench_time(&cfg, SUM_NAME(cfg.quick), RUNTIME, run, NULL, sum_expected(n));
    free(a);
    return 0;
}
