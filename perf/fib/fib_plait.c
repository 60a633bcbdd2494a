/* fib_plait.c — plait, two ways: plait_join (b inline, a stealable) and a
 * group per call (plait_group_create + plait_go + plait_group_wait +
 * plait_group_destroy, fib(n-2) inline). */
#include "../common/plait_bench.h"
#include "fib.h"

#include <errno.h>

struct fib_arg {
    int n;
    uint64_t r;
};

static plait_pool *pool;

static int fib_join(plait_ctx *ctx, void *p)
{
    struct fib_arg *a = p;
    if (a->n < 2) {
        a->r = (uint64_t)a->n;
        return 0;
    }
    struct fib_arg x = {a->n - 1, 0}, y = {a->n - 2, 0};
    int rc = plait_join(ctx, fib_join, &x, fib_join, &y);
    if (rc)
        return rc;
    a->r = x.r + y.r;
    return 0;
}

static int fib_group(plait_ctx *ctx, void *p)
{
    struct fib_arg *a = p;
    if (a->n < 2) {
        a->r = (uint64_t)a->n;
        return 0;
    }
    struct fib_arg x = {a->n - 1, 0}, y = {a->n - 2, 0};
    plait_group *g;
    int rc = plait_group_create(&g, pool, 0);
    if (rc)
        return rc;
    rc = plait_go(g, fib_group, &x);
    int rc_y = fib_group(ctx, &y);
    int rc_w = plait_group_wait(g);
    plait_group_destroy(g);
    if (rc)
        return rc;
    if (rc_y)
        return rc_y;
    if (rc_w)
        return rc_w;
    a->r = x.r + y.r;
    return 0;
}

static int n;
static unsigned threads;

static uint64_t run_join(void *arg)
{
    (void)arg;
    struct fib_arg a = {n, 0};
    pb_root(pool, fib_join, &a, "fib", "plait_join", threads);
    return a.r;
}

static uint64_t run_group(void *arg)
{
    (void)arg;
    struct fib_arg a = {n, 0};
    pb_root(pool, fib_group, &a, "fib", "plait_group", threads);
    return a.r;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    char name[32];
    bench_parse(&cfg, argc, argv);
    threads = cfg.threads;
    n = FIB_N(cfg.quick);
    snprintf(name, sizeof name, "fib%d", n);
    pool = pb_pool(&cfg, name);
    bench_time(&cfg, name, "plait_join", run_join, NULL, fib_expected(n));
    bench_time(&cfg, name, "plait_group", run_group, NULL, fib_expected(n));
    plait_pool_destroy(pool);
    return 0;
}
