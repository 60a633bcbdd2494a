/* skynet_lace.c — Lace: every inner node SPAWNs its 10 children and
 * SYNCs them. */
#include "../common/lace_bench.h"
#include "skynet.h"

TASK_2(uint64_t, sk, uint64_t, num, uint64_t, size)
{
    if (size == 1)
        return num;
    uint64_t sub = size / 10;
    for (int i = 0; i < 10; i++)
        SPAWN(sk, num + (uint64_t)i * sub, sub);
    uint64_t s = 0;
    for (int i = 0; i < 10; i++)
        s += SYNC(sk);
    return s;
}

static uint64_t leaves;

static uint64_t run(void *arg)
{
    (void)arg;
    return RUN(sk, 0, leaves);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    leaves = SKYNET_LEAVES(cfg.quick);
    lb_start(&cfg);
    bench_time(&cfg, SKYNET_NAME(cfg.quick), "lace", run, NULL, skynet_expected(leaves));
    lace_stop();
    return 0;
}
