/* fib_omp.c — OpenMP tasks; built by gcc (libgomp) and by clang (libomp). */
#include "../common/bench.h"
#include "fib.h"

#include <omp.h>
#include <stdio.h>

#ifdef __clang__
#define RUNTIME "omp_clang"
#else
#define RUNTIME "omp_gcc"
#endif

static uint64_t fib(int n)
{
    if (n < 2)
        return (uint64_t)n;
    uint64_t x, y;
#pragma omp task shared(x) firstprivate(n)
    x = fib(n - 1);
    y = fib(n - 2);
#pragma omp taskwait
    return x + y;
}

static int n;
static unsigned threads;
static uint64_t run(void *arg)
{
    (void)arg;
    uint64_t r = 0;
#pragma omp parallel num_threads(threads)
#pragma omp single
    r = fib(n);
    return r;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    char name[32];
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    n = FIB_N(cfg.quick);
    snprintf(name, sizeof name, "fib%d", n);
    bench_time(&cfg, name, RUNTIME, run, NULL, fib_expected(n));
    return 0;
}
