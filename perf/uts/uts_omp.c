/* uts_omp.c — OpenMP: a task per node (the root's children too). */
#include "../common/bench.h"
#include "uts.h"

#include <omp.h>
#include <stdlib.h>

#ifdef __clang__
#define RUNTIME "omp_clang"
#else
#define RUNTIME "omp_gcc"
#endif

static uint64_t walk(uint64_t id)
{
    int c = uts_children(id);
    if (c == 0)
        return 1;
    uint64_t cnt[UTS_M];
    for (int i = 0; i < c; i++) {
#pragma omp task firstprivate(i, id) shared(cnt)
        cnt[i] = walk(uts_child(id, i));
    }
#pragma omp taskwait
    uint64_t s = 1;
    for (int i = 0; i < c; i++)
        s += cnt[i];
    return s;
}

static int b0;
static unsigned threads;
static uint64_t *root_cnt;
static uint64_t run(void *arg)
{
    (void)arg;
#pragma omp parallel num_threads(threads)
#pragma omp single
    {
        for (int i = 0; i < b0; i++) {
#pragma omp task firstprivate(i)
            root_cnt[i] = walk(uts_child(UTS_ROOT_ID, i));
        }
#pragma omp taskwait
    }
    uint64_t s = 1;
    for (int i = 0; i < b0; i++)
        s += root_cnt[i];
    return s;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    b0 = UTS_B0(cfg.quick);
    root_cnt = calloc((size_t)b0, sizeof *root_cnt);
    bench_time(&cfg, "uts", RUNTIME, run, NULL, UTS_EXPECTED(cfg.quick));
    free(root_cnt);
    return 0;
}
