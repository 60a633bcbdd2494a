/* batch_omp.c — batch_records (records.h) with OpenMP tasks from a single
 * producer; built by gcc (libgomp) and by clang (libomp). */
#include "../common/bench.h"
#include "records.h"

#include <inttypes.h>
#include <omp.h>
#include <stdlib.h>

#ifdef __clang__
#define RUNTIME "omp_clang"
#else
#define RUNTIME "omp_gcc"
#endif

static uint64_t n;
static unsigned threads;

static uint64_t run(void *arg)
{
    (void)arg;
    uint64_t x = 0;
#pragma omp parallel num_threads(threads)
#pragma omp single
    {
        for (uint64_t i = 0; i < n; i++) {
#pragma omp task firstprivate(i) shared(x)
            {
                uint64_t h = record_hash(i);
#pragma omp atomic
                x ^= h;
            }
        }
#pragma omp taskwait
    }
    return x;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    n = RECORDS(&cfg);
    double *t = malloc(sizeof *t * (size_t)cfg.reps);
    double med = bench_repeat(&cfg, "batch_records", RUNTIME, run, NULL, records_expected(n), t);
    bench_emit("batch_records", RUNTIME, threads,
               "value=%.4g unit=ns/item items_per_s=%.0f median_s=%.6g items=%" PRIu64 " ok=1",
               med * 1e9 / (double)n, (double)n / med, med, n);
    free(t);
    return 0;
}
