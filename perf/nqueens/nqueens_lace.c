/* nqueens_lace.c — Lace: a SPAWN per legal placement, then a SYNC per
 * spawn; each child's board is a copy on the parent's stack, as in the
 * plait variant. */
#include "../common/lace_bench.h"
#include "nqueens.h"

#include <stdio.h>
#include <string.h>

TASK_3(uint64_t, nq, int, n, int, j, const char *, a)
{
    if (j == n)
        return 1;
    char boards[NQ_MAX][NQ_MAX];
    int k = 0;
    for (int i = 0; i < n; i++) {
        char *b = boards[k];
        memcpy(b, a, (size_t)j);
        b[j] = (char)i;
        if (nq_ok(j + 1, b)) {
            SPAWN(nq, n, j + 1, b);
            k++;
        }
    }
    uint64_t s = 0;
    while (k-- > 0)
        s += SYNC(nq);
    return s;
}

static int n;

static uint64_t run(void *arg)
{
    (void)arg;
    char empty[NQ_MAX] = {0};
    return RUN(nq, n, 0, empty);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    const int *sz = cfg.quick ? nq_sizes_quick : nq_sizes_full;
    int cnt = cfg.quick ? 1 : 2;
    lb_start(&cfg);
    for (int k = 0; k < cnt; k++) {
        char name[32];
        n = sz[k];
        snprintf(name, sizeof name, "nqueens%d", n);
        bench_time(&cfg, name, "lace", run, NULL, nq_expected(n));
    }
    lace_stop();
    return 0;
}
