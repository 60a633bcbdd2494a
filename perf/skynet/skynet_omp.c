/* skynet_omp.c — OpenMP: 10 tasks per inner node, then taskwait. */
#include "../common/bench.h"
#include "skynet.h"

#include <omp.h>

#ifdef __clang__
#define RUNTIME "omp_clang"
#else
#define RUNTIME "omp_gcc"
#endif

static uint64_t skynet(uint64_t num, uint64_t size)
{
    if (size == 1)
        return num;
    uint64_t r[10], sub = size / 10;
    for (uint64_t i = 0; i < 10; i++) {
#pragma omp task firstprivate(i, num, sub) shared(r)
        r[i] = skynet(num + i * sub, sub);
    }
#pragma omp taskwait
    uint64_t s = 0;
    for (int i = 0; i < 10; i++)
        s += r[i];
    return s;
}

static uint64_t leaves;
static unsigned threads;
static uint64_t run(void *arg)
{
    (void)arg;
    uint64_t r = 0;
#pragma omp parallel num_threads(threads)
#pragma omp single
    r = skynet(0, leaves);
    return r;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    leaves = SKYNET_LEAVES(cfg.quick);
    bench_time(&cfg, SKYNET_NAME(cfg.quick), RUNTIME, run, NULL, skynet_expected(leaves));
    return 0;
}
