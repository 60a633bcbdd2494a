/* nqueens_omp.c — OpenMP tasks (firstprivate board copy per legal placement). */
#include "../common/bench.h"
#include "nqueens.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>

#ifdef __clang__
#define RUNTIME "omp_clang"
#else
#define RUNTIME "omp_gcc"
#endif

static uint64_t nq(int n, int j, const char *a)
{
    if (j == n)
        return 1;
    uint64_t cnt[NQ_MAX] = {0};
    for (int i = 0; i < n; i++) {
        char b[NQ_MAX];
        memcpy(b, a, (size_t)j);
        b[j] = (char)i;
        if (!nq_ok(j + 1, b))
            continue;
#pragma omp task firstprivate(b, i) shared(cnt)
        cnt[i] = nq(n, j + 1, b);
    }
#pragma omp taskwait
    uint64_t s = 0;
    for (int i = 0; i < n; i++)
        s += cnt[i];
    return s;
}

static int n;
static unsigned threads;
static uint64_t run(void *arg)
{
    (void)arg;
    uint64_t r = 0;
    char a[NQ_MAX] = {0};
#pragma omp parallel num_threads(threads)
#pragma omp single
    r = nq(n, 0, a);
    return r;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    const int *sz = cfg.quick ? nq_sizes_quick : nq_sizes_full;
    int cnt = cfg.quick ? 1 : 2;
    for (int k = 0; k < cnt; k++) {
        char name[32];
        n = sz[k];
        snprintf(name, sizeof name, "nqueens%d", n);
        bench_time(&cfg, name, RUNTIME, run, NULL, nq_expected(n));
    }
    return 0;
}
