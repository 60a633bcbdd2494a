/* skynet_seq.c — the sequential baseline: the same 10-ary recursion. */
#include "../common/bench.h"
#include "skynet.h"

static uint64_t skynet(uint64_t num, uint64_t size)
{
    if (size == 1)
        return num;
    uint64_t s = 0, sub = size / 10;
    for (uint64_t i = 0; i < 10; i++)
        s += skynet(num + i * sub, sub);
    return s;
}

static uint64_t leaves;
static uint64_t run(void *arg)
{
    (void)arg;
    return skynet(0, leaves);
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    bench_parse(&cfg, argc, argv);
    cfg.threads = 1;
    leaves = SKYNET_LEAVES(cfg.quick);
    bench_time(&cfg, SKYNET_NAME(cfg.quick), "seq", run, NULL, skynet_expected(leaves));
    return 0;
}
