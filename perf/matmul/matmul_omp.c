/* matmul_omp.c — parallel for over rows, static schedule. */
#include "../common/bench.h"
#include "matmul.h"

#include <omp.h>

#ifdef __clang__
#define RUNTIME "omp_clang"
#else
#define RUNTIME "omp_gcc"
#endif

static mm m;
static unsigned threads;
static uint64_t run(void *arg)
{
    (void)arg;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int i = 0; i < m.n; i++)
        mm_rows(&m, i, i + 1);
    return mm_checksum(&m);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    mm_init(&m, MM_N(cfg.quick));
    bench_time(&cfg, MM_NAME(cfg.quick), RUNTIME, run, NULL, mm_expected(&m));
    return 0;
}
