/* uts_lace.c — Lace: a SPAWN per child, then a SYNC per spawn; the
 * root's children are spawned the same way. */
#include "../common/lace_bench.h"
#include "uts.h"

TASK_1(uint64_t, node, uint64_t, id)
{
    int c = uts_children(id);
    for (int i = 0; i < c; i++)
        SPAWN(node, uts_child(id, i));
    uint64_t s = 1;
    for (int i = 0; i < c; i++)
        s += SYNC(node);
    return s;
}

static int b0;

TASK_0(uint64_t, root)
{
    for (int i = 0; i < b0; i++)
        SPAWN(node, uts_child(UTS_ROOT_ID, i));
    uint64_t s = 1;
    for (int i = 0; i < b0; i++)
        s += SYNC(node);
    return s;
}

static uint64_t run(void *arg)
{
    (void)arg;
    return RUN(root);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    b0 = UTS_B0(cfg.quick);
    lb_start(&cfg);
    bench_time(&cfg, "uts", "lace", run, NULL, UTS_EXPECTED(cfg.quick));
    lace_stop();
    return 0;
}
