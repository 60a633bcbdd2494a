/* uts_plait.c — plait: a group per inner node, plait_go per child; the
 * children's arguments live on the parent's stack (the root's on the heap). */
#include "../common/plait_bench.h"
#include "uts.h"

#include <stdlib.h>

struct uts_arg {
    uint64_t id;
    uint64_t r;
};

static plait_pool *pool;

static int node(plait_ctx *ctx, void *p);

static int run_children(struct uts_arg *kids, int c)
{
    plait_group *g;
    int rc = plait_group_create(&g, pool, 0);
    if (rc)
        return rc;
    for (int i = 0; i < c && rc == 0; i++)
        rc = plait_go(g, node, &kids[i]);
    int rc_w = plait_group_wait(g);
    plait_group_destroy(g);
    return rc ? rc : rc_w;
}

static int node(plait_ctx *ctx, void *p)
{
    (void)ctx;
    struct uts_arg *a = p;
    int c = uts_children(a->id);
    if (c == 0) {
        a->r = 1;
        return 0;
    }
    struct uts_arg kids[UTS_M];
    for (int i = 0; i < c; i++)
        kids[i] = (struct uts_arg){uts_child(a->id, i), 0};
    int rc = run_children(kids, c);
    if (rc)
        return rc;
    uint64_t s = 1;
    for (int i = 0; i < c; i++)
        s += kids[i].r;
    a->r = s;
    return 0;
}

static int b0;
static struct uts_arg *root_kids;

static int root(plait_ctx *ctx, void *p)
{
    (void)ctx;
    struct uts_arg *a = p;
    for (int i = 0; i < b0; i++)
        root_kids[i] = (struct uts_arg){uts_child(UTS_ROOT_ID, i), 0};
    int rc = run_children(root_kids, b0);
    if (rc)
        return rc;
    uint64_t s = 1;
    for (int i = 0; i < b0; i++)
        s += root_kids[i].r;
    a->r = s;
    return 0;
}

static unsigned threads;
static uint64_t run(void *arg)
{
    (void)arg;
    struct uts_arg a = {UTS_ROOT_ID, 0};
    pb_root(pool, root, &a, "uts", "plait", threads);
    return a.r;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    b0 = UTS_B0(cfg.quick);
    root_kids = calloc((size_t)b0, sizeof *root_kids);
    pool = pb_pool(&cfg, "uts");
    bench_time(&cfg, "uts", "plait", run, NULL, UTS_EXPECTED(cfg.quick));
    plait_pool_destroy(pool);
    free(root_kids);
    return 0;
}
