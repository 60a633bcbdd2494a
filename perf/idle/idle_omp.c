/* idle_omp.c — the OpenMP thread team after a parallel region (libgomp:
 * spins GOMP_SPINCOUNT then sleeps; libomp: KMP_BLOCKTIME, 200 ms). */
#include "../common/bench.h"
#include "idle.h"

#include <omp.h>
#include <stdint.h>

#ifdef __clang__
#define RUNTIME "omp_clang"
#else
#define RUNTIME "omp_gcc"
#endif

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    unsigned threads = cfg.threads;
    volatile uint64_t x = 0;
#pragma omp parallel for num_threads(threads)
    for (int i = 0; i < (1 << 20); i++)
        x += (uint64_t)i;
    IDLE_MEASURE(&cfg, RUNTIME);
    return 0;
}
