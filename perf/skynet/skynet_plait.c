/* skynet_plait.c — plait: a group per inner node, 10 plait_go, wait. */
#include "../common/plait_bench.h"
#include "skynet.h"

struct sk_arg {
    uint64_t num, size, r;
};

static plait_pool *pool;

static int skynet(plait_ctx *ctx, void *p)
{
    (void)ctx;
    struct sk_arg *a = p;
    if (a->size == 1) {
        a->r = a->num;
        return 0;
    }
    struct sk_arg kids[10];
    uint64_t sub = a->size / 10;
    plait_group *g;
    int rc = plait_group_create(&g, pool, 0);
    if (rc)
        return rc;
    for (int i = 0; i < 10 && rc == 0; i++) {
        kids[i] = (struct sk_arg){a->num + (uint64_t)i * sub, sub, 0};
        rc = plait_go(g, skynet, &kids[i]);
    }
    int rc_w = plait_group_wait(g);
    plait_group_destroy(g);
    if (rc || rc_w)
        return rc ? rc : rc_w;
    uint64_t s = 0;
    for (int i = 0; i < 10; i++)
        s += kids[i].r;
    a->r = s;
    return 0;
}

static uint64_t leaves;
static unsigned threads;
static uint64_t run(void *arg)
{
    (void)arg;
    struct sk_arg a = {0, leaves, 0};
    pb_root(pool, skynet, &a, "skynet", "plait", threads);
    return a.r;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    leaves = SKYNET_LEAVES(cfg.quick);
    pool = pb_pool(&cfg, "skynet");
    bench_time(&cfg, SKYNET_NAME(cfg.quick), "plait", run, NULL, skynet_expected(leaves));
    plait_pool_destroy(pool);
    return 0;
}
