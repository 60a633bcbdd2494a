/* nqueens_plait.c — plait: a group per node, plait_go per legal placement;
 * each child's argument (with its copy of the board) lives on the parent's
 * stack, which the group's structure allows. */
#include "../common/plait_bench.h"
#include "nqueens.h"

#include <string.h>

struct nq_arg {
    int n, j;
    uint64_t r;
    char b[NQ_MAX];
};

static plait_pool *pool;

static int nq_task(plait_ctx *ctx, void *p)
{
    (void)ctx;
    struct nq_arg *a = p;
    int n = a->n, j = a->j;
    if (j == n) {
        a->r = 1;
        return 0;
    }
    struct nq_arg kids[NQ_MAX];
    plait_group *g;
    int rc = plait_group_create(&g, pool, 0);
    if (rc)
        return rc;
    for (int i = 0; i < n; i++) {
        struct nq_arg *k = &kids[i];
        k->n = n;
        k->j = j + 1;
        k->r = 0;
        memcpy(k->b, a->b, (size_t)j);
        k->b[j] = (char)i;
        if (nq_ok(j + 1, k->b) && (rc = plait_go(g, nq_task, k)) != 0)
            break;
    }
    int rc_w = plait_group_wait(g);
    plait_group_destroy(g);
    if (rc)
        return rc;
    if (rc_w)
        return rc_w;
    uint64_t s = 0;
    for (int i = 0; i < n; i++)
        s += kids[i].r;
    a->r = s;
    return 0;
}

static int n;
static unsigned threads;
static uint64_t run(void *arg)
{
    (void)arg;
    struct nq_arg a = {.n = n, .j = 0, .r = 0};
    pb_root(pool, nq_task, &a, "nqueens", "plait", threads);
    return a.r;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    pool = pb_pool(&cfg, "nqueens");
    const int *sz = cfg.quick ? nq_sizes_quick : nq_sizes_full;
    int cnt = cfg.quick ? 1 : 2;
    for (int k = 0; k < cnt; k++) {
        char name[32];
        n = sz[k];
        snprintf(name, sizeof name, "nqueens%d", n);
        bench_time(&cfg, name, "plait", run, NULL, nq_expected(n));
    }
    plait_pool_destroy(pool);
    return 0;
}
