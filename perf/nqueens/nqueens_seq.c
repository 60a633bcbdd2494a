/* nqueens_seq.c — the sequential baseline: same recursion and board copies. */
#include "../common/bench.h"
#include "nqueens.h"

#include <stdio.h>
#include <string.h>

static uint64_t nq(int n, int j, const char *a)
{
    if (j == n)
        return 1;
    uint64_t s = 0;
    for (int i = 0; i < n; i++) {
        char b[NQ_MAX];
        memcpy(b, a, (size_t)j);
        b[j] = (char)i;
        if (nq_ok(j + 1, b))
            s += nq(n, j + 1, b);
    }
    return s;
}

static int n;
static uint64_t run(void *arg)
{
    (void)arg;
    char a[NQ_MAX] = {0};
    return nq(n, 0, a);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    cfg.threads = 1;
    const int *sz = cfg.quick ? nq_sizes_quick : nq_sizes_full;
    int cnt = cfg.quick ? 1 : 2;
    for (int k = 0; k < cnt; k++) {
        char name[32];
        n = sz[k];
        snprintf(name, sizeof name, "nqueens%d", n);
        bench_time(&cfg, name, "seq", run, NULL, nq_expected(n));
    }
    return 0;
}
