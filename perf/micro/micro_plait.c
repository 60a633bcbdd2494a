/* micro_plait.c — one line per primitive, so that a regression in any of
 * them shows by itself: the cost of one operation of each, in ns (median
 * of --reps runs of MICRO_OPS operations), on one thread unless said.
 *
 *   deque_push_pop     the owner pushes and pops one item (the join path)
 *   deque_push_steal   push one, steal it back (a steal without contention)
 *   inject_put_take    the injection queue: put one, take it
 *   lot_notify_idle    a producer's fenced notify when nobody sleeps
 *   group_empty        create + wait + destroy of an empty group, in a task
 *   group_one_go       the same with one plait_go of an empty task
 *   join_empty         plait_join of two empty functions, in a task
 *
 * perf/micro.sh runs this binary under callgrind and prints the
 * instructions per operation of each line (the functions micro_<name>). */
#include "../common/plait_bench.h"

#include "deque.h"
#include "inject.h"
#include "park.h"

#define MICRO_OPS 200000

static plait_pool *pool;
static unsigned threads;
static int item;

__attribute__((noinline)) void micro_deque_push_pop(struct pl_deque *d, int n)
{
    for (int i = 0; i < n; i++) {
        pl_deque_push(d, &item);
        if (pl_deque_pop(d) != &item)
            abort();
    }
}

__attribute__((noinline)) void micro_deque_push_steal(struct pl_deque *d, int n)
{
    void *x;
    for (int i = 0; i < n; i++) {
        pl_deque_push(d, &item);
        if (pl_deque_steal(d, &x) != PL_STEAL_OK || x != &item)
            abort();
    }
}

__attribute__((noinline)) void micro_inject_put_take(struct pl_inject *q, int n)
{
    static void *cell[2];
    for (int i = 0; i < n; i++) {
        pl_inject_put(q, cell);
        if (pl_inject_take(q) != cell)
            abort();
    }
}

__attribute__((noinline)) void micro_lot_notify_idle(struct pl_lot *lot, int n)
{
    for (int i = 0; i < n; i++)
        pl_lot_notify(lot, PL_WAKE_ANY);
}

static int empty_task(plait_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

__attribute__((noinline)) int micro_group_empty(int n)
{
    for (int i = 0; i < n; i++) {
        plait_group *g;
        if (plait_group_create(&g, pool, 0) != 0 || plait_group_wait(g) != 0)
            return 1;
        plait_group_destroy(g);
    }
    return 0;
}

__attribute__((noinline)) int micro_group_one_go(int n)
{
    for (int i = 0; i < n; i++) {
        plait_group *g;
        if (plait_group_create(&g, pool, 0) != 0 || plait_go(g, empty_task, NULL) != 0 ||
            plait_group_wait(g) != 0)
            return 1;
        plait_group_destroy(g);
    }
    return 0;
}

__attribute__((noinline)) int micro_join_empty(plait_ctx *ctx, int n)
{
    for (int i = 0; i < n; i++)
        if (plait_join(ctx, empty_task, NULL, empty_task, NULL) != 0)
            return 1;
    return 0;
}

/* The kernels that need a running task. */
enum { K_GROUP_EMPTY, K_GROUP_ONE_GO, K_JOIN_EMPTY };
struct in_task {
    int kernel;
};

static int in_task(plait_ctx *ctx, void *arg)
{
    struct in_task *t = arg;
    switch (t->kernel) {
    case K_GROUP_EMPTY:
        return micro_group_empty(MICRO_OPS);
    case K_GROUP_ONE_GO:
        return micro_group_one_go(MICRO_OPS);
    default:
        return micro_join_empty(ctx, MICRO_OPS);
    }
}

static uint64_t run_in_task(void *arg)
{
    pb_root(pool, in_task, arg, "micro", "plait", threads);
    return MICRO_OPS;
}

static struct pl_deque dq;
static struct pl_inject iq;
static struct pl_lot lot;

static uint64_t run_deque_push_pop(void *arg)
{
    (void)arg;
    micro_deque_push_pop(&dq, MICRO_OPS);
    return MICRO_OPS;
}

static uint64_t run_deque_push_steal(void *arg)
{
    (void)arg;
    micro_deque_push_steal(&dq, MICRO_OPS);
    return MICRO_OPS;
}

static uint64_t run_inject_put_take(void *arg)
{
    (void)arg;
    micro_inject_put_take(&iq, MICRO_OPS);
    return MICRO_OPS;
}

static uint64_t run_lot_notify_idle(void *arg)
{
    (void)arg;
    micro_lot_notify_idle(&lot, MICRO_OPS);
    return MICRO_OPS;
}

static void line(const bench_cfg *cfg, const char *name, bench_fn fn, void *arg)
{
    double times[64];
    char bench[48];
    snprintf(bench, sizeof bench, "micro_%s", name);
    double med = bench_repeat(cfg, bench, "plait", fn, arg, MICRO_OPS, times);
    bench_emit(bench, "plait", cfg->threads, "value=%.3f unit=ns ok=1 ops=%d",
               med * 1e9 / MICRO_OPS, MICRO_OPS);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    if (cfg.reps > 64)
        cfg.reps = 64;
    threads = cfg.threads;
    if (pl_deque_init(&dq, 256) != 0 || pl_inject_init(&iq, 1024) != 0)
        bench_fail("micro", "plait", threads, "out of memory");
    pl_lot_init(&lot);
    line(&cfg, "deque_push_pop", run_deque_push_pop, NULL);
    line(&cfg, "deque_push_steal", run_deque_push_steal, NULL);
    line(&cfg, "inject_put_take", run_inject_put_take, NULL);
    line(&cfg, "lot_notify_idle", run_lot_notify_idle, NULL);
    pool = pb_pool(&cfg, "micro");
    struct in_task k[] = {{K_GROUP_EMPTY}, {K_GROUP_ONE_GO}, {K_JOIN_EMPTY}};
    line(&cfg, "group_empty", run_in_task, &k[0]);
    line(&cfg, "group_one_go", run_in_task, &k[1]);
    line(&cfg, "join_empty", run_in_task, &k[2]);
    plait_pool_destroy(pool);
    pl_lot_destroy(&lot);
    pl_inject_destroy(&iq);
    pl_deque_destroy(&dq);
    return 0;
}
